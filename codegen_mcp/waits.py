"""Waking the requests that wait on a task, from the event stream (events.py).

One reader thread per process blocks on the stream (XREAD BLOCK) and wakes whoever waits on
the task an entry names, so a waiting request costs no polling and, on the async MCP front,
no thread: a thread waits on a `threading.Event`, a coroutine on an asyncio future the reader
resolves through its loop (`call_soon_threadsafe`). The reader starts with the first wait and
stops after a while with none.

No lost wake-up: the reader's starting point is read before `watch` returns, and a caller
reads the task only after `watch`, so every change after that read wakes it. A wake-up only
says "look again": the caller re-reads the task and decides.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from typing import Any

import redis

from codegen_mcp import events
from codegen_mcp.redis_conn import connect

log = logging.getLogger(__name__)

BLOCK_MS = 1000  # one XREAD at most this long, so the reader notices it may stop
IDLE_STOP = 30.0  # seconds with nobody waiting before the reader stops


class Watch:
    """One caller's wait on one task: set when an event names the task (or the reader lost
    the stream, so the caller must look again)."""

    def __init__(self, waits: TaskWaits, task_id: str) -> None:
        self.task_id = task_id
        self._waits = waits
        self._lock = threading.Lock()
        self._flag = threading.Event()
        self._futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def wait(self, timeout: float) -> bool:
        """Block until woken or `timeout` passes; True when woken. Clears the wake-up."""
        woken = self._flag.wait(max(timeout, 0.0))
        self._flag.clear()
        return woken

    async def wait_async(self, timeout: float) -> bool:
        """`wait` for a coroutine: no thread is held while it waits."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._flag.is_set():
                self._flag.clear()
                return True
            self._futures.append((loop, future))
        try:
            await asyncio.wait_for(future, max(timeout, 0.0))
        except TimeoutError:
            with self._lock:
                if (loop, future) in self._futures:
                    self._futures.remove((loop, future))
        self._flag.clear()
        return future.done() and not future.cancelled()

    def wake(self) -> None:
        """Called by the reader: the task changed (or may have)."""
        with self._lock:
            self._flag.set()
            futures, self._futures = self._futures, []
        for loop, future in futures:
            loop.call_soon_threadsafe(_resolve, future)

    def close(self) -> None:
        """Stop waiting: the reader forgets this watch."""
        self._waits.forget(self)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


class TaskWaits:
    """The watches of this process, and the one thread that reads the event stream for them."""

    def __init__(
        self, redis_url: str, stream: str, timeout: float, sentinel_password: str | None = None
    ) -> None:
        self.redis_url = redis_url
        self.sentinel_password = sentinel_password  # the sentinels' own, behind Sentinel
        self.stream = stream
        self.timeout = timeout
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()  # a forked child starts afresh: threads do not survive a fork
        self._lock = threading.Lock()
        self._watches: dict[str, set[Watch]] = {}
        self._reader: threading.Thread | None = None
        self._after: str | None = None
        self._redis: Any = None
        self.woken = 0  # watches woken by an event naming their task (for tests and metrics)

    def watch(self, task_id: str) -> Watch:
        """Start waiting on `task_id`; read the task after this (and again after each wake-up)."""
        if self._pid != os.getpid():
            self._reset()
        watch = Watch(self, task_id)
        with self._lock:
            self._watches.setdefault(task_id, set()).add(watch)
            if self._reader is None:
                # Where to read from, before the caller reads the task: nothing after is lost.
                self._after = events.last_id(self._client(), self.stream)
                self._reader = threading.Thread(target=self._read, name="task-waits", daemon=True)
                self._reader.start()
        return watch

    def forget(self, watch: Watch) -> None:
        """Drop `watch` (its caller is done)."""
        with self._lock:
            found = self._watches.get(watch.task_id)
            if found is not None:
                found.discard(watch)
                if not found:
                    del self._watches[watch.task_id]

    def waiting(self) -> int:
        """How many watches are open in this process."""
        with self._lock:
            return sum(len(found) for found in self._watches.values())

    def _client(self) -> Any:
        if self._redis is None:
            # Its own connection: XREAD BLOCK holds it, and its socket timeout must outlast that.
            self._redis = connect(
                self.redis_url,
                timeout=self.timeout + BLOCK_MS / 1000,
                sentinel_password=self.sentinel_password,
            )
        return self._redis

    def _read(self) -> None:
        idle_since = time.monotonic()
        while True:
            with self._lock:
                if self._watches:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > IDLE_STOP:
                    self._reader = None
                    return
                after = self._after
            try:
                if after is None:  # back after an outage (the stream may be a new one)
                    after = self._after = events.last_id(self._client(), self.stream)
                    self._wake_all()
                found = events.read(self._client(), self.stream, after, block_ms=BLOCK_MS)
            except (redis.RedisError, OSError) as exc:
                if self._after is not None:  # once per outage
                    log.warning("task wake-ups: the event stream is unreadable: %r", exc)
                self._after = None
                self._wake_all()  # each caller re-reads the task itself
                time.sleep(0.5)
                continue
            if found:
                with self._lock:
                    self._after = found[-1].id
                self._wake({event.task_id for event in found})

    def _wake(self, task_ids: set[str]) -> None:
        with self._lock:
            woken = [w for task_id in task_ids for w in self._watches.get(task_id, ())]
            self.woken += len(woken)
        for watch in woken:
            watch.wake()

    def _wake_all(self) -> None:
        with self._lock:
            woken = [w for found in self._watches.values() for w in found]
        for watch in woken:
            watch.wake()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
