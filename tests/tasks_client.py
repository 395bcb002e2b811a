"""A client side of the MCP Tasks extension on the official Python SDK's seam, for the tests.

`TasksClient` is a `ClientExtension`: it declares `io.modelcontextprotocol/tasks` and claims
`resultType: "task"`, so `Client.call_tool` resolves a task to its tool result by polling
`tasks/get` (answering input requests with `answer`). The raw requests are here too, for
tests that drive a task themselves (`client.session.call_tool(..., allow_claimed=True)`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

import anyio
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.session import ClientSession
from mcp_types import CallToolResult, Request, RequestParams, Result
from pydantic import ConfigDict, Field

IDENTIFIER = "io.modelcontextprotocol/tasks"
FINAL = {"completed", "failed", "cancelled"}


class CreatedTask(Result):
    """A `CreateTaskResult`: the task a tool call answered with."""

    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"] = Field(alias="resultType")
    task_id: str = Field(alias="taskId")
    status: str
    created_at: str = Field(alias="createdAt")
    last_updated_at: str = Field(alias="lastUpdatedAt")
    ttl_ms: int | None = Field(alias="ttlMs")
    poll_interval_ms: int | None = Field(default=None, alias="pollIntervalMs")
    status_message: str | None = Field(default=None, alias="statusMessage")


class TaskNow(Result):
    """A `tasks/get` answer (or the empty acknowledgement of update and cancel)."""

    model_config = ConfigDict(extra="allow")


class TaskParams(RequestParams):
    task_id: str = Field(alias="taskId")


class UpdateParams(TaskParams):
    input_responses: dict[str, Any] = Field(alias="inputResponses")


class GetTask(Request[TaskParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    name_param = "taskId"  # the Mcp-Name header the spec asks for on HTTP


class UpdateTask(Request[UpdateParams, Literal["tasks/update"]]):
    method: Literal["tasks/update"] = "tasks/update"
    name_param = "taskId"


class CancelTask(Request[TaskParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    name_param = "taskId"


async def get(session: ClientSession, task_id: str) -> dict[str, Any]:
    """`tasks/get`, as the server sent it."""
    answer = await session.send_request(GetTask(params=TaskParams(taskId=task_id)), TaskNow)
    return answer.model_dump(by_alias=True, mode="json", exclude_none=True)


async def update(session: ClientSession, task_id: str, responses: dict[str, Any]) -> dict[str, Any]:
    """`tasks/update`."""
    params = UpdateParams(taskId=task_id, inputResponses=responses)
    answer = await session.send_request(UpdateTask(params=params), TaskNow)
    return answer.model_dump(by_alias=True, mode="json", exclude_none=True)


async def cancel(session: ClientSession, task_id: str) -> dict[str, Any]:
    """`tasks/cancel`."""
    answer = await session.send_request(CancelTask(params=TaskParams(taskId=task_id)), TaskNow)
    return answer.model_dump(by_alias=True, mode="json", exclude_none=True)


Answerer = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]  # (key, request) -> response


class TasksClient(ClientExtension):
    """Declares the extension and resolves each task to its tool result."""

    identifier = IDENTIFIER

    def __init__(self, answer: Answerer | None = None, *, poll_cap: float = 0.3) -> None:
        self.answer = answer
        self.poll_cap = poll_cap  # the tests poll faster than the server asks (runs are quick)
        self.seen: list[dict[str, Any]] = []  # every tasks/get answer, for the tests to read
        self.created: list[CreatedTask] = []

    def claims(self) -> Sequence[ResultClaim[Any]]:
        return (ResultClaim(result_type="task", model=CreatedTask, resolve=self.resolve),)

    async def resolve(self, task: CreatedTask, ctx: ClaimContext) -> CallToolResult:
        """Poll until the task is final; its tool result (an error result if it failed)."""
        self.created.append(task)
        answered: set[str] = set()
        deadline = time.monotonic() + 60
        while True:
            now = await get(ctx.session, task.task_id)
            self.seen.append(now)
            if now["status"] in FINAL:
                return final_result(now)
            if now["status"] == "input_required" and self.answer is not None:
                for key, request in now["inputRequests"].items():
                    if key not in answered:  # the spec: deduplicate keys across polls
                        answered.add(key)
                        response = await self.answer(key, request)
                        await update(ctx.session, task.task_id, {key: response})
            assert time.monotonic() < deadline, f"task never finished: {now}"
            await anyio.sleep(min(now.get("pollIntervalMs", 1000) / 1000, self.poll_cap))


def final_result(task: dict[str, Any]) -> CallToolResult:
    """What a final task stands for, as a tool result."""
    if task["status"] == "completed":
        return CallToolResult.model_validate(task["result"])
    text = task.get("error", {}).get("message") or task.get("statusMessage") or task["status"]
    return CallToolResult(content=[{"type": "text", "text": text}], is_error=True)
