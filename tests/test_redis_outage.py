"""A dead or a frozen Redis: every front answers at once that Redis is unreachable.

A real redis-server of the test's own is killed, or frozen with SIGSTOP (then thawed with
SIGCONT); the HTTP front answers 503 with Retry-After, /healthz says so within its bound,
the MCP tool comes back as a tool error, and everything works again once Redis is back.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import requests
from mcp import Client

from codegen_mcp.local.redis import EmbeddedRedis
from codegen_mcp.mcp_server import create_server
from codegen_mcp.services import Services
from codegen_mcp.settings import Settings
from codegen_mcp.states import State
from tests.support import Front, fast_settings

# Generous deadlines for the client, far below what a hung Redis used to cost (101 s):
# they only tell "answers" from "hangs", they measure nothing.
CLIENT_DEADLINE = 30.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)  # a frozen server cannot stop
    server.stop()


@pytest.fixture
def outage_settings(own_redis: EmbeddedRedis, tmp_path: Path) -> Settings:
    return fast_settings(own_redis.url, "http://127.0.0.1:9", tmp_path / "data")


@pytest.fixture
def front(outage_settings: Settings) -> Iterator[Front]:
    web = Front(outage_settings)
    yield web
    web.stop()


def _freeze(server: EmbeddedRedis) -> None:
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)


def _thaw(server: EmbeddedRedis) -> None:
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGCONT)


def _assert_unreachable(response: requests.Response) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "error" and body["error"] == "redis_unavailable", body
    assert "Redis" in body["message"] and "unreachable" in body["message"], body
    assert "Traceback" not in response.text
    assert int(response.headers["Retry-After"]) > 0


def _list(front: Front) -> requests.Response:
    return front.session.post(
        front.url + "/", json={"command": "list", "args": {}}, timeout=CLIENT_DEADLINE
    )


def _healthz(front: Front) -> requests.Response:
    return front.session.get(front.url + "/healthz", timeout=CLIENT_DEADLINE)


def test_http_front_says_redis_is_unreachable_when_redis_is_dead(
    front: Front, own_redis: EmbeddedRedis
) -> None:
    assert _list(front).status_code == 200
    own_redis.kill()
    _assert_unreachable(_list(front))
    _assert_unreachable(front.session.get(front.url + "/metrics", timeout=CLIENT_DEADLINE))
    health = _healthz(front)
    assert health.status_code == 503 and "unreachable" in health.json()["redis"]
    assert int(health.headers["Retry-After"]) > 0


def test_http_front_says_redis_is_unreachable_when_redis_hangs_and_recovers(
    front: Front, own_redis: EmbeddedRedis
) -> None:
    assert _list(front).status_code == 200
    _freeze(own_redis)
    try:
        _assert_unreachable(_list(front))
        health = _healthz(front)
        assert health.status_code == 503 and "unreachable" in health.json()["redis"]
    finally:
        _thaw(own_redis)
    assert _list(front).status_code == 200  # the pool dropped the stuck connection


@pytest.mark.anyio
@pytest.mark.parametrize("outage", ["dead", "frozen"])
async def test_mcp_tool_error_says_redis_is_unreachable(
    outage_settings: Settings, own_redis: EmbeddedRedis, outage: str
) -> None:
    services = Services(outage_settings, outage_settings.redis_url or "")
    async with Client(create_server(lambda: services)) as client:
        assert not (await client.call_tool("list", {})).is_error
        own_redis.kill() if outage == "dead" else _freeze(own_redis)
        try:
            with anyio.fail_after(CLIENT_DEADLINE):  # the in-memory client has no timeout
                result = await client.call_tool("list", {})
        finally:
            if outage == "frozen":
                _thaw(own_redis)
    text = "".join(getattr(block, "text", "") for block in result.content)
    assert result.is_error and "Redis" in text and "unreachable" in text, text


def test_a_new_meeting_a_frozen_redis_answers_unavailable_and_leaves_nothing_half_done(
    front: Front, own_redis: EmbeddedRedis
) -> None:
    """The task, its indexes and its launch message are written in one step (intake.py): a
    `new` that meets a frozen Redis answers 503 in time, and leaves neither a task without its
    message nor a message without its task."""
    request = {"repo": "acme/demo", "query": "Fix it"}
    _freeze(own_redis)
    try:
        _assert_unreachable(front.call("new", request))
    finally:
        _thaw(own_redis)
    services = front.services
    tasks = services.store.in_state(State.QUEUED)
    messages = services.redis.lrange(services.queue.queue, 0, -1)
    assert len(messages) == len(tasks) and all(any(t in m for m in messages) for t in tasks)
    body = front.ok("new", request)  # and it works again
    assert body["state"] == "queued" and services.store.in_state(State.QUEUED)[-1:] == [
        body["task_id"]
    ]
    assert body["task_id"] in services.redis.lindex(services.queue.queue, 0)
