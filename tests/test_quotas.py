"""No client starves the rest: repository lookups, per-client limits, the queue bound, logs.

Everything runs against a real Redis and the simulator over HTTP; the assertions count what
the simulator saw and what the store holds, never how long anything took.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent

from codegen_mcp import commands
from codegen_mcp.errors import CodegenMCPError
from codegen_mcp.local.processes import settings_env
from codegen_mcp.local.redis import free_port
from codegen_mcp.mcp_server import create_server
from codegen_mcp.services import Services
from codegen_mcp.settings import RateLimit, Settings
from codegen_mcp.simulator import Simulator
from tests.support import (
    ROOT,
    START_DEADLINE,
    STOP_DEADLINE,
    Front,
    Worker,
    fast_settings,
    wait_for,
)

QUICK = "[sim:active=0.2] [sim:eval=0]"
MCP_COMMAND = [sys.executable, "-m", "codegen_mcp.cli", "mcp"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def idle_front(settings: Settings, tmp_path: Path) -> Iterator[Front]:
    """A front with the default limits, no worker and no wait: every `new` answers queued."""
    web = Front(
        fast_settings(settings.redis_url or "", settings.api_base_url, tmp_path, new_wait=0)
    )
    yield web
    web.stop()


def burst(web: Front, count: int, threads: int = 32) -> list[requests.Response]:
    def one(i: int) -> requests.Response:
        with requests.Session() as session:
            body = {"command": "new", "args": {"repo": "acme/demo", "query": f"child {i}"}}
            return session.post(web.url + "/", json=body, timeout=60)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


def unique() -> str:
    return f"tq{uuid.uuid4().hex[:8]}"


def recorded(web: Front) -> int:
    return int(web.services.redis.zcard(web.services.store.keys.tasks()))


def endpoint_calls(sim: Simulator, endpoint: str) -> int:
    return int(sim.stats()["requests"][endpoint])


# -- #10.3: repository lookups ----------------------------------------------------------
def test_new_with_unknown_repositories_reads_the_repository_list_once_not_per_request(
    sim: Simulator, settings: Settings, front: Front, worker: Worker
) -> None:
    misses = 30
    before = endpoint_calls(sim, "repos")

    def one(i: int) -> int:
        with requests.Session() as session:
            body = {"command": "new", "args": {"repo": f"nobody/missing-{i}", "query": "x"}}
            return session.post(front.url + "/", json=body, timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, range(misses)))
    # Each is refused (404 when the worker got to it within the wait, else queued, then failed).
    assert set(statuses) <= {404, 202}
    wait_for(
        lambda: front.services.store.counts()["failed"] >= misses,
        what=f"{misses} tasks on unknown repositories to fail",
    )
    # One refresh of the list (one page) for all the misses: later misses use the cached miss.
    assert endpoint_calls(sim, "repos") - before <= 2


def test_a_known_repository_is_found_after_misses_on_other_names(
    front: Front, worker: Worker
) -> None:
    front.call("new", {"repo": "nobody/absent", "query": "x"})
    done = front.ok("new", {"repo": "acme/demo", "query": QUICK})
    assert front.wait_state(done["task_id"], "completed")["state"] == "completed"


# -- #10.4: per-client limits and the queue bound ---------------------------------------
def test_a_fan_out_of_100_new_from_one_client_is_accepted(idle_front: Front) -> None:
    answers = burst(idle_front, 100)
    assert [a.status_code for a in answers] == [202] * 100
    assert recorded(idle_front) == 100


def test_a_flood_from_one_client_is_refused_past_its_limit_with_429_and_retry_after(
    idle_front: Front,
) -> None:
    limit = idle_front.services.settings.client_run_limit.count
    flood = limit + 150
    answers = burst(idle_front, flood)
    accepted = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code != 202]
    assert len(accepted) == limit
    assert {a.status_code for a in refused} == {429}
    body = refused[0].json()
    assert body["status"] == "error" and body["error"] == "rate_limited"
    assert body["limit"] == "CODEGEN_MCP_CLIENT_RUN_LIMIT"
    assert "CODEGEN_MCP_CLIENT_RUN_LIMIT" in body["message"]
    assert int(refused[0].headers["Retry-After"]) >= 1
    assert body["retry_after"] == int(refused[0].headers["Retry-After"])
    # Nothing recorded, nothing enqueued for a refused `new` (no worker consumes this queue).
    assert recorded(idle_front) == limit
    assert idle_front.services.redis.llen(idle_front.services.settings.key_prefix) == limit


def test_another_client_is_served_while_one_is_over_its_limit(settings: Settings) -> None:
    tight = settings.with_(client_run_limit=RateLimit(2, 600), new_wait=0.0, key_prefix=unique())
    services = Services(tight, tight.redis_url or "")
    args = {"repo": "acme/demo", "query": "x"}
    for _ in range(2):
        commands.execute(services, "new", args, client="addr:10.0.0.1")
    with pytest.raises(CodegenMCPError) as refused:
        commands.execute(services, "new", args, client="addr:10.0.0.1")
    assert refused.value.http_status == 429
    assert commands.execute(services, "new", args, client="addr:10.0.0.2")["state"] == "queued"


def test_the_queue_bound_refuses_new_work_with_a_clear_message(
    settings: Settings, tmp_path: Path
) -> None:
    bounded = fast_settings(
        settings.redis_url or "", settings.api_base_url, tmp_path, new_wait=0, max_queued=5
    )
    web = Front(bounded)
    try:
        answers = burst(web, 8, threads=1)
        assert [a.status_code for a in answers] == [202] * 5 + [503] * 3
        body = answers[-1].json()
        assert body["error"] == "queue_full"
        assert "5 tasks are queued" in body["message"]
        assert "CODEGEN_MCP_MAX_QUEUED" in body["message"]
        assert int(answers[-1].headers["Retry-After"]) >= 1
        assert recorded(web) == 5
    finally:
        web.stop()


def test_the_queue_bound_holds_under_a_concurrent_burst(settings: Settings, tmp_path: Path) -> None:
    bounded = fast_settings(
        settings.redis_url or "", settings.api_base_url, tmp_path, new_wait=0, max_queued=5
    )
    web = Front(bounded)
    try:
        answers = burst(web, 64, threads=32)  # many see room for one more at the same instant
        codes = [a.status_code for a in answers]
        assert codes.count(202) == 5 and codes.count(503) == 59
        assert recorded(web) == 5
        assert web.services.redis.llen(bounded.key_prefix) == 5  # nothing more enqueued
    finally:
        web.stop()


def test_a_start_refused_for_missing_credentials_spends_no_allowance(settings: Settings) -> None:
    bare = settings.with_(
        api_token=None,
        org_id=None,
        client_run_limit=RateLimit(1, 600),
        new_wait=0.0,
        key_prefix=unique(),
    )
    services = Services(bare, bare.redis_url or "")
    args = {"repo": "acme/demo", "query": "x"}
    for _ in range(3):
        with pytest.raises(CodegenMCPError) as refused:
            commands.execute(services, "new", args, client="addr:10.0.0.3")
        assert refused.value.code == "not_configured"
    services.config.set("api_token", "sim-token")
    services.config.set("org_id", "1")
    # The client's one start in the window is still there for the first `new` that can go.
    assert commands.execute(services, "new", args, client="addr:10.0.0.3")["state"] == "queued"


@pytest.mark.anyio
async def test_over_mcp_a_refused_new_is_a_tool_error_with_the_same_words(
    settings: Settings,
) -> None:
    tight = settings.with_(client_run_limit=RateLimit(1, 600), new_wait=0.0, key_prefix=unique())
    services = Services(tight, tight.redis_url or "")
    async with Client(create_server(lambda: services)) as client:
        args = {"repo": "acme/demo", "query": "x"}
        first = await client.call_tool("new", args)
        assert not first.is_error
        second = await client.call_tool("new", args)
    assert second.is_error
    message = "".join(b.text for b in second.content if isinstance(b, TextContent))
    assert "CODEGEN_MCP_CLIENT_RUN_LIMIT" in message and "try again in" in message
    assert int(services.redis.zcard(services.store.keys.tasks())) == 1


# -- #10.4: the logs budget ---------------------------------------------------------------
def test_logs_repeated_quickly_by_one_client_are_served_from_a_short_cache(
    sim: Simulator, front: Front, worker: Worker
) -> None:
    done = front.ok("new", {"repo": "acme/demo", "query": QUICK})
    front.wait_state(done["task_id"], "completed")
    before = endpoint_calls(sim, "logs")
    pages = [front.ok("logs", {"task_id": done["task_id"], "limit": 5}) for _ in range(55)]
    assert all(page == pages[0] for page in pages)
    # 55 calls within the cache's few seconds: one read upstream (two if it expired once).
    assert endpoint_calls(sim, "logs") - before <= 2


def test_one_client_cannot_empty_the_shared_logs_budget(
    sim: Simulator, settings: Settings, front: Front, worker: Worker
) -> None:
    done = front.ok("new", {"repo": "acme/demo", "query": QUICK})
    run_id = front.wait_state(done["task_id"], "completed")["agent_run_id"]
    services = Services(settings, settings.redis_url or "")
    per_client = settings.client_logs_limit.count
    before = endpoint_calls(sim, "logs")
    refused = 0
    for skip in range(per_client + 10):  # distinct pages: no cache can help
        try:
            commands.execute(
                services, "logs", {"agent_run_id": run_id, "skip": skip}, client="addr:10.9.9.9"
            )
        except CodegenMCPError as exc:
            assert exc.http_status == 429 and "CODEGEN_MCP_CLIENT_LOGS_LIMIT" in exc.message
            refused += 1
    assert refused == 10
    assert endpoint_calls(sim, "logs") - before == per_client
    # Another client still reads logs: the shared budget was not emptied.
    args = {"agent_run_id": run_id, "skip": 1000}
    other = commands.execute(services, "logs", args, client="addr:10.9.9.8")
    assert other["agent_run_id"] == run_id


# -- who a client is --------------------------------------------------------------------
def test_x_forwarded_for_is_believed_only_behind_trusted_proxies(
    settings: Settings, tmp_path: Path
) -> None:
    def refused_second(trusted: int) -> list[int]:
        limited = fast_settings(
            settings.redis_url or "",
            settings.api_base_url,
            tmp_path,
            new_wait=0,
            client_run_limit=RateLimit(1, 600),
            trusted_proxies=trusted,
        )
        web = Front(limited)
        try:
            args = {"repo": "acme/demo", "query": "x"}
            return [
                web.call("new", args, headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                for i in (1, 1, 2)
            ]
        finally:
            web.stop()

    # Without a trusted proxy the header is anyone's to write: all three are one client.
    assert refused_second(0) == [202, 429, 429]
    # Behind one proxy, the address it appended is the client.
    assert refused_second(1) == [202, 429, 202]


def test_with_auth_on_the_bearer_token_is_the_client(settings: Settings, tmp_path: Path) -> None:
    limited = fast_settings(
        settings.redis_url or "",
        settings.api_base_url,
        tmp_path,
        new_wait=0,
        client_run_limit=RateLimit(1, 600),
        auth_token="a-long-enough-token-for-this-test-0123456789",
    )
    web = Front(limited)
    try:
        bearer = {"Authorization": f"Bearer {limited.auth_token}"}
        args = {"repo": "acme/demo", "query": "x"}
        assert web.call("new", args, headers=bearer).status_code == 202
        again = web.call("new", args, headers=bearer)
        assert again.status_code == 429
        assert limited.auth_token not in again.text
    finally:
        web.stop()


@pytest.fixture(params=[1, 0], ids=["behind-a-proxy", "no-proxy"])
def mcp_http(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """`codegen-mcp mcp --transport http` on loopback, one `new` per client, with
    CODEGEN_MCP_TRUSTED_PROXIES as the parameter says."""
    port = free_port()
    env = {
        **settings_env(settings.with_(new_wait=0.0, key_prefix=unique())),
        "CODEGEN_MCP_CLIENT_RUN_LIMIT": "1/600",
        "CODEGEN_MCP_TRUSTED_PROXIES": str(request.param),
    }
    with open(tmp_path / "mcp.log", "wb") as log:
        process = subprocess.Popen(
            [*MCP_COMMAND, "--transport", "http", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        wait_for(lambda: _listening(url, process), START_DEADLINE, "the MCP HTTP server to listen")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(STOP_DEADLINE)


def _listening(url: str, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "the MCP HTTP server exited"
    try:
        requests.post(url, timeout=1).close()
    except (requests.ConnectionError, requests.Timeout):
        return False
    return True


@pytest.mark.anyio
async def test_over_mcp_http_each_remote_client_has_its_own_allowance(
    mcp_http: str, request: pytest.FixtureRequest
) -> None:
    async def new_twice(address: str) -> list[bool]:
        headers = {"X-Forwarded-For": address}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30.0) as http,
            Client(streamable_http_client(mcp_http, http_client=http)) as client,
        ):
            args = {"repo": "acme/demo", "query": "x"}
            return [(await client.call_tool("new", args)).is_error for _ in range(2)]

    assert await new_twice("198.51.100.1") == [False, True]
    if "behind-a-proxy" in request.node.callspec.id:
        assert await new_twice("198.51.100.2") == [False, True]
    else:  # X-Forwarded-For is anyone's to write: the same loopback client, still refused
        assert await new_twice("198.51.100.2") == [True, True]
