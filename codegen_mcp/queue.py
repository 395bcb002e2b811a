"""Enqueue work by task name: the fronts never import the workers package."""

from __future__ import annotations

import base64
import json
import uuid
from functools import cached_property
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
NOTIFY = "codegen_mcp.notify"
NOTIFY_DUE = "codegen_mcp.notify_due"
WEBHOOK = "codegen_mcp.webhook"
RETENTION = "codegen_mcp.retention"


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

    def launch_message(self, task_id: str) -> str:
        """The Celery message that launches `task_id`, exactly as `send(LAUNCH, task_id)` would
        put it on the broker's list (`self.queue`, priority 0), for a caller that pushes it
        itself (the store's START script, atomically with recording the task)."""
        body = self._launch_body.replace(_TASK, task_id).encode()
        return (
            self._launch_template.replace(_BODY, base64.b64encode(body).decode())
            .replace(_ID, str(uuid.uuid4()))
            .replace(_TAG, str(uuid.uuid4()))
            .replace(_TASK, task_id)
        )

    @cached_property
    def _launch_body(self) -> str:
        return json.dumps(self._launch_parts.body)

    @cached_property
    def _launch_template(self) -> str:
        # Built once per process by Celery itself (protocol 2 headers), with placeholders, then
        # wrapped as kombu's Redis transport wraps a message; launch_message fills it in.
        parts = self._launch_parts
        message = {
            "body": _BODY,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": parts.headers,
            "properties": {
                **parts.properties,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": self.queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": _TAG,
            },
        }
        return json.dumps(message)

    @cached_property
    def _launch_parts(self) -> Any:
        return self.app.amqp.as_task_v2(_ID, LAUNCH, args=[_TASK], kwargs={}, root_id=_ID)


# Placeholders in the launch message template (no task id or uuid contains them).
_ID, _TASK, _BODY, _TAG = "@celery-id@", "@task-id@", "@body@", "@delivery-tag@"


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
