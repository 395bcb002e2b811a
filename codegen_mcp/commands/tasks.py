"""Commands over tasks: start one (`new`), follow up a run (`resume`), `list`, `task_status`.

A start answers as soon as a worker has started the run, or after a short wait with the task
still queued; `task_status` with `wait` answers as soon as the task moves.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, cast

from codegen_mcp import answers, notify_args, queue, quotas
from codegen_mcp.answers import Started, TaskList, TaskStatus
from codegen_mcp.api.errors import ApiAuthError
from codegen_mcp.api.status import filter_state
from codegen_mcp.errors import NotConfigured, NotFound, StoreUnavailable, TaskFailed
from codegen_mcp.services import Services
from codegen_mcp.states import State
from codegen_mcp.store import now_iso

log = logging.getLogger(__name__)

BATCH = 100  # task ids read from the store in one round trip by `list`


def new(services: Services, args: dict[str, Any]) -> Started:
    """Record a task for a new agent run and hand it to the workers; the run id if it starts
    within `new_wait`, else the queued task to follow with task_status.

    `args` may carry `task_id`: the id an idempotency key's claim chose for the task."""
    services.config.credentials()  # fail now, before anything is recorded or enqueued
    hook = _webhook(args)
    created = now_iso()  # stored and answered alike, even if the broker then fails
    task_id = quotas.create_queued(
        services,
        {
            "command": "new",
            "task_id": args.get("task_id"),
            "created_at": created,
            "repo": args["repo"],
            "query": args["query"],
            "branch": args.get("branch"),
            "pr": args.get("pr"),
            "task_type": args.get("task"),
            "orchestrator_run_id": args.get("orchestrator_run_id"),
            "model": args.get("model"),
            **hook,
        },
    )
    return _handed_over(services, task_id, created, "Agent run") or _started(
        services, task_id, "Agent run"
    )


def resume(services: Services, args: dict[str, Any]) -> Started:
    """Record a follow-up message to an existing run as a new task, answered like `new`
    (`task_id` too)."""
    services.config.credentials()
    hook = _webhook(args)
    created = now_iso()
    task_id = quotas.create_queued(
        services,
        {
            "command": "resume",
            "task_id": args.get("task_id"),
            "created_at": created,
            "agent_run_id": args["agent_run_id"],
            "repo": services.store.repo_of_run(args["agent_run_id"]),  # a resume is its run's
            "query": args["query"],
            "task_type": args.get("task"),
            "orchestrator_run_id": args.get("orchestrator_run_id"),
            "model": args.get("model"),
            **hook,
        },
    )
    what = f"Resume of agent run {args['agent_run_id']}"
    return _handed_over(services, task_id, created, what) or _started(services, task_id, what)


def replay(services: Services, command: str, task_id: str, args: dict[str, Any]) -> Started:
    """The answer to a `new`/`resume` sent again with its idempotency key: the first call's
    task as that answer would show it now. Like the first call, it waits up to `new_wait` for
    a task still queued to start; it records and sends nothing."""
    what = "Agent run" if command == "new" else f"Resume of agent run {args['agent_run_id']}"
    answer = _started(services, task_id, what)
    note = " (The answer to an earlier call with this idempotency_key: nothing new was started.)"
    return cast(Started, {**answer, "message": answer["message"] + note, "replayed": True})


def list_tasks(services: Services, args: dict[str, Any]) -> TaskList:
    """The tracked tasks, newest first, filtered by state, repo or orchestrator, at most
    `limit` of them."""
    store = services.store
    state = _state_filter(args.get("status"))
    repo = args.get("repo", "").lower() or None
    orchestrator = args.get("orchestrator_run_id")
    if orchestrator is not None:
        index = store.keys.orch(orchestrator)
    elif repo:
        index = store.keys.repo(repo)
    elif state:
        index = store.keys.state(state.value)
    else:
        index = store.keys.tasks()
    rows: list[dict[str, Any]] = []
    batch: list[str] = []
    for task_id in store.iter_newest(index):
        batch.append(task_id)
        if len(batch) >= BATCH:
            rows += _matching(store.get_many(batch), state, repo)
            batch = []
        if len(rows) >= args["limit"]:
            break
    rows += _matching(store.get_many(batch), state, repo)
    return answers.task_list(rows[: args["limit"]])


