"""Which webhook hears about a run's status change, and handing it to the dispatcher.

A run's own `webhooks` (from its create, or from its latest resume that carried some) override
the organization's webhook; `webhooks: []` silences the run. Only settling (any final status,
again after each reopen) fires by default; the `events: "all"` setting fires on every change.
The org webhook is kept in memory only (a restarted `up --simulate` forgets it).
"""

from __future__ import annotations

from typing import Any

from codegen_mcp.simulator.catalog import DEFAULT_MODEL
from codegen_mcp.simulator.dispatch import Dispatcher
from codegen_mcp.simulator.run import SimRun
from codegen_mcp.simulator.statuses import is_final
from codegen_mcp.simulator.webhooks import COMPLETED, STATUS_CHANGED, OrgWebhook, Target


class RunEvents:
    def __init__(self, seed: int | None) -> None:
        self.dispatcher = Dispatcher(seed)
        self.org_webhook = OrgWebhook()

    def reset(self) -> None:
        """No org webhook, no deliveries, no faults."""
        self.reset_org_webhook()
        self.dispatcher.clear()

    def reset_org_webhook(self) -> None:
        """Forget the organization's webhook (url, secret, enabled)."""
        self.org_webhook = OrgWebhook()

    def set_org_webhook(self, url: str, secret: str | None, enabled: bool) -> dict[str, Any]:
        """Set the organization's webhook; its view (never the secret)."""
        self.org_webhook = OrgWebhook(url, secret, enabled)
        return self.org_webhook.view()

    def created(self, run: SimRun, body: dict[str, Any]) -> None:
        """Take the model and webhooks of a create body (validated) onto `run`."""
        run.model = body.get("model") or DEFAULT_MODEL
        run.webhooks = _webhooks(body)

    def resumed(self, run: SimRun, body: dict[str, Any]) -> None:
        """A resume keeps the run's model and webhooks unless its body names new ones."""
        run.model = body.get("model") or run.model
        if body.get("webhooks") is not None:
            run.webhooks = _webhooks(body)

    def status_changed(self, run: SimRun) -> None:
        """Queue a delivery for `run`'s new status, if it fires and someone listens."""
        final = is_final(run.status)
        if not final and self.dispatcher.faults.events != "all":
            return
        targets = self._targets(run)
        if targets:
            event = COMPLETED if final else STATUS_CHANGED
            at = run.history[-1]["at"]
            self.dispatcher.submit(event, run.id, run.public(), targets, at)

    def _targets(self, run: SimRun) -> list[Target]:
        if run.webhooks is not None:
            return [Target(w["url"], w.get("secret")) for w in run.webhooks]
        org = self.org_webhook.target()
        return [org] if org is not None else []


def _webhooks(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    entries = body.get("webhooks")
    if entries is None:
        return None
    return [{"url": entry["url"], "secret": entry.get("secret")} for entry in entries]
