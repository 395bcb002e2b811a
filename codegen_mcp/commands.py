"""The service layer: each command is a plain function over Services.

Fronts (HTTP, MCP, CLI) validate nothing themselves: they hand the raw arguments to
`execute`, which validates with the shared schemas and returns a JSON-ready dict.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from codegen_mcp import queue, quotas, schemas, steering, views
from codegen_mcp.api.errors import ApiAuthError
from codegen_mcp.api.status import filter_state
from codegen_mcp.errors import InvalidRequest, NotFound, StoreUnavailable, TaskFailed
from codegen_mcp.redis_conn import UNREACHABLE
from codegen_mcp.services import Services
from codegen_mcp.states import State
from codegen_mcp.tree import build as build_tree
from codegen_mcp.tree import roots as tree_roots

log = logging.getLogger(__name__)

Command = Callable[[Services, dict[str, Any]], dict[str, Any]]


def execute(
    services: Services, command: object, args: object, client: str = "local"
) -> dict[str, Any]:
    """Validate and run one command for `client` (clients.py: who asks), within its limits."""
    if not isinstance(command, str) or command not in COMMANDS:
        raise InvalidRequest(
            f"unknown command {command!r}; known commands: {', '.join(COMMANDS)}",
            details={"field": "command"},
        )
    loaded = schemas.load(command, args)
    try:
        if command in quotas.STARTS:
            # A start that cannot be sent is refused before it takes the client's allowance.
            services.config.credentials()
        quotas.admit(services, client, command)  # before anything is recorded or enqueued
        if command == "logs":  # charged per read that reaches the API, not per call
            return steering.logs(services, loaded, client)
        return COMMANDS[command](services, loaded)
    except UNREACHABLE as exc:  # one wording for every front
        raise StoreUnavailable.from_exception(exc) from exc


def new(services: Services, args: dict[str, Any]) -> dict[str, Any]:
    services.config.credentials()  # fail now, before anything is recorded or enqueued
    task_id = quotas.create_queued(
        services,
        {
            "command": "new",
            "repo": args["repo"],
            "query": args["query"],
            "branch": args.get("branch"),
            "pr": args.get("pr"),
            "task_type": args.get("task"),
            "orchestrator_run_id": args.get("orchestrator_run_id"),
        },
    )
    return _handed_over(services, task_id, "Agent run") or _started(services, task_id, "Agent run")


def resume(services: Services, args: dict[str, Any]) -> dict[str, Any]:
    services.config.credentials()
    task_id = quotas.create_queued(
        services,
        {
            "command": "resume",
            "agent_run_id": args["agent_run_id"],
            "repo": services.store.repo_of_run(args["agent_run_id"]),  # a resume is its run's
            "query": args["query"],
            "task_type": args.get("task"),
            "orchestrator_run_id": args.get("orchestrator_run_id"),
        },
    )
    what = f"Resume of agent run {args['agent_run_id']}"
    return _handed_over(services, task_id, what) or _started(services, task_id, what)


def config(services: Services, args: dict[str, Any]) -> dict[str, Any]:
    if args["action"] == "set":
        value = services.config.set(args["key"], args["value"])
        return {"message": f"{value.key} set; used from the next API call on", **value.to_dict()}
    if "key" in args:
        return services.config.get(args["key"]).to_dict()
    return {"config": [value.to_dict() for value in services.config.all()]}


def list_tasks(services: Services, args: dict[str, Any]) -> dict[str, Any]:
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
        if len(batch) >= 100:
            rows += _matching(store.get_many(batch), state, repo)
            batch = []
        if len(rows) >= args["limit"]:
            break
    rows += _matching(store.get_many(batch), state, repo)
    rows = rows[: args["limit"]]
    return {"count": len(rows), "tasks": [views.list_row(task) for task in rows]}


def task_status(services: Services, args: dict[str, Any]) -> dict[str, Any]:
    task = services.store.get(args["task_id"])
    if task is None:
        raise NotFound(f"no task with id {args['task_id']!r}", details={"field": "task_id"})
    # A settled task (paused, completed, failed, cancelled) moves only when someone acts:
    # waiting on it would only burn the caller's time.
    if args.get("wait") and not State(task["state"]).settled:
        task = _wait_for_change(services, task, args["wait"])
    return views.task_status(task)


def tree(services: Services, args: dict[str, Any]) -> dict[str, Any]:
    """The orchestrator hierarchy below a run: states, result summaries, deliveries; with
    no run or task named, every hierarchy, newest first."""
    if "agent_run_id" not in args and "task_id" not in args:
        trees = tree_roots(services.store, limit=args.get("limit", schemas.DEFAULT_TREES))
        return {"count": len(trees), "trees": trees}
    return {
        "tree": build_tree(
            services.store, agent_run_id=args.get("agent_run_id"), task_id=args.get("task_id")
        )
    }


COMMANDS: dict[str, Command] = {
    "new": new,
    "resume": resume,
    "config": config,
    "list": list_tasks,
    "task_status": task_status,
    "tree": tree,
    "cancel": steering.cancel,
    "logs": steering.logs,
}


# -- helpers -------------------------------------------------------------------------
def _handed_over(services: Services, task_id: str, what: str) -> dict[str, Any] | None:
    """Hand a recorded task to the workers; an answer of its own if the broker did not take it.

    The task is recorded by then, and the sweep launches queued tasks that nobody launched: an
    error would make the caller send it again and so start a second run."""
    try:
        services.queue.send(queue.LAUNCH, task_id)
    except StoreUnavailable as exc:
        log.warning("task %s recorded, but the broker did not take it: %s", task_id, exc.message)
        later = math.ceil(services.settings.requeue_after + services.settings.poll_interval)
        return {
            "task_id": task_id,
            "agent_run_id": None,
            "state": State.QUEUED.value,
            "web_url": None,
            "message": f"{what} recorded and queued; the queue did not answer, so the sweep will "
            f"start it within about {later} s. Do not send it again: poll task_status with "
            "this task_id.",
        }
    return None


def _started(services: Services, task_id: str, what: str) -> dict[str, Any]:
    """Wait briefly for a worker to start the run, so most callers get the run id at once."""
    task = _wait_until_started(services, task_id, services.settings.new_wait)
    view = views.task_status(task)
    answer = {
        key: view[key] for key in ("task_id", "agent_run_id", "state", "web_url", "created_at")
    }
    if task["state"] == State.QUEUED:
        return {**answer, "message": f"{what} queued; poll task_status with this task_id."}
    if task["state"] == State.FAILED and not task.get("started_at"):
        error = TaskFailed(task.get("error") or "the task failed", details=answer)
        if task.get("error_code") in ("upstream_not_found", "not_found"):
            error.http_status = 404  # the repository or the run to resume does not exist
        elif task.get("error_code") == ApiAuthError.code:  # our Codegen token, not the caller's
            error.http_status, error.code = ApiAuthError.http_status, ApiAuthError.code
        raise error
    return {**answer, "message": f"{what} started successfully."}


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
