"""Zero set-up for `codegen-mcp mcp` on one machine: join the running stack, or run one.

REDIS_URL wins. Otherwise the server joins the stack a `codegen-mcp up` (or another
`codegen-mcp mcp`) runs on this machine, as stack.json in the data dir says, or starts one
for its own lifetime: the embedded Redis on the data dir, so tasks outlive the host session,
and a Celery worker with the sweep (`celery worker -B`) as a subprocess. When the stack it
joined goes away, the next call takes over, so one host's server outlives another's.
A file lock keeps two servers from starting two Redis servers on the same data.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codegen_mcp.errors import ConfigurationError
from codegen_mcp.local.processes import settings_env, start_celery, wait_for
from codegen_mcp.local.record import (
    clear_stack,
    is_recorded_process,
    read_record,
    read_stack,
    reap_stale_stack,
    settings_for,
    write_stack,
)
from codegen_mcp.local.redis import EmbeddedRedis, owner_only_dir
from codegen_mcp.services import Services
from codegen_mcp.settings import Settings

log = logging.getLogger(__name__)

# Hosts kill a stdio server a few seconds after closing its stdin; the worker's tasks are
# safe to cut short (acks_late, and the sweep re-enqueues what nobody launched).
WORKER_GRACE = 1.5
REDIS_GONE_TIMEOUT = 10.0


class Backend:
    """The Services for each call: REDIS_URL's, the joined stack's, or our own stack's."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.own: LocalStack | None = None
        self._joined: dict[str, Any] | None = None
        self._services: Services | None = None
        self._lock = threading.Lock()

    def services(self) -> Services:
        """The Services to use now: the same as last time unless the stack we joined went away,
        in which case we join the one running now or start our own."""
        with self._lock:
            if self._services is None or self._stack_went_away():
                self._services = self._connect()
            return self._services

    def close(self) -> None:
        """Stop the stack we started, if we did (a joined stack is left running)."""
        with self._lock:
            if self.own is not None:
                self.own.stop()
                self.own = None

    def _stack_went_away(self) -> bool:
        return self._joined is not None and read_stack(self.settings.data_dir) != self._joined

    def _connect(self) -> Services:
        if self.settings.redis_url:
            return Services(self.settings, self.settings.redis_url)
        data_dir = owner_only_dir(self.settings.data_dir)
        with stack_lock(data_dir):
            stack = read_stack(data_dir)
            if stack and isinstance(stack.get("redis_url"), str):
                log.info("joining the codegen-mcp stack of pid %s (%s)", stack["pid"], data_dir)
                self._joined = stack
                return Services(settings_for(self.settings, stack), str(stack["redis_url"]))
            _reap_leftovers(data_dir, self._joined)
            self._joined = None
            self.own = LocalStack(self.settings)
            return Services(self.settings, self.own.start())


class LocalStack:
    """The embedded Redis and a Celery worker with the sweep, for one server's lifetime."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = EmbeddedRedis(settings.data_dir / "redis")
        self.worker: subprocess.Popen[bytes] | None = None

    @property
    def worker_log(self) -> Path:
        """Where the worker's output goes (never to our stdout, the stdio transport)."""
        return self.settings.data_dir / "worker.log"

    def start(self) -> str:
        """Start Redis and the worker, record the stack for others to join; its Redis URL."""
        owner_only_dir(self.settings.data_dir)
        url = self.redis.start()
        try:
            self.worker = self._start_worker(url)
        except OSError as exc:
            self.redis.stop()
            raise ConfigurationError(f"cannot start the Celery worker: {exc}") from None
        write_stack(
            self.settings.data_dir,
            redis_url=url,
            redis_pid=self.redis.process.pid if self.redis.process else None,
            worker_pid=self.worker.pid,
            api_base_url=self.settings.api_base_url,
            started_by="codegen-mcp mcp",
        )
        log.info(
            "started the embedded stack: redis %s, data in %s, worker log %s",
            url,
            self.settings.data_dir,
            self.worker_log,
        )
        return url

    def stop(self) -> None:
        """Stop the worker and Redis, and withdraw our record (if it is still ours)."""
        # Under the lock, so a server taking over waits until this Redis is gone.
        with stack_lock(self.settings.data_dir):
            info = read_stack(self.settings.data_dir)
            if info and info.get("pid") == os.getpid():
                clear_stack(self.settings.data_dir)
            if self.worker is not None:
                _stop_group(self.worker, WORKER_GRACE)
            self.redis.stop()

    def _start_worker(self, redis_url: str) -> subprocess.Popen[bytes]:
        # Its own session: stopped as a group (beat is its child); output never on stdout.
        # Its log and beat's schedule are its owner's alone, like the whole data dir.
        return start_celery(
            "worker",
            self.settings,
            self.worker_log,
            env=settings_env(self.settings.with_(redis_url=redis_url), inherit=True),
            append=False,
            hostname=f"mcp{os.getpid()}@%h",
            schedule=self.settings.data_dir / "celerybeat-mcp",
        )


@contextlib.contextmanager
def stack_lock(data_dir: Path) -> Iterator[None]:
    """Held by one process at a time per data dir: no two start a Redis on the same data."""
    fd = os.open(Path(data_dir) / "stack.lock", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _stop_group(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(grace)
    # Whatever is left of the group (beat, a task thread holding the worker up) goes now.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _reap_leftovers(data_dir: Path, joined: dict[str, Any] | None) -> None:
    """Before our Redis starts on the data dir, no other may still run on it.

    A stack killed without cleanup leaves its Redis (and our worker) behind: stop them, if
    their pids still name the processes recorded (a pid may since belong to another program).
    A stack we joined that just stopped may still be flushing its Redis: wait for it.
    """
    stale = read_record(data_dir) or joined or {}
    reap_stale_stack(data_dir)
    if is_recorded_process(stale, "worker"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(stale["worker_pid"]), signal.SIGKILL)
    if not _wait_gone(stale, REDIS_GONE_TIMEOUT):
        raise ConfigurationError(
            f"redis-server pid {stale['redis_pid']} still runs on {data_dir}; stop it and retry"
        )


def _wait_gone(record: dict[str, Any], timeout: float) -> bool:
    try:
        wait_for(lambda: not is_recorded_process(record, "redis"), timeout, "redis to stop")
    except TimeoutError:
        return False
    return True
