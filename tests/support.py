"""Test helpers: real Redis, the simulator over HTTP, a real Celery worker process.

`wait_for` is the product's own (codegen_mcp.local.processes), named here for the tests that
import it from this module; so are the worker's command line and environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from codegen_mcp.local.processes import start_celery, wait_for
from codegen_mcp.services import Services
from codegen_mcp.serving import ThreadedServer
from codegen_mcp.settings import RateLimit, Settings
from codegen_mcp.web import create_app

ROOT = Path(__file__).resolve().parent.parent
# How long a server a test starts (gunicorn, `up`, `codegen-mcp mcp`) may take to answer, and
# one it stops to exit. Tests run in parallel (pytest-xdist) on two cores, where each start
# imports the MCP SDK and Celery while other workers do the same: a bound on a failure, never
# a speed goal (the test goes on the moment the server answers).
START_DEADLINE = 90.0
STOP_DEADLINE = 30.0


def require(condition: object, reason: str) -> None:
    """Go on if `condition` holds; else skip, saying why, or fail when `CI` is set.

    A test that needs a tool the machine may lack (Chromium, npx) skips on a developer's
    machine, but under CI a missing tool means a broken install, which must show.
    """
    if condition:
        return
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false"):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def pid_alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


# Sets SIGINT's disposition, then becomes the command (exec keeps SIG_IGN and SIG_DFL).
_SIGINT_LAUNCHER = (
    "import os, signal, sys; "
    "signal.signal(signal.SIGINT, getattr(signal, sys.argv[1])); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)


def with_sigint(argv: list[str], *, ignored: bool = False) -> list[str]:
    """`argv` started with SIGINT at its default (or ignored), whatever pytest inherited.

    pytest started in the background of a non-interactive shell inherits SIGINT ignored, and
    so would every child: a test that sends SIGINT states the disposition it means to test.
    The pid stays the command's own (exec), so `send_signal` reaches it.
    """
    return [sys.executable, "-c", _SIGINT_LAUNCHER, "SIG_IGN" if ignored else "SIG_DFL", *argv]


def fast_settings(redis_url: str, sim_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "api_base_url": sim_url,
        "api_token": "sim-token",
        "org_id": 1,
        "poll_interval": 0.5,
        "new_wait": 2.0,
        "requeue_after": 3.0,
        "request_timeout": 5.0,
        "read_limit": RateLimit(500, 30),
        "create_limit": RateLimit(500, 60),
        "resume_limit": RateLimit(500, 30),
        "logs_limit": RateLimit(500, 60),
        "key_prefix": f"t{uuid.uuid4().hex[:8]}",
        "data_dir": data_dir,
    }
    values.update(overrides)
    return Settings(**values)


class Worker:
    """`celery -A workers.celery_app worker` as its own process group (with beat: -B)."""

    def __init__(
        self, settings: Settings, log_path: Path, *, beat: bool = True, name: str = "w1"
    ) -> None:
        self.settings = settings
        self.log_path = log_path
        self.beat = beat
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        """The worker (and its beat) started; its output appended to `log_path`."""
        schedule = self.settings.data_dir / f"beat-{self.name}" if self.beat else None
        hostname = f"{self.name}-{self.settings.key_prefix}@%h"
        self.process = start_celery(
            "worker", self.settings, self.log_path, cwd=ROOT, hostname=hostname, schedule=schedule
        )
        return self

    def wait_ready(self) -> Worker:
        """Once its log says it is ready (its first start: the log is appended to)."""
        wait_for(lambda: " ready." in self.log(), START_DEADLINE, f"worker {self.name} to be ready")
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group: no warm shutdown, no acks."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Front:
    """The web front on loopback, and a small client for its command endpoint."""

    def __init__(self, settings: Settings) -> None:
        self.services = Services(settings, settings.redis_url or "")
        self.server = ThreadedServer(create_app(self.services), "127.0.0.1", 0)
        self.url = self.server.start()
        self.session = requests.Session()

    def call(
        self, command: str, args: dict[str, Any] | None = None, **kwargs: Any
    ) -> requests.Response:
        body: dict[str, Any] = {"command": command}
        if args is not None:
            body["args"] = args
        return self.session.post(self.url + "/", json=body, timeout=30, **kwargs)

    def ok(self, command: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.call(command, args)
        assert response.status_code in (200, 202), response.text
        body = response.json()
        assert body["status"] == "success", body
        return body

    def status(self, task_id: str) -> dict[str, Any]:
        return self.ok("task_status", {"task_id": task_id})

    def wait_state(self, task_id: str, *states: str, timeout: float = 30.0) -> dict[str, Any]:
        return wait_for(
            lambda: (s := self.status(task_id)) and s["state"] in states and s,
            timeout,
            f"task {task_id} to reach {states}",
        )

    def stop(self) -> None:
        self.server.stop()
