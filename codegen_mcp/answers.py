"""The answers every front gives: their typed shapes, and the builders that make them.

The HTTP front sends these as JSON and the MCP front as structured content under output
schemas generated from the same classes, so each shape is written down once. Extra keys pass
through (`extra="allow"`): a field a command adds reaches MCP clients before it is named here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NotRequired, cast

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

if TYPE_CHECKING:
    from codegen_mcp.intake import Taken

ALLOW_MORE = ConfigDict(extra="allow")
# The classes carry no docstrings on purpose: pydantic would publish one as the output
# schema's description, and MCP hosts read those schemas.
METADATA_FIELDS = ("repo", "branch", "pr", "orchestrator_run_id")
QUERY_IN_ROW = 120
STARTED_FIELDS = ("task_id", "agent_run_id", "state", "web_url", "created_at")


@with_config(ALLOW_MORE)
class Started(TypedDict):
    task_id: str
    agent_run_id: int | None
    state: str
    web_url: str | None
    created_at: str | None
    message: str
    replayed: NotRequired[bool]  # the answer to a call sent again with its idempotency_key
    queue_position: NotRequired[int]  # still queued: its place in line, 1 = next
    estimated_start_at: NotRequired[str]  # still queued: when its API budget should start it
    estimated_start_in: NotRequired[float]  # the same, in seconds from the answer


@with_config(ALLOW_MORE)
class TaskStatus(TypedDict):
    task_id: str
    agent_run_id: int | None
    state: str
    result: str | None
    error: str | None
    created_at: str | None
    started_at: str | None
    completed_at: str | None
    web_url: str | None
    codegen_status: str | None
    pull_requests: list[dict[str, Any]]
    query: str | None
    metadata: dict[str, Any]
    last_message: NotRequired[str]  # a paused run's question
    cancel_scope: NotRequired[str]
    cancel_note: NotRequired[str]
    orchestrator_run_id: NotRequired[int]
    delivery: NotRequired[dict[str, Any]]  # where the outcome stands with the orchestrator


@with_config(ALLOW_MORE)
class ConfigValue(TypedDict):
    key: str
    value: str | int | None
    source: str


@with_config(ALLOW_MORE)
class ConfigAnswer(TypedDict):
    key: NotRequired[str]
    value: NotRequired[str | int | None]
    source: NotRequired[str]
    message: NotRequired[str]
    config: NotRequired[list[ConfigValue]]


@with_config(ALLOW_MORE)
class TaskRow(TypedDict):
    task_id: str
    command: str | None
    state: str
    agent_run_id: int | None
    repo: str | None
    task_type: str | None
    orchestrator_run_id: int | None
    codegen_status: str | None
    web_url: str | None
    created_at: str | None
    completed_at: str | None
    query: str


@with_config(ALLOW_MORE)
class TaskList(TypedDict):
    count: int
    tasks: list[TaskRow]


@with_config(ALLOW_MORE)
class Tree(TypedDict):
    tree: NotRequired[dict[str, Any]]  # below the run or task named
    trees: NotRequired[list[dict[str, Any]]]  # with neither: every hierarchy, newest first
    count: NotRequired[int]


@with_config(ALLOW_MORE)
class Cancelled(TypedDict):
    task_id: str
    agent_run_id: int | None
    state: str
    message: str


@with_config(ALLOW_MORE)
class LogEntry(TypedDict):
    at: str | None
    type: str | None
    tool: str | None
    text: str


@with_config(ALLOW_MORE)
class Logs(TypedDict):
    agent_run_id: int
    codegen_status: str | None
    total: int | None
    logs: list[LogEntry]


# -- builders --------------------------------------------------------------------------
def task_status(task: dict[str, Any]) -> TaskStatus:
    """A stored task as `task_status` shows it (the seed's shape, plus what we learned)."""
    metadata: dict[str, Any] = {"command": task.get("command"), "task_type": task.get("task_type")}
    metadata.update({name: task[name] for name in METADATA_FIELDS if task.get(name) is not None})
    if task.get("command") == "resume":
        metadata["resumed_run_id"] = task.get("agent_run_id")
    if task.get("delivers"):
        metadata["delivered_children"] = [entry["task_id"] for entry in task["delivers"]]
    view = TaskStatus(
        task_id=task["task_id"],
        agent_run_id=task.get("agent_run_id"),
        state=task["state"],
        result=task.get("result"),
        error=task.get("error"),
        created_at=task.get("created_at"),
        started_at=task.get("started_at"),
        completed_at=task.get("completed_at"),
        web_url=task.get("web_url"),
        codegen_status=task.get("api_status"),
        pull_requests=task.get("pull_requests") or [],
        query=task.get("query"),
        metadata=metadata,
    )
    if task.get("finished_at"):
        # the run's own end, from its log: an extra key, passed through
        cast(dict[str, Any], view)["finished_at"] = task["finished_at"]
    if task["state"] == "paused" and task.get("last_message"):
        view["last_message"] = task["last_message"]  # what the agent asks
    if task.get("cancel_scope"):
        view["cancel_scope"] = task["cancel_scope"]
    if task.get("cancel_note"):
        view["cancel_note"] = task["cancel_note"]
    if task.get("orchestrator_run_id") is not None:
        view["orchestrator_run_id"] = task["orchestrator_run_id"]
        view["delivery"] = delivery(task)
    return view


def delivery(task: dict[str, Any]) -> dict[str, Any]:
    """Where a child's outcome is on its way to the orchestrator."""
    state = task.get("delivery_state")
    if state is None:
        state = (
            "waiting for the child to finish"
            if task["state"] in ("queued", "running")
            else "pending"
        )
    return {
        "orchestrator_run_id": task.get("orchestrator_run_id"),
        "state": state,
        "resume_task_id": task.get("delivery_task_id"),
        "delivered_at": task.get("delivered_at"),
        "error": task.get("delivery_error"),
    }


def task_list(tasks: list[dict[str, Any]]) -> TaskList:
    """The `list` answer: one short row per stored task, in the order given."""
    return TaskList(count=len(tasks), tasks=[list_row(task) for task in tasks])


def list_row(task: dict[str, Any]) -> TaskRow:
    """One stored task as a `list` row: its query cut to fit one line."""
    query = task.get("query") or ""
    return TaskRow(
        task_id=task["task_id"],
        command=task.get("command"),
        state=task["state"],
        agent_run_id=task.get("agent_run_id"),
        repo=task.get("repo"),
        task_type=task.get("task_type"),
        orchestrator_run_id=task.get("orchestrator_run_id"),
        codegen_status=task.get("api_status"),
        web_url=task.get("web_url"),
        created_at=task.get("created_at"),
        completed_at=task.get("completed_at"),
        query=query if len(query) <= QUERY_IN_ROW else query[: QUERY_IN_ROW - 3] + "...",
    )


def run_fields(task: dict[str, Any]) -> dict[str, Any]:
    """What `new`/`resume` tell of the task they made: what a failed start's error carries."""
    view: dict[str, Any] = dict(task_status(task))
    return {key: view[key] for key in STARTED_FIELDS}


def started(task: dict[str, Any], message: str) -> Started:
    """The answer to `new`/`resume` once a worker has had its chance to start the run."""
    return cast(Started, {**run_fields(task), "message": message})


def queued(task: dict[str, Any], taken: Taken, message: str) -> Started:
    """The answer to `new`/`resume` while the run has not started: the task with its place in
    line and its estimated start."""
    answer = started(task, message)
    answer["queue_position"] = taken.position
    answer["estimated_start_at"] = taken.start_at_iso()
    answer["estimated_start_in"] = round(taken.start_in(), 1)
    return answer


def cancelled(task: dict[str, Any], message: str) -> Cancelled:
    """The answer to `cancel`: where the task stands now, and what was done."""
    return Cancelled(
        task_id=task["task_id"],
        agent_run_id=task.get("agent_run_id"),
        state=task["state"],
        message=message,
    )


def config_set(value: dict[str, Any]) -> ConfigAnswer:
    """The answer to `config set`: the value as now stored (a token masked)."""
    message = f"{value['key']} set; used from the next API call on"
    if value["key"] == "org_id":  # a task keeps its organization (codegen_mcp/task_org.py)
        message = "org_id set; new tasks go to it, tasks already started finish in their own"
    if value["key"] == "webhook_secret":  # events are signed when sent (workers/notify.py)
        message = (
            "webhook_secret set; it signs every webhook sent from now on, events queued before too"
        )
    return cast(ConfigAnswer, {"message": message, **value})


def config_value(value: dict[str, Any]) -> ConfigAnswer:
    """The answer to `config get` with a key: its value (a token masked) and its source."""
    return cast(ConfigAnswer, value)


def config_values(values: list[dict[str, Any]]) -> ConfigAnswer:
    """The answer to `config get` without a key: every value and where it comes from."""
    return ConfigAnswer(config=cast(list[ConfigValue], values))


def trees(found: list[dict[str, Any]]) -> Tree:
    """The answer to `tree` with no run named: every hierarchy, newest first."""
    return Tree(count=len(found), trees=found)


def tree(node: dict[str, Any]) -> Tree:
    """The answer to `tree` for one run or task: the hierarchy below it."""
    return Tree(tree=node)


def logs(run_id: int, page: dict[str, Any], entries: list[LogEntry]) -> Logs:
    """A page of a run's agent log, each entry shaped for reading."""
    return Logs(
        agent_run_id=run_id,
        codegen_status=page.get("status"),
        total=page.get("total_logs"),
        logs=entries,
    )
