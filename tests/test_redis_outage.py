"""A dead or a frozen Redis: every front answers at once that Redis is unreachable.

A real redis-server of the test's own is killed, or frozen with SIGSTOP (then thawed with
SIGCONT); the HTTP front answers 503 with Retry-After, /healthz says so within its bound,
the MCP tool comes back as a tool error, and everything works again once Redis is back.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import requests
from mcp import Client
from pydantic import TypeAdapter

from codegen_mcp.answers import Started
from codegen_mcp.local.redis import EmbeddedRedis
from codegen_mcp.mcp_server import create_server
from codegen_mcp.queue import Queue
from codegen_mcp.services import Services
from codegen_mcp.settings import Settings
from codegen_mcp.states import State
from codegen_mcp.web import create_app
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


@pytest.fixture
def broker_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A second server: the store stays up while the broker freezes under the enqueue."""
    server = EmbeddedRedis(tmp_path / "broker")
    server.start()
    yield server
    _thaw(server)
    server.stop()


def test_a_new_whose_enqueue_meets_a_frozen_broker_answers_queued_not_an_error(
    outage_settings: Settings, own_redis: EmbeddedRedis, broker_redis: EmbeddedRedis
) -> None:
    """Redis froze between recording the task and enqueuing it: an answer, not a hang; and
    not an error, which would make the caller send it again (a second run): the task is
    recorded, and the sweep launches queued tasks that nobody launched."""
    services = Services(outage_settings, own_redis.url)
    services.queue = Queue(broker_redis.url, outage_settings)  # the enqueue's own Redis
    answers: list[Any] = []
    request = {"command": "new", "args": {"repo": "acme/demo", "query": "Fix it"}}
    web = create_app(services).test_client()
    _freeze(broker_redis)
    try:
        caller = threading.Thread(target=lambda: answers.append(web.post("/", json=request)))
        caller.start()
        caller.join(CLIENT_DEADLINE)
        assert answers, "the request hangs on the frozen Redis"
    finally:
        _thaw(broker_redis)
        caller.join()
    response = answers[0]
    assert response.status_code == 202, response.text
    body = response.get_json()
    assert body["state"] == "queued" and "Do not send it again" in body["message"], body
    stored = services.store.get(body["task_id"])
    assert stored is not None and body["created_at"] == stored["created_at"]
    TypeAdapter(Started).validate_python(body)  # the MCP front checks answers against it
    queued = services.store.in_state(State.QUEUED)
    assert queued == [body["task_id"]]
