"""A clean stop of `up` reads as one: Ctrl-C prints one line of ours, not Celery's
"cold shutdown, terminating all running tasks!" (which it is not: the first Ctrl-C is a warm
shutdown that lets running tasks finish), and kombu's "Requeuing undeliverable message ...
No consumers" while stopping (a message fetched as the consumer closed goes back to its
queue: nothing is lost) is kept out of the terminal. A second Ctrl-C still stops at once.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

from celery.apps.worker import install_worker_term_handler, install_worker_term_hard_handler
from celery.signals import worker_ready, worker_shutting_down

STOPPING = (
    "codegen-mcp: stopping; running tasks finish or go back to the queue "
    "(Ctrl-C again to stop at once)"
)
KOMBU_LOGGER = "kombu.transport.virtual.base"


class _RequeuedWhileStopping(logging.Filter):
    def __init__(self, stopping: threading.Event) -> None:
        super().__init__()
        self.stopping = stopping

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.stopping.is_set() and "No consumers" in str(record.msg))


@contextlib.contextmanager
def quiet_clean_stop() -> Iterator[None]:
    """While a worker runs in this block, Ctrl-C stops it warmly with our own line."""
    stopping = threading.Event()
    quiet = _RequeuedWhileStopping(stopping)

    def on_ready(sender: Any = None, **_: Any) -> None:
        if threading.current_thread() is threading.main_thread() and sender is not None:
            _install_sigint(sender.controller)

    def on_shutting_down(**_: Any) -> None:
        stopping.set()

    worker_ready.connect(on_ready, weak=False)
    worker_shutting_down.connect(on_shutting_down, weak=False)
    logging.getLogger(KOMBU_LOGGER).addFilter(quiet)
    try:
        yield
    finally:
        worker_ready.disconnect(on_ready)
        worker_shutting_down.disconnect(on_shutting_down)
        logging.getLogger(KOMBU_LOGGER).removeFilter(quiet)


def _install_sigint(worker: Any) -> None:
    """First Ctrl-C: Celery's warm shutdown, announced by our line; the next: its cold one."""

    def announce(worker: Any) -> None:
        print(STOPPING, file=sys.stderr, flush=True)
        install_worker_term_hard_handler(worker, sig="SIGINT", verbose=False)

    install_worker_term_handler(worker, sig="SIGINT", callback=announce, verbose=False)
