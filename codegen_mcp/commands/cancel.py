"""The `cancel` command: stop following a task, or stop the agents on its pull request.

The Codegen API cannot cancel a run: a queued task is cancelled before anything reaches
Codegen; a running one is no longer followed, or (scope pull_request) removed from its PR."""

from __future__ import annotations

from typing import Any

from codegen_mcp import answers, notify, queue, task_org
from codegen_mcp.answers import Cancelled
from codegen_mcp.commands.logs import LOGS_BUDGET_WAIT
from codegen_mcp.commands.tasks import stored
from codegen_mcp.errors import Conflict
from codegen_mcp.services import Services
from codegen_mcp.states import State
from codegen_mcp.store import now_iso

CANCEL_LOCK_WAIT = 5.0
NO_CANCEL = (
    "the Codegen API cannot cancel a run; cancel with scope 'pull_request' stops every agent "
    "working on the run's pull request"
)


def cancel(services: Services, args: dict[str, Any]) -> Cancelled:
    """Cancel a task that has not settled; Conflict for one that has (nothing to cancel)."""
    task = stored(services, args["task_id"])
    state = State(task["state"])
    if state.settled:
        raise Conflict(
            f"task {task['task_id']} is already {state.value}; there is nothing to cancel"
        )
    if state == State.QUEUED:
        return _cancel_queued(services, task, args.get("scope"))
    return _cancel_running(services, task, args.get("scope"))


def _cancel_queued(services: Services, task: dict[str, Any], scope: str | None) -> Cancelled:
    """Hold the launch lock, so a worker cannot be creating the run while we decide."""
    store = services.store
    lock = services.redis.lock(
        store.keys.launch_lock(task["task_id"]), timeout=30, blocking_timeout=CANCEL_LOCK_WAIT
    )
    if not lock.acquire():
        raise Conflict("the run is being created right now; send cancel again in a few seconds")
    try:
        task = stored(services, task["task_id"])
        if task["state"] != State.QUEUED:
            return cancel(services, {"task_id": task["task_id"], "scope": scope})
        if task.get("create_attempted") == "1" or task.get("resume_attempted") == "1":
            # An earlier attempt may have reached the API: the launcher looks before deciding.
            store.update(task["task_id"], cancel_requested=True)
            services.queue.send(queue.LAUNCH, task["task_id"])
            return answers.cancelled(
                store.get(task["task_id"]) or task,
                "cancel requested; an earlier attempt may have reached the Codegen API, "
                "so codegen-mcp checks upstream: if the run exists it stays tracked and "
                "running, otherwise the task is cancelled. task_status tells which.",
            )
        message = "cancelled before anything was sent to Codegen; nothing was created upstream"
        transition = store.transition(
            task["task_id"],
            State.CANCELLED,
            allowed=[State.QUEUED],
            error=message,
            completed_at=now_iso(),
            cancel_scope="local",
        )
        if transition.applied and transition.outcome_seq:
            services.queue.send(queue.FINISHED, task["task_id"], transition.outcome_seq)
        notify.kick(services, task["task_id"], transition)
        return answers.cancelled(store.get(task["task_id"]) or task, message)
    finally:
        lock.release()


def _cancel_running(services: Services, task: dict[str, Any], scope: str | None) -> Cancelled:
    run_id = task.get("agent_run_id")
    if scope == "pull_request":
        urls = [pr["url"] for pr in task.get("pull_requests") or [] if pr.get("url")]
        if not urls:
            raise Conflict(
                f"agent run {run_id} has no pull request, so there is nothing to stop "
                "it with; cancel without scope stops watching it"
            )
        client = task_org.client_for(services, task, max_wait=LOGS_BUDGET_WAIT)
        client.remove_from_pr(int(run_id))  # type: ignore[arg-type]
        services.store.update(
            task["task_id"], cancel_scope="pull_request", cancel_sent_at=now_iso()
        )
        return answers.cancelled(
            task,
            f"remove-from-pr sent: Codegen stops every agent working on "
            f"{', '.join(urls)}; the task turns cancelled when the API reports it",
        )
    message = (
        f"codegen-mcp stopped watching agent run {run_id}, which goes on upstream: {NO_CANCEL}"
    )
    transition = services.store.transition(
        task["task_id"],
        State.CANCELLED,
        allowed=[State.RUNNING],
        error=message,
        completed_at=now_iso(),
        cancel_scope="local",
    )
    if not transition.applied:
        return cancel(services, {"task_id": task["task_id"], "scope": scope})
    if transition.outcome_seq:
        services.queue.send(queue.FINISHED, task["task_id"], transition.outcome_seq)
    notify.kick(services, task["task_id"], transition)
    return answers.cancelled(services.store.get(task["task_id"]) or task, message)
