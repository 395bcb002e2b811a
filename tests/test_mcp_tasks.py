"""MCP Tasks (`io.modelcontextprotocol/tasks`) through the official Python SDK client, with a
client-side extension (tests/tasks_client.py), over stdio and Streamable HTTP.

Runs go through a real Celery worker against the simulator; the MCP server is the
`codegen-mcp mcp` command, restarted where a test says so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent

from codegen_mcp.mcp_server import create_server
from codegen_mcp.services import Services
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import Simulator
from tests import tasks_client
from tests.mcp_hosts import Servers
from tests.support import Worker
from tests.tasks_client import CreatedTask, TasksClient

FAST = "[sim:active=0.3] [sim:eval=0]"
TRANSPORTS = ["stdio", "http"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=TRANSPORTS)
def servers(
    request: pytest.FixtureRequest, settings: Settings, worker: Worker, tmp_path: Path
) -> Iterator[Servers]:
    running = Servers(request.param, settings, tmp_path)
    try:
        yield running
    finally:
        running.stop()


# -- helpers ----------------------------------------------------------------------------
def text(result: CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, TextContent))


async def start_task(client: Client, tool: str, args: dict[str, Any]) -> CreatedTask:
    """The task a declaring client's call answers with (not resolved)."""
    created = await client.session.call_tool(tool, args, allow_claimed=True)
    assert isinstance(created, CreatedTask), created
    return created


async def until(client: Client, task_id: str, *statuses: str) -> dict[str, Any]:
    """Poll tasks/get until the task is in one of `statuses`."""
    deadline = time.monotonic() + 30
    while True:
        now = await tasks_client.get(client.session, task_id)
        if now["status"] in statuses:
            return now
        assert time.monotonic() < deadline, f"task never became {statuses}: {now}"
        await anyio.sleep(0.2)


