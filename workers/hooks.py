"""The finished-hook: runs for each new outcome of a task (completed, failed, cancelled,
paused). The outbox guarantees it runs even if the worker that settled the task died right
after; everything it does is idempotent, because it may run twice."""

from __future__ import annotations

import logging
from typing import Any

from codegen_mcp import agent_logs, queue
from codegen_mcp.api.status import State
from codegen_mcp.errors import CodegenMCPError
from codegen_mcp.services import Services
from workers import delivery

log = logging.getLogger(__name__)


def _note_question(services: Services, task: dict[str, Any]) -> None:
    """A paused run waits for input: keep the agent's last message, so users see the question."""
    try:
        page = services.client(max_wait=10.0).run_logs(
            int(task["agent_run_id"]), limit=10, reverse=True
        )
    except CodegenMCPError as exc:  # the logs endpoint is alpha: the result still says something
        log.warning(
            "task %s: could not read the paused run's log: %s", task["task_id"], exc.message
        )
        return
    message = agent_logs.last_message(agent_logs.entries(page))
    if message:
        services.store.update(task["task_id"], last_message=message)


def on_task_finished(services: Services, task_id: str, seq: int) -> None:
    task = services.store.get(task_id)
    if task is not None:
        log.info("task %s outcome #%s: %s", task_id, seq, task["state"])
        if task["state"] == State.PAUSED:
            _note_question(services, task)
        if task.get("delivers") and task["state"] == State.FAILED and not task.get("started_at"):
            # A delivery that never reached its orchestrator is not an outcome to pass up.
            delivery.returned(services, task)
            services.store.clear_outbox(task_id, seq)
            return
        if task.get("delivers") and task.get("started_at"):
            delivery.delivered(services, task)  # idempotent: heals a launch that died mid-way
        if task.get("orchestrator_run_id") is not None and delivery.accept(services, task, seq):
            services.queue.send(queue.DELIVER, int(task["orchestrator_run_id"]))
    services.store.clear_outbox(task_id, seq)