def task_status(services: Services, args: dict[str, Any]) -> TaskStatus:
    """Where a task stands; with `wait`, once it moves (or the wait is over)."""
    task = stored(services, args["task_id"])
    # A settled task (paused, completed, failed, cancelled) moves only when someone acts:
    # waiting on it would only burn the caller's time.
    if args.get("wait") and not State(task["state"]).settled:
        task = _wait_for_change(services, task, args["wait"])
    return answers.task_status(task)


def stored(services: Services, task_id: str) -> dict[str, Any]:
    """The stored task `task_id`; NotFound (naming the task_id field) when there is none."""
    task = services.store.get(task_id)
    if task is None:
        raise NotFound(f"no task with id {task_id!r}", details={"field": "task_id"})
    return task


# -- helpers -------------------------------------------------------------------------
def check_webhook(services: Services, args: dict[str, Any]) -> None:
    """NotConfigured for a notify_url when no secret would sign its events."""
    if "notify_url" in args and services.config.webhook_secret() is None:
        raise NotConfigured(
            "notify_url needs a webhook secret to sign the events: the operator sets it with "
            "the config command (key webhook_secret) or CODEGEN_MCP_WEBHOOK_SECRET",
            details={"missing": ["webhook_secret"], "field": "notify_url"},
        )


def _webhook(args: dict[str, Any]) -> dict[str, Any]:
    """The task's webhook fields (none without notify_url)."""
    if "notify_url" not in args:
        return {}
    events = notify_args.selected(args.get("notify_events"))
    return {"notify_url": args["notify_url"], "notify_events": events}


def _handed_over(services: Services, task_id: str, created: str, what: str) -> Started | None:
    """Hand a recorded task to the workers; an answer of its own if the broker did not take it.

    The task is recorded by then, and the sweep launches queued tasks that nobody launched: an
    error would make the caller send it again and so start a second run."""
    try:
        services.queue.send(queue.LAUNCH, task_id)
    except StoreUnavailable as exc:
        log.warning("task %s recorded, but the broker did not take it: %s", task_id, exc.message)
        later = math.ceil(services.settings.requeue_after + services.settings.poll_interval)
        return answers.recorded_only(
            task_id,
            created,
            f"{what} recorded and queued; the queue did not answer, so the sweep will "
            f"start it within about {later} s. Do not send it again: poll task_status with "
            "this task_id.",
        )
    return None


def _started(services: Services, task_id: str, what: str) -> Started:
    """Wait briefly for a worker to start the run, so most callers get the run id at once."""
    task = _wait_until_started(services, task_id, services.settings.new_wait)
    if task["state"] == State.QUEUED:
        return answers.started(task, f"{what} queued; poll task_status with this task_id.")
    if task["state"] == State.FAILED and not task.get("started_at"):
        details = answers.run_fields(task)
        error = TaskFailed(task.get("error") or "the task failed", details=details)
        if task.get("error_code") in ("upstream_not_found", "not_found"):
            error.http_status = 404  # the repository or the run to resume does not exist
        elif task.get("error_code") == ApiAuthError.code:  # our Codegen token, not the caller's
            error.http_status, error.code = ApiAuthError.http_status, ApiAuthError.code
        raise error
    return answers.started(task, f"{what} started successfully.")


def _wait_until_started(services: Services, task_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    pause = 0.01
    while True:
        task = services.store.get(task_id)
        assert task is not None  # we just created it
        if task["state"] != State.QUEUED or time.monotonic() >= deadline:
            return task
        time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
        pause = min(pause * 2, 0.1)


def _wait_for_change(services: Services, task: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Poll two fields of the task until its state or Codegen status moves, or the timeout."""
    seen = (task["state"], task.get("api_status"))
    deadline = time.monotonic() + timeout
    pause = 0.05
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.5)
        now = services.store.fields([task["task_id"]], "state", "api_status")[0]
        if (now["state"], now["api_status"]) != seen:
            break
    return services.store.get(task["task_id"]) or task


def _state_filter(value: str | None) -> State | None:
    # schemas.py has refused a status filter_state does not know
    return None if value is None else filter_state(value)


def _matching(
    tasks: list[dict[str, Any] | None], state: State | None, repo: str | None
) -> list[dict[str, Any]]:
    return [
        task
        for task in tasks
        if task is not None
        and (state is None or task["state"] == state)
        and (repo is None or (task.get("repo") or "").lower() == repo)
    ]
