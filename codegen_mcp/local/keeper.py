"""Keeps the embedded Redis of `codegen-mcp up` running: a Redis that dies is restarted on
the same socket and data (clients reconnect by themselves), and one that keeps dying, or
cannot start again, stops `up` with a message that says so, instead of leaving it up and
broken for good."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from codegen_mcp.errors import ConfigurationError
from codegen_mcp.local.redis import EmbeddedRedis

log = logging.getLogger(__name__)

CHECK_EVERY = 0.5
# More deaths than this within the window and it is not a one-off: give up.
MAX_RESTARTS = 3
RESTART_WINDOW = 60.0


class RedisKeeper:
    """Watches an EmbeddedRedis from a thread: restarts it when it dies (then `on_restart`),
    calls `on_give_up` with the reason when it keeps dying or cannot start again."""

    def __init__(
        self,
        redis: EmbeddedRedis,
        on_restart: Callable[[EmbeddedRedis], None],
        on_give_up: Callable[[str], None],
    ) -> None:
        self.redis = redis
        self._on_restart = on_restart
        self._on_give_up = on_give_up
        self._stopping = threading.Event()
        self._restarts: list[float] = []
        self._thread = threading.Thread(target=self._watch, name="redis-keeper", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (before the Redis is stopped on purpose)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _watch(self) -> None:
        while not self._stopping.wait(CHECK_EVERY):
            if not self.redis.alive() and not self._stopping.is_set() and not self._restart():
                return

    def _restart(self) -> bool:
        process = self.redis.process
        code = process.returncode if process is not None else None
        log_file = self.redis.data_dir / "redis.log"
        now = time.monotonic()
        self._restarts = [at for at in self._restarts if now - at < RESTART_WINDOW]
        if len(self._restarts) >= MAX_RESTARTS:
            self._on_give_up(
                f"the embedded Redis died {MAX_RESTARTS + 1} times within "
                f"{RESTART_WINDOW:g} s (last exit code {code}); see {log_file}. Stopping."
            )
            return False
        self._restarts.append(now)
        log.warning("the embedded Redis exited (code %s); restarting it on the same data", code)
        try:
            self.redis.start()
        except ConfigurationError as exc:
            self._on_give_up(f"the embedded Redis died and cannot start again: {exc.message}")
            return False
        log.warning("the embedded Redis is back (pid %s)", self.redis.process.pid)  # type: ignore[union-attr]
        self._on_restart(self.redis)
        return True
