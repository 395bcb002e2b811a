"""The memory guard against a real Redis started with a small maxmemory: past the guard, new
and resume are refused before anything is recorded, reads work, /healthz says degraded and
/metrics shows it; a Redis without maxmemory is a warning in /healthz."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from codegen_mcp import memory_guard
from codegen_mcp.local.redis import EmbeddedRedis
from codegen_mcp.services import Services
from codegen_mcp.states import State
from codegen_mcp.web import create_app
from tests.support import fast_settings

FILLER = "filler"


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Services]:
    """Services on a Redis of its own with maxmemory 8 MiB (its baseline is about 1 MiB)."""
    server = EmbeddedRedis(tmp_path / "redis", maxmemory="8mb")
    url = server.start()
    services = Services(fast_settings(url, "http://127.0.0.1:9", tmp_path), url)
    yield services
    services.queue.app.close()
    services.redis.close()
    server.stop()


def fill(services: Services, share: float) -> None:
    """Grow used_memory to `share` of maxmemory (or a little past), 64 KiB at a time.

    Counted without the AOF buffer (mem_not_counted_for_evict): on a busy disk Redis holds
    writes in it while an fsync is slow, and the used_memory it inflates falls when they
    are written; the filler stays."""
    limit = int(services.redis.info("memory")["maxmemory"])
    n = 0
    while _lasting(services.redis.info("memory")) < limit * share:
        services.redis.rpush(FILLER, "x" * 65536)
        n += 1
        assert n < 1000, "used_memory does not grow"


def _lasting(memory: dict[str, Any]) -> int:
    return int(memory["used_memory"]) - int(memory.get("mem_not_counted_for_evict", 0))


def until(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.05)
    raise AssertionError("the condition did not hold in time")


def alive(services: Services) -> None:
    """A worker's heartbeat and a sweep just now, as a running worker writes them."""
    services.recorder.worker_started("w1@test")
    services.redis.set(services.store.keys.sweep("last"), repr(time.time()))


def call(client: FlaskClient, command: str, args: dict[str, Any]) -> Any:
    return client.post("/", json={"command": command, "args": args})


def guard_metric(client: FlaskClient) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        if family.name == "codegen_mcp_memory_guard_active":
            return float(family.samples[0].value)
    raise AssertionError("codegen_mcp_memory_guard_active is not exported")


def test_a_nearly_full_redis_refuses_new_work_and_serves_reads(small: Services) -> None:
    client = create_app(small).test_client()
    known = small.store.create({"repo": "acme/demo", "query": "before the guard"})
    assert client.get("/healthz").get_json()["memory"] == "ok"
    assert guard_metric(client) == 0.0

    fill(small, 0.95)

    # This process read INFO less than a second ago: the guard acts once that read is stale.
    until(lambda: memory_guard.reading(small.redis, small.settings.memory_guard).active)
    refused = call(client, "new", {"repo": "acme/demo", "query": "q"})
    assert refused.status_code == 503
    body = refused.get_json()
    assert body["error"] == "memory_full"
    assert (
        "CODEGEN_MCP_MEMORY_GUARD" in body["message"] and "nothing was recorded" in body["message"]
    )
    assert refused.headers["Retry-After"] == "60"
    resumed = call(client, "resume", {"agent_run_id": 5, "query": "more"})
    assert (resumed.status_code, resumed.get_json()["error"]) == (503, "memory_full")
    assert small.store.counts()[State.QUEUED.value] == 1  # nothing recorded
    assert small.redis.keys(f"{small.settings.key_prefix}:idem:*") == []
    status = call(client, "task_status", {"task_id": known})
    assert status.status_code == 200
    assert call(client, "list", {}).status_code == 200
    alive(small)
    health = client.get("/healthz")
    assert health.status_code == 200  # reads work: a load balancer keeps this process
    assert health.get_json()["status"] == "degraded"
    assert health.get_json()["memory"].startswith("degraded: Redis uses")
    assert guard_metric(client) == 1.0

    small.redis.delete(FILLER)  # retention (or the operator) made room

    until(lambda: not memory_guard.reading(small.redis, small.settings.memory_guard).active)
    assert call(client, "new", {"repo": "acme/demo", "query": "q"}).status_code != 503
    alive(small)
    health = client.get("/healthz")
    assert (health.status_code, health.get_json()["status"]) == (200, "success")
    assert guard_metric(client) == 0.0


def test_a_redis_without_maxmemory_is_a_warning(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", maxmemory="0")
    url = server.start()
    services = Services(fast_settings(url, "http://127.0.0.1:9", tmp_path), url)
    try:
        memory = create_app(services).test_client().get("/healthz").get_json()["memory"]
        assert memory.startswith("warning: Redis has no maxmemory")
    finally:
        services.queue.app.close()
        services.redis.close()
        server.stop()
