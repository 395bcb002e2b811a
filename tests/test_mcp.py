"""The MCP front through real MCP clients: the SDK's `mcp.Client` in memory, over a stdio
subprocess and over Streamable HTTP, each in both protocol eras, and the MCP Inspector CLI.

Runs go through a real Celery worker against the simulator, so `completed` is the real thing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import requests
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from codegen_mcp import cli, commands
from codegen_mcp.local.processes import settings_env
from codegen_mcp.local.record import stack_file
from codegen_mcp.local.redis import free_port
from codegen_mcp.mcp_server import create_server
from codegen_mcp.services import Services
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import Simulator
from tests.support import ROOT, START_DEADLINE, STOP_DEADLINE, Worker, pid_alive, require, wait_for

# How a client asks for each protocol era, and the version it then speaks.
ERAS = {
    "2025-11-25": "legacy",  # the initialize handshake
    "2026-07-28": "auto",  # a server/discover probe, which our server answers
}
TOOLS = set(commands.COMMANDS)  # every command is a tool, under its own name
SETTLED = {"completed", "failed", "cancelled", "paused"}
QUICK = "[sim:active=0.2] [sim:eval=0]"
AUTH_TOKEN = "mcp-test-token-0123456789"
MCP_COMMAND = [sys.executable, "-m", "codegen_mcp.cli", "mcp"]
ALLOWED_HOST = "mcp.example.test"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- what every client must see -------------------------------------------------------
async def exercise(client: Client, era: str) -> None:
    """The tool list, a run from new to completed, a resume, config and bad inputs."""
    assert client.protocol_version == era
    await check_tools(client)
    await check_config(client)
    done = await follow(client, await ok(client, "new", {"repo": "acme/demo", "query": QUICK}))
    assert done["state"] == "completed", done
    assert done["result"] and done["pull_requests"] and done["codegen_status"] == "COMPLETE"
    assert done["metadata"]["repo"] == "acme/demo"
    args = {"agent_run_id": done["agent_run_id"], "query": f"Now add tests {QUICK}"}
    resumed = await follow(client, await ok(client, "resume", args))
    assert resumed["state"] == "completed", resumed
    assert resumed["agent_run_id"] == done["agent_run_id"]
    assert resumed["metadata"]["command"] == "resume"
    listed = await ok(client, "list", {"limit": 100})
    assert {done["task_id"], resumed["task_id"]} <= {row["task_id"] for row in listed["tasks"]}
    tree = await ok(client, "tree", {"task_id": done["task_id"]})
    assert tree["tree"]["agent_run_id"] == done["agent_run_id"]
    every = await ok(client, "tree", {"limit": 5})  # no run named: every hierarchy
    assert every["count"] == len(every["trees"]) <= 5
    logs = await ok(client, "logs", {"task_id": done["task_id"], "limit": 5})
    assert logs["agent_run_id"] == done["agent_run_id"] and logs["logs"]
    await check_cancel(client)
    await check_bad_inputs(client)


async def check_tools(client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and tool.title and tool.output_schema and tool.annotations
        for name, spec in tool.input_schema["properties"].items():
            assert spec.get("description"), f"{tool.name}.{name} has no description"
    new = tools["new"]
    assert new.input_schema["required"] == ["repo", "query"]
    assert new.input_schema["properties"]["repo"]["pattern"].startswith("^")
    assert new.input_schema["properties"]["pr"]["minimum"] == 1
    assert {"task_id", "agent_run_id", "state"} <= set(new.output_schema["properties"])
    wait = tools["task_status"].input_schema["properties"]["wait"]
    assert (wait["minimum"], wait["maximum"]) == (0, 25)
    assert tools["config"].input_schema["properties"]["action"]["enum"] == ["set", "get"]
    for name in ("list", "task_status", "tree", "logs"):
        assert tools[name].annotations.read_only_hint is True
    assert tools["cancel"].annotations.destructive_hint is True
    assert tools["config"].annotations.idempotent_hint is True
    for name in ("new", "resume"):
        hints = tools[name].annotations
        assert hints.destructive_hint is False and hints.open_world_hint is True


async def check_config(client: Client) -> None:
    answer = await ok(client, "config", {"action": "set", "key": "api-token", "value": "sim-token"})
    assert answer["key"] == "api_token" and "sim-token" not in json.dumps(answer)
    await ok(client, "config", {"action": "set", "key": "org_id", "value": 1})
    token = await ok(client, "config", {"action": "get", "key": "api_token"})
    assert token == {"key": "api_token", "value": "…", "source": "runtime"}  # too short to show
    both = await ok(client, "config", {"action": "get"})
    assert {row["key"]: row["source"] for row in both["config"]} == {
        "api_token": "runtime",
        "org_id": "runtime",
        "webhook_secret": "unset",
    }


async def check_cancel(client: Client) -> None:
    task = await ok(client, "new", {"repo": "acme/demo", "query": "Wait [sim:stuck]"})
    if task["state"] == "queued":  # the create took longer than new waits
        task = await ok(client, "task_status", {"task_id": task["task_id"], "wait": 20})
    assert task["state"] == "running", task
    cancelled = await ok(client, "cancel", {"task_id": task["task_id"]})
    assert cancelled["state"] == "cancelled" and "stopped watching" in cancelled["message"]


async def check_bad_inputs(client: Client) -> None:
    """Refused by schemas.py, as over HTTP, with a message naming the argument."""
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("new", {"repo": "acme/demo"}, "invalid arguments for 'new': query: Missing data"),
        ("new", {"repo": "acme/demo", "query": "x", "pr": "nine"}, "pr: Not a valid integer."),
        ("new", {"repo": "acme/demo", "query": "x", "orchestrator": 1}, "orchestrator: Unknown"),
        ("new", {"repo": "acme/demo", "query": "x", "pr": "9"}, "pr: Not a valid integer."),
        ("task_status", {"task_id": "0" * 36, "wait": "3"}, "wait: Not a valid number."),
        ("new", {"repo": "not a repo", "query": "x"}, "repo: Must be a repository as owner/name."),
        ("new", {"repo": "acme/demo", "query": "   "}, "query: Must not be blank."),
        ("new", {"repo": "acme/demo", "query": "x", "pr": 0}, "pr: Must be greater than"),
        ("resume", {"agent_run_id": 0, "query": "x"}, "agent_run_id: Must be greater than"),
        ("task_status", {"task_id": "no such id"}, "task_id: Not a valid task id."),
        ("task_status", {"task_id": "0" * 36, "wait": 26}, "wait: Must be greater than"),
        ("task_status", {"task_id": "0" * 36}, "no task with id '000"),
        ("config", {"action": "set", "key": "api_token"}, "value: Required when action is"),
        ("config", {"action": "delete"}, "action: Must be one of: set, get."),
        ("config", {"action": "get", "key": "colour"}, "unknown config key 'colour'"),
        ("list", {"limit": 500}, "limit: Must be greater than"),
        ("tree", {"agent_run_id": 1, "task_id": "0" * 36}, "at most one of agent_run_id or"),
        ("logs", {"task_id": "0" * 36, "agent_run_id": 1}, "exactly one of agent_run_id"),
        ("cancel", {"task_id": "0" * 36, "scope": "repo"}, "scope: The only scope is"),
    ]
    for tool, args, expected in cases:
        message = await tool_error(client, tool, args)
        assert expected in message, (tool, args, message)


async def follow(client: Client, started: dict[str, Any]) -> dict[str, Any]:
    """task_status with wait until the task settles; every wait ends early, on a change."""
    assert started["task_id"] and started["state"] in ("queued", "running"), started
    deadline = time.monotonic() + 30
    while True:
        asked = time.monotonic()
        status = await ok(client, "task_status", {"task_id": started["task_id"], "wait": 20})
        if status["state"] in SETTLED:
            return status
        assert time.monotonic() - asked < 15, f"wait did not end on a change: {status}"
        assert time.monotonic() < deadline, f"task never settled: {status}"


async def ok(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, text(result)
    assert isinstance(result.structured_content, dict)
    assert json.loads(text(result)) == result.structured_content  # what the model reads
    return result.structured_content


async def tool_error(client: Client, tool: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(tool, args)
    assert result.is_error, f"{tool}({args}) was accepted: {result.structured_content}"
    return text(result)


def text(result: CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, TextContent))


async def in_both_eras(connect: Callable[[str], AbstractAsyncContextManager[Client]]) -> None:
    """One client of each era at once, each through the whole exercise."""

    async def one(era: str) -> None:
        async with connect(ERAS[era]) as client:
            await exercise(client, era)

    async with anyio.create_task_group() as group:
        for era in ERAS:
            group.start_soon(one, era)


# -- in memory ------------------------------------------------------------------------
@pytest.mark.anyio
async def test_in_memory_clients_of_both_eras_run_tasks_to_completion(
    settings: Settings, worker: Worker
) -> None:
    services = Services(settings, settings.redis_url or "")
    server = create_server(lambda: services)
    await in_both_eras(lambda mode: Client(server, mode=mode))


# -- stdio ----------------------------------------------------------------------------
def stdio_server(env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(command=MCP_COMMAND[0], args=MCP_COMMAND[1:], env=env, cwd=ROOT)


@pytest.mark.anyio
async def test_stdio_clients_of_both_eras_run_tasks_to_completion(
    settings: Settings, worker: Worker
) -> None:
    server = stdio_server(settings_env(settings))
    await in_both_eras(lambda mode: Client(server, mode=mode))


@pytest.mark.parametrize("stop", ["stdin closed", "SIGTERM"])
def test_stdio_server_writes_only_protocol_to_stdout_and_exits_when_the_host_stops_it(
    settings: Settings, stop: str
) -> None:
    process = subprocess.Popen(
        MCP_COMMAND,
        cwd=ROOT,
        env=settings_env(settings),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin and process.stdout and process.stderr
    messages = [
        INITIALIZE,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        # A rejected call makes the server log; the log must not reach stdout.
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "new"}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
    ]
    try:
        for message in messages:
            process.stdin.write(json.dumps(message).encode() + b"\n")
        process.stdin.flush()
        # JSON-RPC pairs answers with requests by id, not by order: the tool call runs in a
        # worker thread, so tools/list may well be answered first.
        answers = [json.loads(process.stdout.readline()) for _ in range(3)]
        by_id = {a["id"]: a for a in answers}
        assert sorted(by_id) == [1, 2, 3]
        assert all(a["jsonrpc"] == "2.0" for a in answers)
        assert by_id[2]["result"]["isError"] is True
        if stop == "SIGTERM":
            process.send_signal(signal.SIGTERM)  # with stdin still open
        else:
            process.stdin.close()
        assert process.wait(STOP_DEADLINE) == 0
        assert process.stdout.read() == b""  # nothing after the answers either
        assert b"serving MCP on stdio" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout, process.stderr):
            pipe.close()


# -- Streamable HTTP ------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def http_server(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`codegen-mcp mcp --transport http` with a bearer token and one allowed host name,
    started with the module so that it is up by the time the HTTP tests run."""
    port = free_port()
    env = {
        **settings_env(settings),
        "CODEGEN_MCP_AUTH_TOKEN": AUTH_TOKEN,
        "CODEGEN_MCP_ALLOWED_HOSTS": ALLOWED_HOST,
        # These tests send many wrong tokens on purpose: never slow them (test_web_edge does).
        "CODEGEN_MCP_AUTH_FAILURE_LIMIT": "1000/60",
    }
    log = tmp_path_factory.mktemp("mcp-http") / "server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [*MCP_COMMAND, "--transport", "http", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}/mcp", process
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(STOP_DEADLINE) == 0
        print(log.read_text(errors="replace")[-3000:])


