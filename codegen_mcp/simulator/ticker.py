"""The clock's hand: a thread that moves runs on time, so a settled run's webhook goes out
without anyone reading it first (runs are otherwise advanced lazily, on each read)."""

from __future__ import annotations

import threading
import time

from codegen_mcp.simulator.state import SimState

# Upper bound on the wait: a run scheduled by a request made during the wait is seen this late.
MAX_WAIT = 0.05


class Ticker:
    def __init__(self, state: SimState) -> None:
        self._state = state
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start ticking in a daemon thread (a no-op if already started)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="codegen-sim-ticker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            due = self._state.tick()
            wait = MAX_WAIT if due is None else due - time.time()
            self._stop.wait(min(max(wait, 0.001), MAX_WAIT))
