"""The MCP front: the commands as MCP tools, thin over the service layer.

Each tool hands its arguments to `commands.execute`, so schemas.py stays the one
validation for every front; a CodegenMCPError comes back as a ToolError the model can read
and act on. The input schemas publish the rules schemas.py enforces (patterns, ranges,
choices), read from its fields, so the model sees them without a second copy to drift.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, cast

import redis
from marshmallow import Schema, missing, validate
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from codegen_mcp import __version__, clients, commands, schemas
from codegen_mcp.errors import CodegenMCPError
from codegen_mcp.mcp_answers import (
    Cancelled,
    ConfigAnswer,
    Logs,
    Started,
    TaskList,
    TaskStatus,
    Tree,
)
from codegen_mcp.mcp_http import bearer_auth
from codegen_mcp.services import Services

log = logging.getLogger(__name__)

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


def _rules(schema: type[Schema], name: str) -> dict[str, Any]:
    """JSON-schema keywords for what schemas.py enforces on one field (published, not checked)."""
    field = schema().fields[name]
    rules: dict[str, Any] = {}
    if field.load_default is not missing:
        rules["default"] = field.load_default
    for rule in field.validators:
        if isinstance(rule, validate.Regexp):
            rules["pattern"] = rule.regex.pattern
        elif isinstance(rule, validate.Length):
            rules.update(_bounds("minLength", rule.min, "maxLength", rule.max))
        elif isinstance(rule, validate.Range):
            low = "minimum" if rule.min_inclusive else "exclusiveMinimum"
            high = "maximum" if rule.max_inclusive else "exclusiveMaximum"
            rules.update(_bounds(low, rule.min, high, rule.max))
        elif isinstance(rule, validate.OneOf):
            rules["enum"] = list(rule.choices)
    return rules


def _bounds(low_key: str, low: Any, high_key: str, high: Any) -> dict[str, Any]:
    return {key: value for key, value in ((low_key, low), (high_key, high)) if value is not None}


def _arg(description: str, schema: type[Schema], name: str) -> Any:
    return Field(description=description, json_schema_extra=_rules(schema, name))


def create_server(
    services: Callable[[], Services],
    *,
    auth_token: str | None = None,
) -> MCPServer:
    """The MCP server; `services` returns this process's Services for each call.

    With `auth_token`, the HTTP transport demands `Authorization: Bearer <auth_token>`.
    """
    server: MCPServer = MCPServer(
        "codegen-mcp",
        title="Codegen agents",
        version=__version__,
        instructions=INSTRUCTIONS,
        website_url="https://codegen.com",
        **bearer_auth(auth_token),
    )
    server.middleware.append(clients.McpClientIdentity(lambda: services().settings))

    def run(command: str, args: dict[str, Any]) -> Any:
        # An argument sent as null counts as not given, as the input schema allows.
        given = {name: value for name, value in args.items() if value is not None}
        try:
            return commands.execute(services(), command, given, clients.of_mcp())
        except CodegenMCPError as exc:
            raise ToolError(exc.message) from exc
        except redis.RedisError as exc:
            log.warning("%s: the task store is unreachable: %r", command, exc)
            raise ToolError(
                f"the task store (Redis) is unreachable ({type(exc).__name__}); "
                "is REDIS_URL right, or the codegen-mcp stack running?"
            ) from exc

    @server.tool(
        name="new",
        title="Start a Codegen agent run",
        annotations=STARTS_RUN,
        description=(
            "Start a Codegen coding agent on a GitHub repository. Answers within seconds with "
            "a task_id (and the run's agent_run_id and web_url once the run has started); "
            "the run itself takes minutes. Follow it with task_status(task_id, wait=25) until "
            "state is completed, failed, cancelled or paused; a completed run's result and "
            "pull_requests say what the agent did."
        ),
    )
    def new(
        repo: Annotated[
            str,
            _arg(
                "The GitHub repository as owner/name (e.g. acme/demo); the Codegen "
                "organization must have it.",
                schemas.NewArgs,
                "repo",
            ),
        ],
        query: Annotated[
            str,
            _arg("What the agent should do, in plain words.", schemas.NewArgs, "query"),
        ],
        branch: Annotated[
            str | None,
            _arg("The branch to work from.", schemas.NewArgs, "branch"),
        ] = None,
        pr: Annotated[
            int | None,
            _arg("The number of a pull request the work is about.", schemas.NewArgs, "pr"),
        ] = None,
        task: Annotated[
            str | None,
            _arg(
                "A task type stated to the agent, e.g. CREATE_PLAN, IMPLEMENT, REVIEW.",
                schemas.NewArgs,
                "task",
            ),
        ] = None,
        orchestrator_run_id: Annotated[
            int | None,
            _arg(
                "The agent run that orchestrates this one: the result is delivered to it.",
                schemas.NewArgs,
                "orchestrator_run_id",
            ),
        ] = None,
    ) -> Started:
        return cast(
            Started,
            run(
                "new",
                {
                    "repo": repo,
                    "query": query,
                    "branch": branch,
                    "pr": pr,
                    "task": task,
                    "orchestrator_run_id": orchestrator_run_id,
                },
            ),
        )

    @server.tool(
        name="resume",
        title="Send a follow-up to an agent run",
        annotations=STARTS_RUN,
        description=(
            "Send a follow-up message to an existing Codegen agent run (to answer a paused "
            "agent's question, or to ask for more work). It is a new task, answered at once "
            "with its task_id and followed like new: task_status(task_id, wait=25) until it "
            "settles."
        ),
    )
    def resume(
        agent_run_id: Annotated[
            int,
            _arg("The agent run to continue.", schemas.ResumeArgs, "agent_run_id"),
        ],
        query: Annotated[
            str,
            _arg("The follow-up message for the agent.", schemas.ResumeArgs, "query"),
        ],
        task: Annotated[
            str | None,
            _arg("A task type stated to the agent, e.g. IMPLEMENT.", schemas.ResumeArgs, "task"),
        ] = None,
        orchestrator_run_id: Annotated[
            int | None,
            _arg(
                "The agent run that orchestrates this one: the result is delivered to it.",
                schemas.ResumeArgs,
                "orchestrator_run_id",
            ),
        ] = None,
    ) -> Started:
        args = {"agent_run_id": agent_run_id, "query": query, "task": task}
        return cast(Started, run("resume", {**args, "orchestrator_run_id": orchestrator_run_id}))

    @server.tool(
        name="config",
        title="Read or set the Codegen credentials",
        annotations=SETS_CONFIG,
        description=(
            "Read or set the Codegen API token and organization id used for every run from "
            "the next API call on. get shows where each value comes from (runtime, "
            "environment or unset); a token is only ever shown masked."
        ),
    )
    def config(
        action: Annotated[str, _arg("set or get.", schemas.ConfigArgs, "action")],
        key: Annotated[
            str | None,
            _arg(
                "api_token or org_id; get without a key shows both.",
                schemas.ConfigArgs,
                "key",
            ),
        ] = None,
        value: Annotated[
            str | int | None,
            _arg(
                "The new value, for set: the token, or the organization id (an integer).",
                schemas.ConfigArgs,
                "value",
            ),
        ] = None,
    ) -> ConfigAnswer:
        return cast(ConfigAnswer, run("config", {"action": action, "key": key, "value": value}))

    @server.tool(
        name="list",
        title="List tracked tasks",
        annotations=READS_STORE,
        description="The tasks codegen-mcp tracks, newest first, optionally filtered.",
    )
    def list_tasks(
        status: Annotated[
            str | None,
            _arg(
                "A task state (queued, running, paused, completed, failed, cancelled) or a "
                "Codegen status such as ACTIVE.",
                schemas.ListArgs,
                "status",
            ),
        ] = None,
        limit: Annotated[
            int | None, _arg("How many tasks at most.", schemas.ListArgs, "limit")
        ] = None,
        repo: Annotated[
            str | None, _arg("Only tasks on this owner/name.", schemas.ListArgs, "repo")
        ] = None,
        orchestrator_run_id: Annotated[
            int | None,
            _arg(
                "Only tasks orchestrated by this agent run.",
                schemas.ListArgs,
                "orchestrator_run_id",
            ),
        ] = None,
    ) -> TaskList:
        args = {"status": status, "limit": limit, "repo": repo}
        return cast(TaskList, run("list", {**args, "orchestrator_run_id": orchestrator_run_id}))

    @server.tool(
        name="task_status",
        title="Check a task, waiting for a change",
        annotations=READS_STORE,
        description=(
            "Where a task is: state (queued, running, paused, completed, failed, cancelled), "
            "the agent's result, error, pull requests and links. With wait (seconds, at most "
            "25) it returns as soon as the state or the Codegen status changes, or when the "
            "wait is over, so call it again with wait=25 to follow a run without polling "
            "fast; a task already paused, completed, failed or cancelled answers at once."
        ),
    )
    def task_status(
        task_id: Annotated[
            str, _arg("The task_id new or resume answered.", schemas.TaskStatusArgs, "task_id")
        ],
        wait: Annotated[
            float | None,
            _arg(
                "Seconds to wait for a change before answering.",
                schemas.TaskStatusArgs,
                "wait",
            ),
        ] = None,
    ) -> TaskStatus:
        return cast(TaskStatus, run("task_status", {"task_id": task_id, "wait": wait}))

    @server.tool(
        name="tree",
        title="Show an orchestration tree",
        annotations=READS_STORE,
        description=(
            "The hierarchy of agent runs below an orchestrator run (give agent_run_id or "
            "task_id, exactly one): each run's state, a summary of its result, and whether "
            "that result was delivered to its orchestrator."
        ),
    )
    def tree(
        agent_run_id: Annotated[
            int | None, _arg("The agent run at the top.", schemas.TreeArgs, "agent_run_id")
        ] = None,
        task_id: Annotated[
            str | None, _arg("A task of the run at the top.", schemas.TreeArgs, "task_id")
        ] = None,
    ) -> Tree:
        return cast(Tree, run("tree", {"agent_run_id": agent_run_id, "task_id": task_id}))

    @server.tool(
        name="cancel",
        title="Cancel a task",
        annotations=STOPS_RUN,
        description=(
            "Cancel a task. The Codegen API cannot cancel a run: a queued task is cancelled "
            "before anything reaches Codegen, and a running one is no longer followed (its "
            "run goes on upstream). With scope pull_request, every agent working on the "
            "run's pull request is stopped, and the task turns cancelled when the API says so."
        ),
    )
    def cancel(
        task_id: Annotated[str, _arg("The task to cancel.", schemas.CancelArgs, "task_id")],
        scope: Annotated[
            str | None,
            _arg(
                "pull_request: stop the agents working on the run's pull request.",
                schemas.CancelArgs,
                "scope",
            ),
        ] = None,
    ) -> Cancelled:
        return cast(Cancelled, run("cancel", {"task_id": task_id, "scope": scope}))

    @server.tool(
        name="logs",
        title="Read an agent's log",
        annotations=READS_API,
        description=(
            "What the agent of a run did, step by step, from the Codegen API: each entry's "
            "time, type, tool and a short text. Give task_id or agent_run_id (exactly one)."
        ),
    )
    def logs(
        task_id: Annotated[
            str | None, _arg("A task whose run to read.", schemas.LogsArgs, "task_id")
        ] = None,
        agent_run_id: Annotated[
            int | None, _arg("The agent run to read.", schemas.LogsArgs, "agent_run_id")
        ] = None,
        limit: Annotated[
            int | None, _arg("How many entries at most.", schemas.LogsArgs, "limit")
        ] = None,
        skip: Annotated[
            int | None, _arg("How many entries to skip first.", schemas.LogsArgs, "skip")
        ] = None,
        reverse: Annotated[bool | None, _arg("Newest first.", schemas.LogsArgs, "reverse")] = None,
    ) -> Logs:
        args = {"task_id": task_id, "agent_run_id": agent_run_id, "limit": limit, "skip": skip}
        return cast(Logs, run("logs", {**args, "reverse": reverse}))

    return server