@pytest.fixture
def http_url(http_server: tuple[str, subprocess.Popen[bytes]]) -> str:
    url, process = http_server
    wait_for(lambda: _listening(url, process), START_DEADLINE, "the MCP HTTP server to listen")
    return url


def _listening(url: str, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "the MCP HTTP server exited; see its log below"
    try:
        requests.post(url, timeout=1)
    except (requests.ConnectionError, requests.Timeout):
        return False
    return True


@asynccontextmanager
async def http_client(url: str, mode: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {AUTH_TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=60.0)) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


@pytest.mark.anyio
async def test_http_clients_of_both_eras_run_tasks_to_completion(
    http_url: str, worker: Worker
) -> None:
    await in_both_eras(lambda mode: http_client(http_url, mode))


MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.mark.parametrize("token", [None, "wrong-token", AUTH_TOKEN + "x"])
def test_http_refuses_a_missing_or_wrong_bearer_token(http_url: str, token: str | None) -> None:
    headers = dict(MCP_HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = requests.post(http_url, json=INITIALIZE, headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("host", "status"),
    [(ALLOWED_HOST, 200), (f"{ALLOWED_HOST}:443", 200), ("attacker.example", 421)],
)
def test_http_answers_only_the_allowed_host_names(http_url: str, host: str, status: int) -> None:
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {AUTH_TOKEN}", "Host": host}
    response = requests.post(http_url, json=INITIALIZE, headers=headers, timeout=10)
    assert response.status_code == status, response.text


def test_http_beyond_loopback_without_a_token_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CODEGEN_MCP_AUTH_TOKEN", raising=False)
    assert cli.main(["mcp", "--transport", "http", "--host", "0.0.0.0"]) == 2
    assert "set CODEGEN_MCP_AUTH_TOKEN" in capsys.readouterr().err


# -- zero set-up: no REDIS_URL ----------------------------------------------------------
@pytest.mark.anyio
async def test_stdio_without_redis_url_runs_a_stack_that_outlives_any_one_host(
    settings: Settings, sim: Simulator, tmp_path: Path
) -> None:
    """Host A's server starts the embedded stack; B's and C's join it. A's crashes: B's takes
    over (stopping the Redis and worker A's left behind) and C's follows; B's exits: C's takes
    over. The task A started is there all along, and the last one out leaves nothing running."""
    data_dir = tmp_path / "data"
    env = {k: v for k, v in settings_env(settings).items() if k != "REDIS_URL"}
    env["CODEGEN_MCP_DATA_DIR"] = str(data_dir)
    stack = stack_file(data_dir)
    seen: dict[str, Any] = {}
    a_up, a_done, a_killed = anyio.Event(), anyio.Event(), anyio.Event()
    b_joined, c_joined, b_took_over, c_followed, b_closed = (anyio.Event() for _ in range(5))

    def stack_now() -> dict[str, Any]:
        info: dict[str, Any] = json.loads(stack.read_text())
        return info

    async def status(client: Client) -> dict[str, Any]:
        return await ok(client, "task_status", {"task_id": seen["task"]["task_id"]})

    async def host_a() -> None:
        async with Client(stdio_server(env)) as client:
            seen["a"] = stack_now()
            assert seen["a"]["started_by"] == "codegen-mcp mcp"
            a_up.set()
            started = await ok(client, "new", {"repo": "acme/demo", "query": QUICK})
            seen["task"] = await follow(client, started)
            a_done.set()
            await b_joined.wait()
            await c_joined.wait()
            os.kill(seen["a"]["pid"], signal.SIGKILL)  # the host's server dies hard
        # Left behind, in their own sessions: what the next server must stop before its own.
        assert pid_alive(seen["a"]["redis_pid"]) and pid_alive(seen["a"]["worker_pid"])
        assert stack_now() == seen["a"]
        a_killed.set()

    async def host_b() -> None:
        await a_up.wait()
        async with Client(stdio_server(env)) as client:
            await a_done.wait()
            assert await status(client) == seen["task"]
            assert stack_now() == seen["a"]  # joined A's: started nothing
            b_joined.set()
            await a_killed.wait()
            assert await status(client) == seen["task"]  # the same data, in B's Redis
            seen["b"] = stack_now()
            assert seen["b"]["pid"] != seen["a"]["pid"]
            assert not pid_alive(seen["a"]["redis_pid"]) and not pid_alive(seen["a"]["worker_pid"])
            b_took_over.set()
            await c_followed.wait()
        assert not stack.exists()
        assert not pid_alive(seen["b"]["redis_pid"]) and not pid_alive(seen["b"]["worker_pid"])
        b_closed.set()

    async def host_c() -> None:
        await a_up.wait()
        async with Client(stdio_server(env)) as client:
            await a_done.wait()
            assert await status(client) == seen["task"]
            c_joined.set()
            await b_took_over.wait()
            assert await status(client) == seen["task"]
            assert stack_now() == seen["b"]  # followed B's: started nothing
            c_followed.set()
            await b_closed.wait()
            assert await status(client) == seen["task"]  # taken over once B's was gone
            seen["c"] = stack_now()
            assert seen["c"]["pid"] not in (seen["a"]["pid"], seen["b"]["pid"])
        assert not stack.exists()
        assert not pid_alive(seen["c"]["redis_pid"]) and not pid_alive(seen["c"]["worker_pid"])

    with anyio.fail_after(90):
        async with anyio.create_task_group() as group:
            for host in (host_a, host_b, host_c):
                group.start_soon(host)
    assert seen["task"]["state"] == "completed"


# -- the MCP Inspector ----------------------------------------------------------------
INSPECTOR = ["npx", "-y", "@modelcontextprotocol/inspector", "--cli"]


@pytest.fixture(scope="module")
def inspector() -> list[str]:
    """The Inspector CLI, fetched by npx; a machine that cannot fetch it skips, saying why
    (under CI it fails: a broken install must show)."""
    require(shutil.which("npx"), "npx is not installed, so the MCP Inspector cannot run")
    try:
        fetched = subprocess.run(
            [*INSPECTOR, "--help"], capture_output=True, text=True, timeout=180
        )
    except subprocess.TimeoutExpired:
        require(False, "npx could not fetch @modelcontextprotocol/inspector within 180 s")
        raise  # not reached: require(False, ...) always skips or fails
    reason = (fetched.stderr or fetched.stdout).strip().splitlines()[-3:]
    require(
        fetched.returncode == 0,
        f"npx could not fetch @modelcontextprotocol/inspector: {' | '.join(reason)}",
    )
    return INSPECTOR


def test_inspector_cli_lists_the_tools_and_runs_a_task(
    inspector: list[str], settings: Settings, worker: Worker
) -> None:
    env = settings_env(settings)
    passed = [f"{name}={env[name]}" for name in env if name.startswith(("CODEGEN_", "REDIS_"))]
    server = [flag for pair in passed for flag in ("-e", pair)]
    server += MCP_COMMAND

    def start(*method: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*inspector, *server, *method],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def answer(run: subprocess.Popen[str]) -> dict[str, Any]:
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, out + err
        result: dict[str, Any] = json.loads(out)
        return result

    call = ["--method", "tools/call", "--tool-name"]
    listing = start("--method", "tools/list")
    starting = start(*call, "new", "--tool-arg", "repo=acme/demo", "--tool-arg", f"query={QUICK}")
    tools = answer(listing)["tools"]
    assert {tool["name"] for tool in tools} == TOOLS
    new = next(tool for tool in tools if tool["name"] == "new")
    assert new["annotations"]["openWorldHint"] is True and new["outputSchema"]
    task_id = answer(starting)["structuredContent"]["task_id"]

    deadline = time.monotonic() + 30
    status = {"state": "running"}
    while status["state"] not in SETTLED and time.monotonic() < deadline:
        args = ["--tool-arg", f"task_id={task_id}", "--tool-arg", "wait=20"]
        status = answer(start(*call, "task_status", *args))["structuredContent"]
    assert status["state"] == "completed" and status["result"], status
