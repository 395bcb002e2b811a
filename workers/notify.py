"""Deliver a task's webhook events, in order, at least once (codegen_mcp/notify.py keeps them).

One delivery per task at a time (a lock), head first: a 2xx drops the event; no answer, a
timeout, a 5xx, 408 or 429 keeps it and tries again after the next backoff step, until the
event is older than CODEGEN_MCP_NOTIFY_GIVE_UP; any other answer gives it up at once (a 4xx
will not go better). Safe to run twice: a second run finds the lock taken, or the task not
due, or the head it would send already dropped. A crash between the receiver's 2xx and the
drop sends that event again: the event id lets the receiver drop the duplicate.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

from redis.exceptions import LockError

from codegen_mcp import notify_target, queue, webhook
from codegen_mcp.notify import Outbox
from codegen_mcp.services import Services

log = logging.getLogger(__name__)

RUN_SECONDS = 60.0  # one run delivers for about this long; the tick sends the rest


def deliver(services: Services, task_id: str) -> None:
    """Deliver the due events of `task_id`, oldest first, until one fails or none is left."""
    settings = services.settings
    outbox = Outbox(services.store)
    lock = services.redis.lock(
        services.store.keys.notify_lock(task_id),
        timeout=2 * settings.notify_timeout + 15,
        blocking=False,
    )
    if not lock.acquire():
        return  # another run delivers this task's events
    try:
        deadline = time.monotonic() + RUN_SECONDS
        while time.monotonic() < deadline:
            due = outbox.due_at(task_id)
            if due is None or due > time.time():
                return
            event = outbox.head(task_id)
            if event is None:
                outbox.drop(task_id, "")  # an empty list: off the pending set
                return
            if not _attempt(services, outbox, task_id, event):
                return
            lock.reacquire()
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("webhooks of task %s: the delivery outlived its lock", task_id)


def send_due(services: Services) -> int:
    """The beat's tick: send `notify` for every task whose next try is due (once per few
    seconds each, while a run may still be at it); returns how many were sent."""
    store, redis = services.store, services.redis
    marker_ms = int(max(2 * services.settings.poll_interval, 1.0) * 1000)
    sent = 0
    for task_id in Outbox(store).due():
        if redis.set(store.keys.requeued(f"notify:{task_id}"), "1", nx=True, px=marker_ms):
            services.queue.send(queue.NOTIFY, task_id)
            sent += 1
    return sent


def _attempt(services: Services, outbox: Outbox, task_id: str, event: dict[str, Any]) -> bool:
    """One try of the head event; True when it is done with (delivered or given up)."""
    url = str(event["task"].get("notify_url") or "")
    where = urlsplit(url).hostname or "?"  # logs name the host, never the URL's path or query
    secret = services.config.webhook_secret()
    if secret is None:
        return _failed(services, outbox, task_id, event, "no webhook_secret is configured", True)
    try:
        target = notify_target.check(url, services.settings.notify_allow_private)
    except notify_target.Refused as exc:
        retry = isinstance(exc, notify_target.Unresolved)
        return _failed(services, outbox, task_id, event, str(exc), retry)
    raw = webhook.body(event)
    reply = webhook.post(target, raw, secret, event["id"], services.settings.notify_timeout)
    if reply.delivered:
        outbox.drop(task_id, event["id"])
        services.recorder.webhook("sent")
        log.info("webhook %s of task %s delivered to %s", event["type"], task_id, where)
        return True
    return _failed(
        services,
        outbox,
        task_id,
        event,
        f"{where}: {reply.detail}",
        reply.retryable,
        reply.retry_after,
    )


def _failed(
    services: Services,
    outbox: Outbox,
    task_id: str,
    event: dict[str, Any],
    error: str,
    retryable: bool,
    retry_after: float | None = None,
) -> bool:
    """Give the event up (False: not retryable, or too old), or schedule the next try."""
    settings = services.settings
    age = time.time() - float(event["at"])
    if not retryable or age > settings.notify_give_up:
        outbox.drop(task_id, event["id"])
        services.recorder.webhook("failed")
        log.warning("webhook %s of task %s given up: %s", event["type"], task_id, error)
        return True
    steps = settings.notify_backoff
    delay = steps[min(outbox.attempts(task_id), len(steps) - 1)]
    if retry_after is not None:
        delay = min(max(delay, retry_after), max(steps))
    attempts = outbox.retry_at(task_id, time.time() + delay, error)
    log.info(
        "webhook %s of task %s failed (attempt %d, next in %gs): %s",
        event["type"],
        task_id,
        attempts,
        delay,
        error,
    )
    return False
