"""The finished-hook: runs once per new outcome of a task (completed, failed, cancelled,
paused). Orchestrator delivery plugs in here; the outbox guarantees the hook runs even if
the worker that settled the task died right after."""

from __future__ import annotations

import logging

from codegen_mcp.services import Services

log = logging.getLogger(__name__)


def on_task_finished(services: Services, task_id: str, seq: int) -> None:
    task = services.store.get(task_id)
    if task is not None:
        log.info("task %s outcome #%s: %s", task_id, seq, task["state"])
    services.store.clear_outbox(task_id, seq)
