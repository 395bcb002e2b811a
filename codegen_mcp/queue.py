"""Enqueue work by task name: the fronts never import the workers package."""

from __future__ import annotations

from typing import Any

from celery import Celery

from codegen_mcp.redis_conn import broker_url
from codegen_mcp.settings import Settings

LAUNCH = "codegen_mcp.launch"
SWEEP = "codegen_mcp.sweep"
FINISHED = "codegen_mcp.finished"
DELIVER = "codegen_mcp.deliver"


def queue_name(settings: Settings) -> str:
    return settings.key_prefix


class Queue:
    """A thin sender over a broker-only Celery app (no result backend, no task code)."""

    def __init__(self, redis_url: str, settings: Settings) -> None:
        self.app = Celery("codegen_mcp_sender", broker=broker_url(redis_url), set_as_current=False)
        self.app.conf.update(
            task_ignore_result=True,
            broker_connection_retry_on_startup=True,
            broker_transport_options=transport_options(),
        )
        self.queue = queue_name(settings)

    def send(self, name: str, *args: Any, **options: Any) -> None:
        self.app.send_task(name, args=list(args), queue=self.queue, **options)


def transport_options() -> dict[str, Any]:
    """Identical for every process (kombu requires it): see docs in workers/celery_app.py."""
    return {
        "visibility_timeout": 300,
        "unacked_restore_throttle": 1,
    }
