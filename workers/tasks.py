"""Celery tasks: thin wrappers that get ids, reload what they need, and are safe to run twice."""

from __future__ import annotations

from typing import Any

from celery import Celery, Task

from codegen_mcp import queue, retention
from codegen_mcp.api.errors import ApiRateLimited, ApiUnavailable
from codegen_mcp.services import Services
from workers import confirm, delivery, hooks, launch, notify, sweep


def register(app: Celery, services: Any) -> None:
    """`services` is a zero-argument callable returning this process's Services."""

    @app.task(
        name=queue.LAUNCH,
        bind=True,
        acks_late=True,
        max_retries=None,
        soft_time_limit=240,
        time_limit=270,
    )
    def launch_task(self: Task, task_id: str) -> None:
        try:
            launch.launch(services(), task_id)
        except launch.Retry as exc:
            raise self.retry(countdown=min(max(exc.delay, 0.5), 30.0)) from None

    @app.task(name=queue.SWEEP, acks_late=True, soft_time_limit=240, time_limit=270)
    def sweep_task() -> dict[str, Any]:
        report = sweep.sweep(services())
        return {
            "watched": report.watched,
            "changed": report.changed,
            "skipped": report.skipped,
            "lists": report.list_calls,
            "reopen_check": report.reopen_check,
        }

    @app.task(
        name=queue.DELIVER,
        bind=True,
        acks_late=True,
        max_retries=None,
        soft_time_limit=120,
        time_limit=150,
    )
    def deliver_task(
        self: Task, orchestrator: int, from_sweep: bool = False, seen: dict[str, Any] | None = None
    ) -> None:
        try:
            delivery.deliver(services(), orchestrator, from_sweep=from_sweep, seen=seen)
        except ApiRateLimited as exc:
            raise self.retry(countdown=min(max(exc.retry_after, 0.5), 30.0)) from None
        except ApiUnavailable:
            raise self.retry(countdown=5.0) from None

    @app.task(
        name=queue.WEBHOOK,
        bind=True,
        acks_late=True,
        max_retries=6,
        soft_time_limit=60,
        time_limit=90,
    )
    def webhook_task(self: Task, task_id: str, hint: dict[str, Any]) -> str:
        try:
            return confirm.confirm(services(), task_id, hint)
        except confirm.Later as exc:
            retried = {**hint, "retry": True}
            countdown = min(max(exc.delay, 0.5), 30.0)
            raise self.retry(args=(task_id, retried), countdown=countdown) from None

    @app.task(name=queue.RETENTION, acks_late=True, soft_time_limit=50, time_limit=60)
    def retention_task() -> dict[str, Any]:
        work = services()
        done = retention.run(work.store, work.settings.retention_days)
        return {"removed": done.removed, "deferred": done.deferred, "seconds": done.seconds}

    @app.task(name=queue.FINISHED, acks_late=True, soft_time_limit=120, time_limit=150)
    def finished_task(task_id: str, seq: int) -> None:
        hooks.on_task_finished(services(), task_id, seq)

    @app.task(name=queue.NOTIFY, acks_late=True, soft_time_limit=240, time_limit=270)
    def notify_task(task_id: str) -> None:
        notify.deliver(services(), task_id)

    @app.task(name=queue.NOTIFY_DUE, acks_late=True, soft_time_limit=60, time_limit=90)
    def notify_due_task() -> int:
        return notify.send_due(services())


__all__ = ["Services", "register"]
