"""The caller's webhooks in Redis: each task's events waiting for delivery, oldest first.

The store's transition script queues an event on the task's list (`Keys.notify`) and marks
the task pending (`Keys.notify_pending`, scored by when to try next) in the same atomic step
as the change, so no change is lost whatever dies after it. The `notify` Celery task
(workers/notify.py) delivers a task's events in order: it drops the head once the receiver
took it (or it was given up) and, after a failure, scores the task for the next try. The
beat's tick sends `notify` for every task due, so a lost message or a receiver down for
hours only delays events.
"""

from __future__ import annotations

import json
import time
from typing import Any

from codegen_mcp import queue
from codegen_mcp.services import Services
from codegen_mcp.store import TaskStore, Transition
from codegen_mcp.store_scripts import NOTIFY_POP

DUE_BATCH = 500  # tasks the tick sends at most at once (the rest at the next tick)


def kick(services: Services, task_id: str, transition: Transition) -> None:
    """Deliver the event `transition` queued now (the tick would, a little later)."""
    if transition.applied and transition.hooked:
        services.queue.send(queue.NOTIFY, task_id)


class Outbox:
    """The webhook events of every task, on the store's Redis."""

    def __init__(self, store: TaskStore) -> None:
        self.store = store
        self.redis = store.redis
        self.keys = store.keys
        self._pop = store.redis.register_script(NOTIFY_POP)

    def head(self, task_id: str) -> dict[str, Any] | None:
        """The oldest event of the task not yet delivered, as queued; None when none is."""
        raw = self.redis.lindex(self.keys.notify(task_id), 0)
        return json.loads(raw) if raw else None

    def due_at(self, task_id: str) -> float | None:
        """When the task's next try is due (epoch); None when it has nothing pending."""
        score = self.redis.zscore(self.keys.notify_pending(), task_id)
        return None if score is None else float(score)

    def attempts(self, task_id: str) -> int:
        """How many times the head event was tried without success."""
        return int(self.redis.hget(self.keys.task(task_id), "notify_attempts") or 0)

    def drop(self, task_id: str, event_id: str) -> int:
        """Drop the head event if it is `event_id` (delivered or given up); the events left."""
        keys = [self.keys.notify(task_id), self.keys.notify_pending(), self.keys.task(task_id)]
        return int(self._pop(keys=keys, args=[task_id, event_id]))

    def retry_at(self, task_id: str, when: float, error: str) -> int:
        """A try of the head failed: note it and try again at `when`; the attempts so far."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(self.keys.notify_pending(), {task_id: when}, xx=True)
        pipe.hincrby(self.keys.task(task_id), "notify_attempts", 1)
        pipe.hset(self.keys.task(task_id), "notify_error", error[:300])
        return int(pipe.execute()[1])

    def due(self, limit: int = DUE_BATCH) -> list[str]:
        """The tasks whose next try is due now, longest waiting first."""
        pending = self.keys.notify_pending()
        return list(self.redis.zrangebyscore(pending, "-inf", time.time(), start=0, num=limit))

    def waiting(self) -> int:
        """How many events wait for delivery, over every task."""
        tasks = self.redis.zrange(self.keys.notify_pending(), 0, -1)
        pipe = self.redis.pipeline(transaction=False)
        for task_id in tasks:
            pipe.llen(self.keys.notify(task_id))
        return sum(pipe.execute()) if tasks else 0
