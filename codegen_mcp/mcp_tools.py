"""The MCP tools: what the host is told about each command, as module-level data, and how
one command becomes an SDK `Tool`.

Each tool hands its arguments, exactly as the client sent them, to the runner the server
gives it (`commands.execute` behind it), so schemas.py is the one validation for every
front: unknown arguments are refused and nothing is coerced, as over HTTP. The SDK would
otherwise build each tool's input model from the function's signature and validate (and
coerce, and silently drop) with pydantic first; the seam it offers is to construct the
`Tool` ourselves, with an explicit input schema (read from schemas.py by input_schema.py)
and an argument model that passes everything through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import ConfigDict

from codegen_mcp import schemas
from codegen_mcp.answers import (
    Cancelled,
    ConfigAnswer,
    Logs,
    Started,
    TaskList,
    TaskStatus,
    Tree,
)
from codegen_mcp.input_schema import input_schema

# (command, arguments as sent) -> its answer, awaited: a wait for a task holds no thread
Runner = Callable[[str, dict[str, Any]], Awaitable[Any]]

INSTRUCTIONS = """\
codegen-mcp runs Codegen coding agents on GitHub repositories. A run takes minutes: `new` \
(or `resume`, for a follow-up to an existing run) answers at once with a task_id, and the run \
goes on in the background. Follow it with `task_status` and `wait` (up to 25 seconds): the \
call returns as soon as the task changes, so call it again until `state` is completed, \
failed, cancelled or paused (a paused agent asks a question, in `last_message` or \
`result`: answer it with `resume`). `logs` shows what the agent did step by step, `cancel` \
stops following a task, `list` shows the tasks already tracked, and `config` sets the \
Codegen API token and organization id when they are missing."""

# -- hints for hosts (a host may ask the user before a tool that is not read-only) -------
STARTS_RUN = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
# `set` replaces the stored value (not additive), and setting it twice changes nothing more.
SETS_CONFIG = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
READS_STORE = ToolAnnotations(read_only_hint=True, open_world_hint=False)
READS_API = ToolAnnotations(read_only_hint=True, open_world_hint=True)
# Cancelling ends a task (and, scoped to the pull request, the agents working on it).
STOPS_RUN = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
)


# A host that times out, or loses the answer, may call again: without the key, a second run.
RETRY_SAFELY = (
    "Pass an idempotency_key (a fresh UUID for each run you mean to start) and, if you call "
    "again because the call timed out or failed without an answer, pass the same key with the "
    "same arguments: you get the first call's task, and no second run is started."
)


@dataclass(frozen=True)
class ToolSpec:
    """What the host is told about one command; its arguments come from schemas.py."""

    title: str
    annotations: ToolAnnotations
    answer: type  # the output schema (answers.py)
    description: str


TOOLS: dict[str, ToolSpec] = {
    "new": ToolSpec(
        "Start a Codegen agent run",
        STARTS_RUN,
        Started,
        "Start a Codegen coding agent on a GitHub repository. Answers within seconds with "
        "a task_id (and the run's agent_run_id and web_url once the run has started; while "
        "it waits for Codegen's rate budget, state queued with queue_position and "
        "estimated_start_at); the run itself takes minutes. Follow it with "
        "task_status(task_id, wait=25) until state is completed, failed, cancelled or "
        "paused; a completed run's result and pull_requests say what the agent did. "
        + RETRY_SAFELY,
    ),
    "resume": ToolSpec(
        "Send a follow-up to an agent run",
        STARTS_RUN,
        Started,
        "Send a follow-up message to an existing Codegen agent run (to answer a paused "
        "agent's question, or to ask for more work). It is a new task, answered at once "
        "with its task_id and followed like new: task_status(task_id, wait=25) until it "
        "settles. " + RETRY_SAFELY,
    ),
    "config": ToolSpec(
        "Read or set the Codegen credentials",
        SETS_CONFIG,
        ConfigAnswer,
        "Read or set the Codegen API token and organization id used for every run from "
        "the next API call on, and the secret that signs webhooks. get shows where each "
        "value comes from (runtime, environment or unset); a token or secret is only ever "
        "shown masked. Key org_webhook reads or sets the organization's run webhook at "
        "Codegen (a URL, or off; its secret never shown).",
    ),
    "list": ToolSpec(
        "List tracked tasks",
        READS_STORE,
        TaskList,
        "The tasks codegen-mcp tracks, newest first, optionally filtered.",
    ),
    "task_status": ToolSpec(
        "Check a task, waiting for a change",
        READS_STORE,
        TaskStatus,
        "Where a task is: state (queued, running, paused, completed, failed, cancelled), "
        "the agent's result, error, pull requests and links. With wait (seconds, at most "
        "25) it returns as soon as the state or the Codegen status changes, or when the "
        "wait is over, so call it again with wait=25 to follow a run without polling "
        "fast; a task already paused, completed, failed or cancelled answers at once.",
    ),
    "tree": ToolSpec(
        "Show an orchestration tree",
        READS_STORE,
        Tree,
        "The hierarchy of agent runs below an orchestrator run (give agent_run_id or "
        "task_id, at most one): each run's state, a summary of its result, and whether "
        "that result was delivered to its orchestrator. With neither: every hierarchy "
        "(`trees`), newest first, at most `limit`.",
    ),
    "cancel": ToolSpec(
        "Cancel a task",
        STOPS_RUN,
        Cancelled,
        "Cancel a task. The Codegen API cannot cancel a run: a queued task is cancelled "
        "before anything reaches Codegen, and a running one is no longer followed (its "
        "run goes on upstream). With scope pull_request, every agent working on the "
        "run's pull request is stopped, and the task turns cancelled when the API says so.",
    ),
    "logs": ToolSpec(
        "Read an agent's log",
        READS_API,
        Logs,
        "What the agent of a run did, step by step, from the Codegen API: each entry's "
        "time, type, tool and a short text. Give task_id or agent_run_id (exactly one).",
    ),
}


class RawArguments(ArgModelBase):
    """The SDK's argument model for our tools: it takes any object and hands it on as sent
    (no coercion, nothing dropped), for schemas.py to judge as it does for HTTP."""

    model_config = ConfigDict(extra="allow")

    def model_dump_one_level(self) -> dict[str, Any]:
        """The arguments exactly as the client sent them."""
        return dict(self.model_extra or {})


def tool(name: str, spec: ToolSpec, run: Runner) -> Tool:
    """The tool for command `name`: schemas.py's rules as its input schema, the arguments
    handed to `run` as sent, its answer described by `spec.answer`'s output schema."""

    async def call(**arguments: Any) -> Any:
        return await run(name, arguments)

    return Tool(
        fn=call,
        name=name,
        title=spec.title,
        description=spec.description,
        parameters=input_schema(schemas.SCHEMAS[name]),
        fn_metadata=FuncMetadata(arg_model=RawArguments, output_model=spec.answer),
        is_async=True,
        context_kwarg=None,
        annotations=spec.annotations,
    )


def all_tools(run: Runner) -> list[Tool]:
    """One tool per command, in the order of TOOLS, each handing its call to `run`."""
    return [tool(name, spec, run) for name, spec in TOOLS.items()]


def tool_result(name: str, answer: Any) -> CallToolResult:
    """The result tool `name` gives for `answer` (structured content and its text), as the
    SDK builds it for a call: what an MCP task that ends with this answer carries."""
    metadata = FuncMetadata(arg_model=RawArguments, output_model=TOOLS[name].answer)
    result = metadata.convert_result(answer)
    assert isinstance(result, CallToolResult)
    return result