async def plain(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, text(result)
    assert isinstance(result.structured_content, dict)
    return result.structured_content


# -- the tests --------------------------------------------------------------------------
@pytest.mark.anyio
async def test_a_declaring_client_gets_a_run_as_a_task_and_then_its_result(
    servers: Servers,
) -> None:
    tasks = TasksClient()
    async with servers.client(tasks) as client:
        assert "io.modelcontextprotocol/tasks" in (client.server_capabilities.extensions or {})
        result = await client.call_tool(
            "new", {"repo": "acme/demo", "query": "Add a README [sim:active=1.5] [sim:eval=0]"}
        )
        created = tasks.created[0]
        assert created.status == "working" and created.ttl_ms == 30 * 24 * 3600 * 1000
        assert created.poll_interval_ms == 3000
        assert result.structured_content and result.structured_content["state"] == "completed"
        assert result.structured_content["task_id"] == created.task_id  # our task id
        # what task_status gives, with new's message (new's output schema asks for it)
        status = await plain(client, "task_status", {"task_id": created.task_id})
        final = dict(result.structured_content)
        assert final.pop("message").endswith("completed.") and final == status
        assert json.loads(text(result)) == result.structured_content
        working = [seen for seen in tasks.seen if seen["status"] == "working"]
        assert working and working[-1]["statusMessage"].startswith("running (")
        follow_up = {"agent_run_id": status["agent_run_id"], "query": f"And tests {FAST}"}
        resumed = await client.call_tool("resume", follow_up)  # resume is a task as well
        assert resumed.structured_content and tasks.created[1].task_id != created.task_id
        assert resumed.structured_content["task_id"] == tasks.created[1].task_id
        assert resumed.structured_content["metadata"]["command"] == "resume"
        assert resumed.structured_content["state"] == "completed"


@pytest.mark.anyio
async def test_a_task_survives_a_restart_of_the_mcp_server(
    servers: Servers, sim: Simulator
) -> None:
    async with servers.client(TasksClient()) as client:
        created = await start_task(client, "new", {"repo": "acme/demo", "query": "[sim:stuck]"})
        running = await until(client, created.task_id, "working")
        assert running["pollIntervalMs"] == 3000  # seconds: a look reads one hash
        status = await plain(client, "task_status", {"task_id": created.task_id, "wait": 10})
    servers.restart()  # over stdio, the next client starts a new server process anyway
    async with servers.client(TasksClient()) as client:
        now = await until(client, created.task_id, "working")
        assert now["createdAt"] == created.created_at
        run_id = (
            status["agent_run_id"]
            or (await plain(client, "task_status", {"task_id": created.task_id, "wait": 10}))[
                "agent_run_id"
            ]
        )
        sim.transition(run_id, "COMPLETE", "Done after the restart")
        done = await until(client, created.task_id, "completed", "failed", "cancelled")
        assert done["status"] == "completed", done
        assert done["result"]["structuredContent"]["result"] == "Done after the restart"


@pytest.mark.anyio
async def test_a_paused_run_asks_and_one_answer_sent_twice_resumes_it_once(
    servers: Servers, sim: Simulator
) -> None:
    async with servers.client(TasksClient()) as client:
        query = f"Which database? [sim:paused] {FAST}"
        created = await start_task(client, "new", {"repo": "acme/demo", "query": query})
        asking = await until(client, created.task_id, "input_required")
        [(key, request)] = asking["inputRequests"].items()
        assert request["method"] == "elicitation/create"
        assert "asks:" in request["params"]["message"]
        schema = request["params"]["requestedSchema"]
        assert schema["type"] == "object" and schema["required"] == ["answer"]
        assert schema["properties"]["answer"]["type"] == "string"
        answer = {key: {"action": "accept", "content": {"answer": f"Use Postgres {FAST}"}}}
        async with anyio.create_task_group() as group:  # the same answer, twice at once
            for _ in range(2):
                group.start_soon(tasks_client.update, client.session, created.task_id, answer)
        done = await until(client, created.task_id, "completed", "failed", "cancelled")
        assert done["status"] == "completed", done
        await tasks_client.update(client.session, created.task_id, answer)  # late: ignored
        first = await plain(client, "task_status", {"task_id": created.task_id})
        resumes = sim.run(first["agent_run_id"])["resumes"]
        assert [r["prompt"].startswith("Use Postgres") for r in resumes] == [True], resumes
        final = done["result"]["structuredContent"]
        assert final["task_id"] != created.task_id  # the resume's task: the newest of the run
        assert final["metadata"]["command"] == "resume" and final["state"] == "completed"


@pytest.mark.anyio
async def test_a_question_can_be_declined_or_the_task_cancelled_while_it_asks(
    servers: Servers,
) -> None:
    async with servers.client(TasksClient()) as client:
        args = {"repo": "acme/demo", "query": f"Which database? [sim:paused] {FAST}"}
        declined = await start_task(client, "new", args)
        [key] = (await until(client, declined.task_id, "input_required"))["inputRequests"]
        blank = {key: {"action": "accept", "content": {"answer": "  "}}}
        with pytest.raises(MCPError) as refused:
            await tasks_client.update(client.session, declined.task_id, blank)
        assert refused.value.error.code == -32602
        assert f"inputResponses.{key}.content.answer" in refused.value.error.message
        await tasks_client.update(client.session, declined.task_id, {key: {"action": "decline"}})
        done = await until(client, declined.task_id, "completed")
        assert done["result"]["structuredContent"]["state"] == "paused"  # the run, as it is
        asking = await start_task(client, "new", args)
        await until(client, asking.task_id, "input_required")
        await tasks_client.cancel(client.session, asking.task_id)
        cancelled = await until(client, asking.task_id, "cancelled")
        assert "stays paused" in cancelled["statusMessage"]
        status = await plain(client, "task_status", {"task_id": asking.task_id})
        assert status["state"] == "paused"


@pytest.mark.anyio
async def test_cancelling_a_task_stops_following_its_run_and_can_be_repeated(
    servers: Servers,
) -> None:
    async with servers.client(TasksClient()) as client:
        created = await start_task(client, "new", {"repo": "acme/demo", "query": "[sim:stuck]"})
        await plain(client, "task_status", {"task_id": created.task_id, "wait": 10})
        for _ in range(2):  # idempotent: the second is acknowledged as well
            acknowledged = await tasks_client.cancel(client.session, created.task_id)
            assert acknowledged["resultType"] == "complete"
        now = await until(client, created.task_id, "cancelled")
        assert "goes on upstream" in now["statusMessage"]
        with pytest.raises(MCPError) as unknown:
            await tasks_client.cancel(client.session, "0" * 36)
        assert unknown.value.error.code == -32602


@pytest.mark.anyio
async def test_a_failed_run_is_a_failed_task_with_an_error(servers: Servers) -> None:
    async with servers.client(TasksClient()) as client:
        query = f"Break [sim:error] {FAST}"
        created = await start_task(client, "new", {"repo": "acme/demo", "query": query})
        failed = await until(client, created.task_id, "failed", "completed", "cancelled")
        assert failed["status"] == "failed", failed
        assert failed["error"]["code"] == -32603 and failed["error"]["message"]
        assert failed["error"]["data"]["state"] == "failed"


@pytest.mark.anyio
async def test_a_client_without_the_extension_gets_todays_plain_answer(
    servers: Servers,
) -> None:
    async with servers.client() as client:
        started = await plain(client, "new", {"repo": "acme/demo", "query": FAST})
        assert started["task_id"] and started["state"] in ("queued", "running")
        with pytest.raises(MCPError) as refused:
            await tasks_client.get(client.session, started["task_id"])
        assert refused.value.error.code == -32021  # it never declared the extension
    async with servers.client(TasksClient(), mode="legacy") as client:  # the 2025 handshake
        started = await plain(client, "new", {"repo": "acme/demo", "query": FAST})
        assert started["state"] in ("queued", "running")


@pytest.mark.anyio
async def test_task_status_with_wait_reports_progress_to_a_caller_that_asks(
    servers: Servers,
) -> None:
    async with servers.client() as client:
        started = await plain(client, "new", {"repo": "acme/demo", "query": "[sim:stuck]"})
        await plain(client, "task_status", {"task_id": started["task_id"], "wait": 10})
        seen: list[tuple[float, float | None, str | None]] = []

        async def progress(done: float, total: float | None, message: str | None) -> None:
            seen.append((done, total, message))

        args = {"task_id": started["task_id"], "wait": 6}
        status = await client.call_tool("task_status", args, progress_callback=progress)
        assert not status.is_error and seen, "no progress while waiting"
        assert all(total == 6 for _, total, _ in seen)
        assert [done for done, _, _ in seen] == sorted(done for done, _, _ in seen)
        assert "waiting for the task to change" in (seen[0][2] or "")
        await plain(client, "cancel", {"task_id": started["task_id"]})


@pytest.mark.anyio
async def test_tasks_turned_off_answer_a_declaring_client_plainly(
    settings: Settings, worker: Worker
) -> None:
    off = settings.with_(mcp_tasks=False)
    services = Services(off, off.redis_url or "")
    async with Client(create_server(lambda: services), extensions=[TasksClient()]) as client:
        assert "io.modelcontextprotocol/tasks" not in (client.server_capabilities.extensions or {})
        args = {"repo": "acme/demo", "query": FAST}
        result = await client.session.call_tool("new", args, allow_claimed=True)
        assert isinstance(result, CallToolResult) and not result.is_error
        assert result.structured_content and result.structured_content["task_id"]
    assert Settings.from_env({"CODEGEN_MCP_TASKS": "0"}).mcp_tasks is False
    assert Settings.from_env({}).mcp_tasks is True


@pytest.mark.anyio
@pytest.mark.parametrize(("days", "ttl_ms"), [(0.5, 12 * 3600 * 1000), (0, None)])
async def test_a_tasks_ttl_is_the_retention_the_deployment_keeps_it(
    settings: Settings, worker: Worker, days: float, ttl_ms: int | None
) -> None:
    """Retention removes a settled task after CODEGEN_MCP_RETENTION_DAYS: ttlMs says so (a
    promise of a week would be false at half a day), and null when tasks are kept for ever."""
    kept = settings.with_(retention_days=days)
    services = Services(kept, kept.redis_url or "")
    async with Client(create_server(lambda: services), extensions=[TasksClient()]) as client:
        created = await start_task(client, "new", {"repo": "acme/demo", "query": FAST})
        assert created.ttl_ms == ttl_ms
        assert (await tasks_client.get(client.session, created.task_id)).get("ttlMs") == ttl_ms
