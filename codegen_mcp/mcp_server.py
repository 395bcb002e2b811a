"""The MCP front: the commands as MCP tools, thin over the service layer.

Each tool hands its arguments to `commands.execute`, so schemas.py stays the one
validation for every front; a CodegenMCPError comes back as a ToolError the model can read
and act on. The input schemas publish the rules schemas.py enforces (patterns, ranges,
choices), read from its fields, so the model sees them without a second copy to drift.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Annotated, Any, NotRequired, cast

import redis
from marshmallow import Schema, missing, validate
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from pydantic import AnyHttpUrl, ConfigDict, Field, with_config
from typing_extensions import TypedDict

from codegen_mcp import __version__, commands, schemas
from codegen_mcp.errors import CodegenMCPError
from codegen_mcp.services import Services
from codegen_mcp.serving import is_loopback

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
codegen-mcp runs Codegen coding agents on GitHub repositories. A run takes minutes: `new` \
(or `resume`, for a follow-up to an existing run) answers at once with a task_id, and the run \
goes on in the background. Follow it with `task_status` and `wait` (up to 25 seconds): the \
call returns as soon as the task changes, so call it again until `state` is completed, \
failed, cancelled or paused (a paused agent asks a question in `result`: answer it with \
`resume`). `list` shows the tasks already tracked; `config` sets the Codegen API token and \
organization id when they are missing."""

# -- what the tools answer (the output schemas); extra keys pass through unchanged -------
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
    tree: dict[str, Any]


# -- hints for hosts (a host may ask the user before a tool that is not read-only) -------
STARTS_RUN = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
# `set` replaces the stored value (not additive), and setting it twice changes nothing more.
SETS_CONFIG = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
READS_STORE = ToolAnnotations(read_only_hint=True, open_world_hint=False)


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
        **_bearer_auth(auth_token),
    )

    def run(command: str, args: dict[str, Any]) -> Any:
        # An argument sent as null counts as not given, as the input schema allows.
        given = {name: value for name, value in args.items() if value is not None}
        try:
            return commands.execute(services(), command, given)
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

    return server


# -- the HTTP transport's guards ---------------------------------------------------------
class SharedSecret(TokenVerifier):
    """Accepts exactly one bearer token: CODEGEN_MCP_AUTH_TOKEN."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def verify_token(self, token: str) -> AccessToken | None:
        if not hmac.compare_digest(token.strip().encode(), self.token.encode()):
            return None
        return AccessToken(token=token, client_id="codegen-mcp", scopes=[])


def _bearer_auth(token: str | None) -> dict[str, Any]:
    if not token:
        return {}
    # AuthSettings needs an issuer even for a shared secret; with no resource_server_url the
    # SDK publishes no OAuth metadata, so this placeholder is never shown or fetched.
    settings = AuthSettings(
        issuer_url=AnyHttpUrl("https://codegen-mcp.invalid"), resource_server_url=None
    )
    return {"token_verifier": SharedSecret(token), "auth": settings}


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def transport_security(host: str, allowed_hosts: list[str]) -> TransportSecuritySettings | None:
    """DNS-rebinding protection: the Host (and Origin) a request may name.

    Loopback names are always allowed; `allowed_hosts` adds the names a proxy or DNS gives
    the server (a name without a port allows any port). Bound beyond loopback with no names
    given, any Host is accepted, and the bearer token (required there) is the guard.
    """
    if not allowed_hosts and not is_loopback(host):
        return None
    names = [*LOOPBACK_HOSTS, *allowed_hosts]
    hosts = [pattern for name in names for pattern in _with_any_port(name)]
    origins = [f"{scheme}://{pattern}" for pattern in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def _with_any_port(name: str) -> list[str]:
    has_port = name.rsplit(":", 1)[-1].isdigit() and not name.endswith("]")
    return [name] if has_port else [name, f"{name}:*"]
