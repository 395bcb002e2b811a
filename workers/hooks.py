"""The finished-hook: runs for each new outcome of a task (completed, failed, cancelled,
paused). The outbox guarantees it runs even if the worker that settled the task died right
after; everything it does is idempotent, because it may run twice."""

from __future__ import annotations

import logging

from codegen_mcp import queue
from codegen_mcp.api.status import State
from codegen_mcp.services import Services
from workers import delivery

log = logging.getLogger(__name__)


def on_task_finished(services: Services, task_id: str, seq: int) -> None:
    task = services.store.get(task_id)
    if task is not None:
        log.info("task %s outcome #%s: %s", task_id, seq, task["state"])
        if task.get("delivers") and task["state"] == State.FAILED and not task.get("started_at"):
            # A delivery that never reached its orchestrator is not an outcome to pass up.
            delivery.returned(services, task)
        elif task.get("orchestrator_run_id") is not None and delivery.accept(services, task, seq):
            services.queue.send(queue.DELIVER, int(task["orchestrator_run_id"]))
    services.store.clear_outbox(task_id, seq)
