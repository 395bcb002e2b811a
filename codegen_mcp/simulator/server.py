"""Running the simulator: `Simulator` in a background thread, `serve` in the foreground."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from codegen_mcp.simulator.app import create_app
from codegen_mcp.simulator.config import SimConfig
from codegen_mcp.simulator.faults import Faults
from codegen_mcp.simulator.persist import StateFile, persist
from codegen_mcp.simulator.state import SimState
from codegen_mcp.simulator.ticker import Ticker
from codegen_mcp.simulator.webhook_faults import WebhookFaults

STOP_POLL_SECONDS = 0.05


class _QuietHandler(WSGIRequestHandler):
    """No access log: the simulator keeps its own record (requests_log), and demos stay readable."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Simulator:
    def __init__(self, config: SimConfig | None = None, *, state_file: Path | None = None) -> None:
        """`state_file`: where the runs are kept across restarts (None: in memory only)."""
        self.config = config or SimConfig()
        store = StateFile(state_file) if state_file is not None else None
        self.state = SimState(self.config, store=store)
        self.app = create_app(self.state)
        self.ticker = Ticker(self.state)
        # The base URL once started ("" before): a plain attribute, so fixtures may set it too.
        self.url = ""
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- serving -----------------------------------------------------------------------------

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serve in a daemon thread; port 0 picks a free port. Returns the base URL."""
        if self._server is not None:
            raise RuntimeError("the simulator is already started")
        self._server = make_server(
            host, port, self.app, threaded=True, request_handler=_QuietHandler
        )
        # A short poll interval, because stop() waits for the serving loop to notice.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(STOP_POLL_SECONDS,),
            name="codegen-sim",
            daemon=True,
        )
        self._thread.start()
        self.ticker.start()
        self.state.events.dispatcher.start()
        self.url = f"http://{host}:{self._server.server_port}"
        return self.url

    def stop(self) -> None:
        """Stop serving and save the state (if it has a file); a no-op when not running."""
        if self._server is None:
            return
        self.ticker.stop()
        self.state.events.dispatcher.stop()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
        self.url = ""
        persist(self.state)

    def __enter__(self) -> Simulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- inspection and control (the same functions as /_sim/) -------------------------------

    def runs(self) -> list[dict[str, Any]]:
        """Every run, newest first, with what only the simulator knows about it."""
        return self.state.records()

    def run(self, run_id: int) -> dict[str, Any]:
        """The full record of run `run_id`."""
        return self.state.record(run_id)

    def requests_log(self) -> list[dict[str, Any]]:
        """The most recent requests the simulator answered, oldest first."""
        return self.state.traffic.requests_log()

    def stats(self) -> dict[str, Any]:
        """Counts of requests, statuses, injected faults, rate limiting and runs so far."""
        return self.state.stats()

    def set_faults(
        self,
        error_rate: float = 0.0,
        throttle_rate: float = 0.0,
        drop_after_act_rate: float = 0.0,
        latency: float = 0.0,
        resume_on_active: str | None = None,
    ) -> dict[str, Any]:
        """Inject faults from now on (rates between 0 and 1, latency in seconds) and, if given, how
        a resume of an active run is met; the faults in force."""
        faults = Faults(error_rate, throttle_rate, drop_after_act_rate, latency)
        return self.state.set_faults(faults, resume_on_active)

    def transition(self, run_id: int, status: str, result: str | None = None) -> dict[str, Any]:
        """Force run `run_id` to `status` now (with `result` if given); its record after."""
        return self.state.transition(run_id, status, result)

    def reopen(self, run_id: int, result: str | None = None) -> dict[str, Any]:
        """Reopen finished run `run_id` as a PR comment would, with `result` when it finishes again;
        its record after."""
        return self.state.reopen(run_id, result)

    def add_foreign_run(
        self,
        user_id: int,
        source_type: str = "SLACK",
        status: str = "ACTIVE",
        prompt: str | None = None,
        same_pr_as: int | None = None,
    ) -> dict[str, Any]:
        """Add a run not started by us (another user or source, optionally on the same PR as
        `same_pr_as`); its record."""
        return self.state.add_foreign_run(user_id, source_type, status, prompt, same_pr_as)

    def reset(self) -> None:
        """Forget every run and all traffic, back to the configured start."""
        self.state.reset()

    # -- webhooks (the same functions as /_sim/webhooks, /_sim/webhook-faults, /_sim/deliveries)

    def set_webhook_faults(self, **faults: Any) -> dict[str, Any]:
        """Script the webhook deliveries from now on (see WebhookFaults; omitted ones are off)."""
        try:
            settings = WebhookFaults(**faults)
        except TypeError as exc:
            raise ValueError(str(exc)) from None
        return self.state.events.dispatcher.set_faults(settings)

    def deliveries(self) -> list[dict[str, Any]]:
        """Every webhook delivery so far (attempts, state, payload), oldest first."""
        return self.state.events.dispatcher.deliveries()

    def org_webhook(self) -> dict[str, Any]:
        """The organization's webhook as its GET shows it (never the secret)."""
        with self.state.lock:
            return self.state.events.org_webhook.view()


def serve(config: SimConfig, host: str = "127.0.0.1", port: int = 8089) -> None:
    """Serve in the foreground until Ctrl-C."""
    sim = Simulator(config)
    server = make_server(host, port, sim.app, threaded=True, request_handler=_QuietHandler)
    sim.ticker.start()
    sim.state.events.dispatcher.start()
    token = next(iter(config.tokens))
    print(
        f"Codegen API simulator on http://{host}:{server.server_port}"
        f"  org_id={config.org_id}  token={token}  (Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.ticker.stop()
        sim.state.events.dispatcher.stop()
        server.server_close()
