"""Commands over tasks: start one (`new`), follow up a run (`resume`), `list`, `task_status`.

A start answers as soon as a worker has started the run (woken by the event stream, within
`new_wait`), or at once with the task queued, its place in line and when it should start,
when its API budget cannot start it within that wait; `task_status` with `wait` answers as
soon as the task moves. The waits are `Pending` answers (waiting.py) the fronts settle.
"""

from __future__ import annotations

import logging
import math
from typing import Any, cast

from codegen_mcp import answers, intake, notify_args, retention, task_org
from codegen_mcp.answers import Started, TaskList, TaskStatus
from codegen_mcp.api.errors import ApiAuthError
from codegen_mcp.api.status import filter_state
from codegen_mcp.commands import waiting
from codegen_mcp.commands.waiting import Pending
from codegen_mcp.errors import NotConfigured, NotFound, TaskFailed
from codegen_mcp.services import Services
from codegen_mcp.states import State
from codegen_mcp.store import now_iso

log = logging.getLogger(__name__)

BATCH = 100  # task ids read from the store in one round trip by `list`


def new(services: Services, args: dict[str, Any], client: str = "local") -> Started | Pending:
    """Record a task for a new agent run and hand it to the workers; the run id if it starts
    within `new_wait`, else (at once when it cannot) the queued task and its place in line.

    `args` may carry `task_id`: the id an idempotency key's claim chose for the task."""
    credentials = services.config.credentials()  # fail now, before anything is recorded
    fields = {
        "command": "new",
        "task_id": args.get("task_id"),
        "created_at": now_iso(),
        "repo": args["repo"],
        "query": args["query"],
        "branch": args.get("branch"),
        "pr": args.get("pr"),
        "task_type": args.get("task"),
        "orchestrator_run_id": args.get("orchestrator_run_id"),
        "model": args.get("model"),
        **_webhook(args),
        **task_org.current(services, credentials),  # the org (and token digest) the task keeps
    }
    taken = intake.take(services, fields, client, credentials.token)
    return _started(services, taken, {**fields, "task_id": taken.task_id}, "Agent run")


def resume(services: Services, args: dict[str, Any], client: str = "local") -> Started | Pending:
    """Record a follow-up message to an existing run as a new task, answered like `new`
    (`task_id` too)."""
    credentials = services.config.credentials()
    fields = {
        "command": "resume",
        "task_id": args.get("task_id"),
        "created_at": now_iso(),
        "agent_run_id": args["agent_run_id"],
        "repo": services.store.repo_of_run(args["agent_run_id"]),  # a resume is its run's
        "query": args["query"],
        "task_type": args.get("task"),
        "orchestrator_run_id": args.get("orchestrator_run_id"),
        "model": args.get("model"),
        **_webhook(args),
        **task_org.of_run(
            services, args["agent_run_id"], credentials
        ),  # the run's org, if we know it
    }
    taken = intake.take(services, fields, client, credentials.token)
    what = f"Resume of agent run {args['agent_run_id']}"
    return _started(services, taken, {**fields, "task_id": taken.task_id}, what)


def replay(
    services: Services, command: str, task_id: str, args: dict[str, Any]
) -> Started | Pending:
    """The answer to a `new`/`resume` sent again with its idempotency key: the first call's
    task as that answer would show it now. Like the first call, it waits up to `new_wait` for
    a task still queued to start; it records and sends nothing."""
    what = "Agent run" if command == "new" else f"Resume of agent run {args['agent_run_id']}"
    note = " (The answer to an earlier call with this idempotency_key: nothing new was started.)"

    def answer(now: dict[str, Any]) -> Started:
        if now["state"] == State.QUEUED:
            first = answers.started(now, f"{what} queued; poll task_status with this task_id.")
        else:
            first = _start_answer(now, None, what)
        return cast(Started, {**first, "message": first["message"] + note, "replayed": True})

    task = stored(services, task_id)
    wait = services.settings.new_wait
    return waiting.wait_for(services, task, wait, _is_started, answer)  # type: ignore[return-value]


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


def task_status(services: Services, args: dict[str, Any]) -> TaskStatus | Pending:
    """Where a task stands; with `wait`, once it moves (or the wait is over)."""
    task = stored(services, args["task_id"])
    seen = (task["state"], task.get("api_status"))

    def moved(now: dict[str, Any]) -> bool:
        # A settled task (paused, completed, failed, cancelled) moves only when someone
        # acts: waiting on it would only burn the caller's time.
        return State(now["state"]).settled or (now["state"], now.get("api_status")) != seen

    if State(task["state"]).settled or not args.get("wait"):
        return answers.task_status(task)
    return waiting.wait_for(services, task, args["wait"], moved, answers.task_status)  # type: ignore[return-value]


def stored(services: Services, task_id: str) -> dict[str, Any]:
    """The stored task `task_id`; NotFound (naming the task_id field) when there is none."""
    task = services.store.get(task_id)
    if task is None:
        raise not_found(services, task_id)
    return task


def not_found(services: Services, task_id: str) -> NotFound:
    """The 404 for a task id the store does not hold: removed by retention, or never ours."""
    when = retention.removed_at(services.store, task_id)
    if when is None:
        return NotFound(f"no task with id {task_id!r}", details={"field": "task_id"})
    days = services.settings.retention_days
    return NotFound(
        f"task {task_id!r} was removed at {when}: settled tasks are kept "
        f"{days:g} days (CODEGEN_MCP_RETENTION_DAYS) after they settle",
        details={"field": "task_id", "removed_at": when},
    )


# -- helpers -------------------------------------------------------------------------
def _started(
    services: Services, taken: intake.Taken, task: dict[str, Any], what: str
) -> Started | Pending:
    """Wait (at most `new_wait`) for a worker to start the run, when its budget has a slot
    for it by then; else answer at once that it is queued, with its place in line."""
    wait = services.settings.new_wait
    if taken.start_in() > wait:
        wait = 0.0  # it cannot start within the wait: holding the caller would only cost

    def answer(now: dict[str, Any]) -> Started:
        return _start_answer(now, taken, what)

    stored_task = {**task, "state": State.QUEUED.value, "created_at": taken.created_at}
    return waiting.wait_for(services, stored_task, wait, _is_started, answer)  # type: ignore[return-value]


def _is_started(task: dict[str, Any]) -> bool:
    return task["state"] != State.QUEUED


def _start_answer(task: dict[str, Any], taken: intake.Taken | None, what: str) -> Started:
    if task["state"] == State.QUEUED and taken is not None:
        return answers.queued(task, taken, _queued_message(what, taken))
    if task["state"] == State.FAILED and not task.get("started_at"):
        details = answers.run_fields(task)
        error = TaskFailed(task.get("error") or "the task failed", details=details)
        if task.get("error_code") in ("upstream_not_found", "not_found"):
            error.http_status = 404  # the repository or the run to resume does not exist
        elif task.get("error_code") == ApiAuthError.code:  # our Codegen token, not the caller's
            error.http_status, error.code = ApiAuthError.http_status, ApiAuthError.code
        raise error
    return answers.started(task, f"{what} started successfully.")


def _queued_message(what: str, taken: intake.Taken) -> str:
    budget = "create" if taken.bucket == "create" else "resume"
    return (
        f"{what} queued, number {taken.position} in line; the Codegen {budget} budget should "
        f"let it start in about {math.ceil(taken.start_in())} s (at {taken.start_at_iso()}). "
        "Poll task_status with this task_id."
    )


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
