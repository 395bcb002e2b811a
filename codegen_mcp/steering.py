"""Commands that act on a run after it started: cancel it, read its agent log."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from redis.exceptions import LockError

from codegen_mcp import agent_logs, queue, quotas
from codegen_mcp.errors import Conflict, NotFound
from codegen_mcp.services import Services
from codegen_mcp.states import State
from codegen_mcp.store import now_iso

CANCEL_LOCK_WAIT = 5.0
LOGS_BUDGET_WAIT = 5.0
NO_CANCEL = (
    "the Codegen API cannot cancel a run; cancel with scope 'pull_request' stops every agent "
    "working on the run's pull request"
)


def cancel(services: Services, args: dict[str, Any]) -> dict[str, Any]:
    task = _task(services, args["task_id"])
    state = State(task["state"])
    if state.settled:
        raise Conflict(
            f"task {task['task_id']} is already {state.value}; there is nothing to cancel"
        )
    if state == State.QUEUED:
        return _cancel_queued(services, task, args.get("scope"))
    return _cancel_running(services, task, args.get("scope"))


def logs(services: Services, args: dict[str, Any], caller: str = "local") -> dict[str, Any]:
    """A page of a run's agent log. Pages are cached for a few seconds, so a client that
    repeats itself (a dashboard, a `--follow`) costs the shared logs budget one read; only
    reads that reach the API count against the caller's allowance."""
    run_id = args.get("agent_run_id")
    if run_id is None:
        task = _task(services, args["task_id"])
        if task.get("agent_run_id") is None:
            raise NotFound(f"task {task['task_id']} has no agent run yet (it is {task['state']})")
        run_id = int(task["agent_run_id"])
    page = (args["skip"], args["limit"], int(args["reverse"]))
    key = services.store.keys.logpage(run_id, _run_version(services, run_id), *page)
    if (cached := services.redis.get(key)) is not None:
        return dict(json.loads(cached))
    # One reader fills a page while the others wait for it, instead of all reading it.
    lock = services.redis.lock(f"{key}:fill", timeout=30, blocking_timeout=LOGS_BUDGET_WAIT)
    held = lock.acquire()
    try:
        if (cached := services.redis.get(key)) is not None:
            return dict(json.loads(cached))
        quotas.take_logs_read(services, caller)
        answer = _read_logs(services, run_id, args)
        if (ttl := services.settings.logs_cache_seconds) > 0:
            services.redis.set(key, json.dumps(answer), px=int(ttl * 1000))
        return answer
    finally:
        if held:
            with contextlib.suppress(LockError):  # it expired: a slow read, nothing to undo
                lock.release()


def _run_version(services: Services, run_id: int) -> str:
    """Part of a cached page's key: a page read before the run moved on (a new Codegen
    status, a finished run) is never served after it, so `logs --follow` sees the end."""
    owner = services.store.owners([run_id]).get(run_id)
    if owner is None:
        return "-"
    row = services.store.fields([owner], "state", "api_status", "outcome_seq")[0]
    return ".".join(value or "" for value in row.values())


def _read_logs(services: Services, run_id: int, args: dict[str, Any]) -> dict[str, Any]:
    client = services.client(max_wait=LOGS_BUDGET_WAIT)
    page = client.run_logs(run_id, skip=args["skip"], limit=args["limit"], reverse=args["reverse"])
    return {
        "agent_run_id": run_id,
        "codegen_status": page.get("status"),
        "total": page.get("total_logs"),
        "logs": [agent_logs.shape(entry) for entry in agent_logs.entries(page)],
    }


def _cancel_queued(services: Services, task: dict[str, Any], scope: str | None) -> dict[str, Any]:
    """Hold the launch lock, so a worker cannot be creating the run while we decide."""
    store = services.store
    lock = services.redis.lock(
        store.keys.launch_lock(task["task_id"]), timeout=30, blocking_timeout=CANCEL_LOCK_WAIT
    )
    if not lock.acquire():
        raise Conflict("the run is being created right now; send cancel again in a few seconds")
    try:
        task = _task(services, task["task_id"])
        if task["state"] != State.QUEUED:
            return cancel(services, {"task_id": task["task_id"], "scope": scope})
        if task.get("create_attempted") == "1" or task.get("resume_attempted") == "1":
            # An earlier attempt may have reached the API: the launcher looks before deciding.
            store.update(task["task_id"], cancel_requested=True)
            services.queue.send(queue.LAUNCH, task["task_id"])
            return _answer(
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
        return _answer(store.get(task["task_id"]) or task, message)
    finally:
        lock.release()


def _cancel_running(services: Services, task: dict[str, Any], scope: str | None) -> dict[str, Any]:
    run_id = task.get("agent_run_id")
    if scope == "pull_request":
        urls = [pr["url"] for pr in task.get("pull_requests") or [] if pr.get("url")]
        if not urls:
            raise Conflict(
                f"agent run {run_id} has no pull request, so there is nothing to stop "
                "it with; cancel without scope stops watching it"
            )
        services.client(max_wait=LOGS_BUDGET_WAIT).remove_from_pr(int(run_id))  # type: ignore[arg-type]
        services.store.update(
            task["task_id"], cancel_scope="pull_request", cancel_sent_at=now_iso()
        )
        return _answer(
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
    return _answer(services.store.get(task["task_id"]) or task, message)


def _task(services: Services, task_id: str) -> dict[str, Any]:
    task = services.store.get(task_id)
    if task is None:
        raise NotFound(f"no task with id {task_id!r}", details={"field": "task_id"})
    return task


def _answer(task: dict[str, Any], message: str) -> dict[str, Any]:
    return {
        "task_id": task["task_id"],
        "agent_run_id": task.get("agent_run_id"),
        "state": task["state"],
        "message": message,
    }
