"""The MCP Tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663, protocol 2026-07-28)
on the official Python SDK's own extension seam, over a task backend of the caller's.

Standalone on purpose: it imports only the SDK, and knows nothing of what a task does. Give
`TasksExtension(backend)` to `MCPServer(extensions=[...])`; the backend (`TaskBackend`)
decides which tool calls become tasks, keeps them durably, and answers for them.

- `tools/call` from a client that declared the extension on that request (2026-07-28 wire):
  the backend may answer with a task (`resultType: "task"`), once it is durably recorded.
  A client that did not declare it, or speaks the 2025 handshake, always gets the plain
  result: the interceptor does not even ask the backend.
- `tasks/get`, `tasks/update`, `tasks/cancel`: served from the backend; -32021 for a client
  that did not declare the extension, -32602 for a task the backend does not know.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver.server import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolRequestParams, RequestParams
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import Field

IDENTIFIER = "io.modelcontextprotocol/tasks"
Status = Literal["working", "input_required", "completed", "failed", "cancelled"]
FINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
# The versions whose wire can carry a task: claimed result shapes are 2026-07-28 vocabulary.
TASK_VERSIONS = frozenset(MODERN_PROTOCOL_VERSIONS)


@dataclass(frozen=True)
class TaskView:
    """One task as `tasks/get` shows it (the spec's DetailedTask), in Python names."""

    task_id: str
    status: Status
    created_at: str  # ISO 8601
    last_updated_at: str  # ISO 8601
    ttl_ms: int | None  # None: kept without limit
    poll_interval_ms: int | None = None
    status_message: str | None = None
    result: dict[str, Any] | None = None  # completed: what the tool call would have returned
    error: dict[str, Any] | None = None  # failed: a JSON-RPC error object
    input_requests: dict[str, Any] | None = None  # input_required: key -> embedded request

    def wire(self) -> dict[str, Any]:
        """The task as sent: camelCase keys, optional fields only when set."""
        task: dict[str, Any] = {
            "taskId": self.task_id,
            "status": self.status,
            "createdAt": self.created_at,
            "lastUpdatedAt": self.last_updated_at,
            "ttlMs": self.ttl_ms,
        }
        optional = {
            "pollIntervalMs": self.poll_interval_ms,
            "statusMessage": self.status_message,
            "result": self.result if self.status == "completed" else None,
            "error": self.error if self.status == "failed" else None,
            "inputRequests": self.input_requests if self.status == "input_required" else None,
        }
        task.update({key: value for key, value in optional.items() if value is not None})
        return task


ToolCall = Callable[[], Awaitable[HandlerResult]]


class TaskBackend(Protocol):
    """Where tasks live. Every method may be called from any server process."""

    async def create(
        self, params: CallToolRequestParams, call: ToolCall
    ) -> TaskView | HandlerResult:
        """Run a tool call as a task: the task once it is durably recorded (so that `get`
        finds it from any process), or a plain result (`call()`'s, for a tool that is no
        task, or for a call refused before anything was recorded)."""
        ...

    async def get(self, task_id: str) -> TaskView | None:
        """The task now; None for a task that is unknown (or no longer kept)."""
        ...

    async def update(self, task_id: str, input_responses: dict[str, Any]) -> bool:
        """Take answers to the task's input requests (the same answer may come twice: act
        once); False for an unknown task."""
        ...

    async def cancel(self, task_id: str) -> bool:
        """Ask the task to stop (cooperative, idempotent); False for an unknown task."""
        ...


class TaskParams(RequestParams):
    """`tasks/get` and `tasks/cancel`."""

    task_id: str = Field(alias="taskId")


class UpdateParams(TaskParams):
    """`tasks/update`."""

    input_responses: dict[str, Any] = Field(alias="inputResponses")


def declared(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether this request's client declared the extension, on a wire that carries tasks."""
    if ctx.protocol_version not in TASK_VERSIONS:
        return False
    capabilities = ctx.session.client_capabilities
    return bool(capabilities and capabilities.extensions and IDENTIFIER in capabilities.extensions)


def not_found(task_id: str) -> MCPError:
    """The spec's error for a task id the server does not know (-32602)."""
    return MCPError(
        code=INVALID_PARAMS,
        message=f"Failed to retrieve task: Task not found ({task_id!r})",
        data={"taskId": task_id},
    )


class TasksExtension(Extension):
    """`io.modelcontextprotocol/tasks` over `backend`."""

    identifier = IDENTIFIER

    def __init__(self, backend: TaskBackend) -> None:
        self.backend = backend

    def methods(self) -> Sequence[MethodBinding]:
        """tasks/get, tasks/update and tasks/cancel, on the wire versions that carry tasks."""
        return (
            MethodBinding("tasks/get", TaskParams, self._get, TASK_VERSIONS),
            MethodBinding("tasks/update", UpdateParams, self._update, TASK_VERSIONS),
            MethodBinding("tasks/cancel", TaskParams, self._cancel, TASK_VERSIONS),
        )

    async def intercept_tool_call(
        self,
        params: CallToolRequestParams,
        ctx: ServerRequestContext[Any, Any],
        call_next: CallNext,
    ) -> HandlerResult:
        """A declaring client's call goes to the backend, which may answer with a task."""
        if not declared(ctx):
            return await call_next(ctx)
        outcome = await self.backend.create(params, lambda: call_next(ctx))
        if isinstance(outcome, TaskView):
            return {"resultType": "task", **outcome.wire()}
        return outcome

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskParams) -> HandlerResult:
        require_client_extension(ctx, IDENTIFIER)
        task = await self.backend.get(params.task_id)
        if task is None:
            raise not_found(params.task_id)
        return {"resultType": "complete", **task.wire()}

    async def _update(
        self, ctx: ServerRequestContext[Any, Any], params: UpdateParams
    ) -> HandlerResult:
        require_client_extension(ctx, IDENTIFIER)
        if not await self.backend.update(params.task_id, params.input_responses):
            raise not_found(params.task_id)
        return {"resultType": "complete"}

    async def _cancel(
        self, ctx: ServerRequestContext[Any, Any], params: TaskParams
    ) -> HandlerResult:
        require_client_extension(ctx, IDENTIFIER)
        if not await self.backend.cancel(params.task_id):
            raise not_found(params.task_id)
        return {"resultType": "complete"}
