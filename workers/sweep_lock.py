"""The lock of the one sweep running: a short lease its holder renews while it works.

A sweep may run for a long time (many pages within the read budget), but when its process
is killed the next sweep must not wait for a long lock to expire: the lock lives only a few
seconds (`LEASE`), and a thread of the holder renews it while the sweep works. A dead holder
renews nothing, so its lock is gone within one lease.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import LockError, RedisError
from redis.lock import Lock

from codegen_mcp.redis_conn import RedisClient

log = logging.getLogger(__name__)

LEASE = 5.0  # seconds a lock lives without a renewal


@contextmanager
def lease(redis: RedisClient, key: str, seconds: float = LEASE) -> Iterator[bool]:
    """Hold the lock `key` while the block runs (yields False when another holds it), renewed
    every third of `seconds`; released at the end."""
    # Not thread-local: the renewing thread must see the token its holder took.
    lock = redis.lock(key, timeout=seconds, blocking=False, thread_local=False)
    if not lock.acquire():
        yield False
        return
    done = threading.Event()
    renewer = threading.Thread(
        target=_renew, args=(lock, seconds / 3, done), name="sweep-lease", daemon=True
    )
    renewer.start()
    try:
        yield True
    finally:
        done.set()
        renewer.join()
        try:
            lock.release()
        except LockError:
            log.warning("the sweep's lock expired before its end; another sweep may have run")


def _renew(lock: Lock, every: float, done: threading.Event) -> None:
    while not done.wait(every):
        try:
            lock.reacquire()
        except (LockError, RedisError) as exc:
            # Lost (expired while Redis was away, or taken): the sweep finishes its pass; the
            # store's scripts keep two overlapping passes from moving a task twice.
            log.warning("could not renew the sweep's lock: %s", exc)
            return
