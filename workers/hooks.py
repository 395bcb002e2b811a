"""The finished-hook: runs for each new outcome of a task (completed, failed, cancelled,
paused). The outbox guarantees it runs even if the worker that settled the task died right
after; everything it does is idempotent, because it may run twice."""

from __future__ import annotations

import logging
from typing import Any

from codegen_mcp import inbox, queue, task_org
from codegen_mcp.api.models import parse_timestamp
from codegen_mcp.commands import logs as agent_logs
from codegen_mcp.errors import CodegenMCPError
from codegen_mcp.services import Services
from codegen_mcp.states import State
from workers import delivery

log = logging.getLogger(__name__)


def on_task_finished(services: Services, task_id: str, seq: int) -> None:
    """Act on outcome number `seq` of `task_id` once, then clear it from the outbox: queue a child's
    outcome for delivery to its orchestrator, or return a delivery that never started. Safe to
    run twice."""
    task = services.store.get(task_id)
    if task is not None:
        log.info("task %s outcome #%s: %s", task_id, seq, task["state"])
        task = _read_log_end(services, task)
        if task.get("delivers") and task["state"] == State.FAILED and not task.get("started_at"):
            # A delivery that never reached its orchestrator is not an outcome to pass up.
            delivery.returned(services, task)
            services.store.clear_outbox(task_id, seq)
            return
        if task.get("delivers") and task.get("started_at"):
            delivery.delivered(services, task)  # idempotent: heals a launch that died mid-way
        if _bound(services, task, seq) and inbox.accept(services.store, task, seq):
            services.queue.send(queue.DELIVER, int(task["orchestrator_run_id"]))
    services.store.clear_outbox(task_id, seq)


def _read_log_end(services: Services, task: dict[str, Any]) -> dict[str, Any]:
    """Read the end of the run's log when the outcome needs it, and note what it says.

    A paused run waits for input: keep the agent's last message, so users see the question.
    An outcome bound for an orchestrator is ordered by when the run finished: the API gives
    no completion time, but the log's newest entry (the final answer, or the error) has one;
    `completed_at` is only when codegen-mcp saw the run settle. Other tasks skip the read:
    the logs endpoint has a budget of its own, shared with users' `logs` commands.
    """
    paused = task["state"] == State.PAUSED
    bound = task.get("orchestrator_run_id") is not None
    if not (paused or bound) or task.get("agent_run_id") is None:
        return task
    if not State(task["state"]).settled:
        return task  # the run re-opened since: its log no longer ends with this outcome
    if task.get("cancel_scope") == "local":
        return task  # we stopped watching: the run's log does not say when that was
    # A question is worth a wait for budget; an order is not: without the read, the
    # outcome goes in by the time we saw it settle.
    wait = 10.0 if paused else 2.0
    try:
        page = task_org.client_for(services, task, max_wait=wait).run_logs(
            int(task["agent_run_id"]), limit=10, reverse=True
        )
    except CodegenMCPError as exc:  # the logs endpoint is alpha: the outcome still stands
        log.warning("task %s: could not read the run's log: %s", task["task_id"], exc.message)
        return task
    entries = agent_logs.entries(page)
    fields: dict[str, Any] = {}
    if paused and (message := agent_logs.last_message(entries)):
        fields["last_message"] = message
    if finished := _finished_at(task, entries):
        fields["finished_at"] = finished
    if fields:
        services.store.update(task["task_id"], **fields)
    return {**task, **fields}


def _finished_at(task: dict[str, Any], entries: list[dict[str, Any]]) -> str | None:
    """The newest log entry's time (newest first in `entries`), never after we saw the end."""
    stamps = [when for e in entries if (when := parse_timestamp(e.get("created_at")))]
    seen = parse_timestamp(task.get("completed_at"))
    if not stamps:
        return None
    newest = max(stamps)
    if seen is not None and newest > seen:
        newest = seen  # clocks differ: the run cannot have finished after we saw it finished
    return newest.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _bound(services: Services, task: dict[str, Any], seq: int) -> bool:
    """Whether outcome `seq` goes to an orchestrator by a delivery of its own."""
    return task.get("orchestrator_run_id") is not None and not _carried(services, task, seq)


def _carried(services: Services, task: dict[str, Any], seq: int) -> bool:
    """A task whose run another task now owns (a paused task following the run its answer
    moved on, or a task watched with a resume accepted while its run worked) has the same
    outcome as that owner. When the owner reports to the same orchestrator, the owner's
    delivery carries it: the orchestrator hears the run's outcome once."""
    run_id = task.get("agent_run_id")
    owner_id = services.store.owners([int(run_id)]).get(int(run_id)) if run_id else None
    if owner_id is None or owner_id == task["task_id"]:
        return False
    owner = services.store.get(owner_id) or {}
    if owner.get("orchestrator_run_id") != task["orchestrator_run_id"]:
        return False
    services.store.update(
        task["task_id"],
        delivery_seq=seq,  # this outcome's: an earlier delivery no longer speaks for it
        delivery_state=f"carried by task {owner_id}",
        delivery_task_id=None,
        delivered_at=None,
        delivery_error=None,
    )
    return True
