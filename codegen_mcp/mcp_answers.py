"""What the MCP tools answer: their output schemas, with the structured content they carry.

The shapes follow the command results (views.py and friends); extra keys pass through, so a
field a command adds reaches MCP clients before it is named here.
"""

from __future__ import annotations

from typing import Any, NotRequired

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

ALLOW_MORE = ConfigDict(extra="allow")


@with_config(ALLOW_MORE)
class Started(TypedDict):
    task_id: str
    agent_run_id: int | None
    state: str
    web_url: str | None
    created_at: str | None
    message: str


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
