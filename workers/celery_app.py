"""The Celery app (the `celery -A workers.celery_app` target), built from Settings.

Nothing happens at import: `app` is built on first access (module __getattr__), which is
when the celery command asks for it.

Reliability choices (see shared/celery-redis-facts.md): tasks are acks_late and safe to run
twice; the visibility timeout is 300 s and the unacked-restore throttle 1 s for every
process alike; tasks stay far shorter than the visibility timeout, and no countdown goes
past 30 s. Lost messages are not waited for: the sweep re-enqueues queued tasks that
nobody is launching, so recovery takes seconds, not the visibility timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import cache
from typing import Any

from celery import Celery
from celery.signals import (
    heartbeat_sent,
    worker_process_init,
    worker_ready,
    worker_shutting_down,
)

from codegen_mcp import queue, secret, sentinel
from codegen_mcp.local.record import join_stack
from codegen_mcp.redis_conn import broker_url
from codegen_mcp.services import Services
from codegen_mcp.settings import Settings
from workers import tasks
from workers.broker import SENTINEL_TRANSPORT

RETENTION_EVERY = 60.0  # seconds between two retention runs (codegen_mcp/retention.py)


def create_celery(settings: Settings, redis_url: str | None = None) -> Celery:
    """The Celery app for this deployment: its queue, late acks and no prefetching ahead, with
    secrets masked in every log; joins the local stack when no Redis URL is given."""
    settings, url = (settings, redis_url) if redis_url else join_stack(settings)
    secret.install(settings, url)  # worker, beat and flower alike: no log line shows a secret
    app = Celery("codegen_mcp", broker=broker_url(url), set_as_current=False)
    if sentinel.is_sentinel(url):  # kombu's, repaired for a worker that loses its primary
        app.conf.broker_transport = SENTINEL_TRANSPORT
    app.conf.update(
        task_default_queue=queue.queue_name(settings),
        task_ignore_result=True,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options=queue.transport_options(url, settings),
        worker_hijack_root_logger=False,
        # Tasks are safe to run twice, so a task that cannot be acknowledged after a lost
        # broker connection is better cancelled and redelivered than left dangling.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # Task events feed Flower (the `flower` process of the Procfile), and they switch on
        # the worker's heartbeat, which /healthz counts on (_watch_liveness): keep them on.
        worker_send_task_events=True,
        task_send_sent_event=True,
        beat_schedule={
            "sweep": {
                "task": queue.SWEEP,
                "schedule": timedelta(seconds=settings.poll_interval),
                "options": {"expires": max(settings.poll_interval * 2, 5.0)},
            },
            # webhooks due for a (re)try: a lost message or a receiver down only delays them
            "notify": {
                "task": queue.NOTIFY_DUE,
                "schedule": timedelta(seconds=settings.poll_interval),
                "options": {"expires": max(settings.poll_interval * 2, 5.0)},
            },
            # Settled tasks past CODEGEN_MCP_RETENTION_DAYS go, a few batches a minute.
            "retention": {
                "task": queue.RETENTION,
                "schedule": timedelta(seconds=RETENTION_EVERY),
                "options": {"expires": RETENTION_EVERY},
            },
        },
        beat_schedule_filename=str(settings.data_dir / f"celerybeat-{settings.key_prefix}"),
    )
    state: dict[str, Services] = {}

    def services() -> Services:
        if "services" not in state:
            state["services"] = Services(settings, url)
        return state["services"]

    _watch_liveness(app, services)

    @worker_process_init.connect(weak=False)
    def _fresh_connections_after_fork(**_: Any) -> None:
        state.clear()

    tasks.register(app, services)
    return app


def _watch_liveness(app: Celery, services: Callable[[], Services]) -> None:
    """Heartbeats in Redis while this worker consumes: /healthz counts processes running now.

    Celery's signals are process-wide: each handler acts only for this app's own worker.
    """
    consuming: set[str] = set()

    @worker_ready.connect(weak=False)
    def _ready(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is app:
            consuming.add(str(sender.hostname))
            services().recorder.worker_started(str(sender.hostname))

    @heartbeat_sent.connect(weak=False)
    def _alive(sender: Any = None, **_: Any) -> None:
        hostname = str(getattr(sender.eventer, "hostname", ""))
        # The Heart sends a last "offline" event when it stops (tref is None): no renewal.
        if hostname in consuming and sender.tref is not None:
            services().recorder.worker_alive(hostname)

    @worker_shutting_down.connect(weak=False)
    def _stopping(sender: Any = None, **_: Any) -> None:
        if str(sender) in consuming:
            consuming.discard(str(sender))
            services().recorder.worker_stopped(str(sender))


@cache
def _default_app() -> Celery:
    settings = Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return create_celery(settings)


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        return _default_app()
    raise AttributeError(name)
