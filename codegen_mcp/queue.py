"""Enqueue work by task name: the fronts never import the workers package."""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError

from codegen_mcp.errors import StoreUnavailable
from codegen_mcp.redis_conn import broker_options, broker_url
from codegen_mcp.settings import Settings

LAUNCH = "codegen_mcp.launch"
SWEEP = "codegen_mcp.sweep"
FINISHED = "codegen_mcp.finished"
DELIVER = "codegen_mcp.deliver"
WEBHOOK = "codegen_mcp.webhook"


def queue_name(settings: Settings) -> str:
    """The Celery queue this deployment's tasks go on; deployments sharing a Redis keep apart by
    prefix."""
    return settings.key_prefix


class Queue:
    """A thin sender over a broker-only Celery app (no result backend, no task code)."""

    def __init__(self, redis_url: str, settings: Settings) -> None:
        self.app = Celery("codegen_mcp_sender", broker=broker_url(redis_url), set_as_current=False)
        self.app.conf.update(
            task_ignore_result=True,
            broker_connection_retry_on_startup=True,
            broker_transport_options=sender_transport_options(redis_url, settings),
            # One retry on a fresh connection (a restarted Redis), not Celery's three: a
            # request waits at most about two socket timeouts for the broker.
            task_publish_retry_policy={"max_retries": 1, "interval_start": 0},
        )
        self.queue = queue_name(settings)

    def send(self, name: str, *args: Any, **options: Any) -> None:
        """Enqueue `name`; StoreUnavailable when Redis refuses or does not answer in time."""
        try:
            self.app.send_task(name, args=list(args), queue=self.queue, **options)
        except OperationalError as exc:  # kombu's wrapper of the redis error, after retries
            raise StoreUnavailable.from_exception(exc) from exc


def sender_transport_options(redis_url: str, settings: Settings) -> dict[str, Any]:
    """The senders' options: every socket call bounded like the store's (a frozen Redis
    answers nothing, and without a timeout a publish waits forever). Only for senders: the
    worker's consumer blocks in BRPOP on purpose and keeps the shared options."""
    timeout = settings.redis_timeout
    return {
        **transport_options(redis_url, settings),
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }


def transport_options(redis_url: str, settings: Settings) -> dict[str, Any]:
    """Identical for every process (kombu requires it): see docs in workers/celery_app.py.
    Behind Sentinel, the master's name and the sentinels' login too."""
    return {
        "visibility_timeout": 300,
        "unacked_restore_throttle": 1,
        **broker_options(
            redis_url,
            timeout=settings.redis_timeout,
            sentinel_password=settings.redis_sentinel_password,
        ),
    }
