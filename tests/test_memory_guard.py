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

from codegen_mcp import idempotency, memory_guard, schemas
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
    """Grow the memory Redis counts against maxmemory to `share` of it (or a little past), 64 KiB
    at a time. Counted as the guard counts it: a busy disk can hold back megabytes of AOF buffer
    in used_memory for a second or two, which a fill measured by used_memory alone can mistake
    for data (the guard then never comes on once the buffer is written: the one failure in CI
    stop 18, seen again once here under parallel test load)."""
    n = 0
    while (found := memory_guard.reading(services.redis, 0.9, fresh=True)).share < share:
        services.redis.rpush(FILLER, "x" * 65536)
        n += 1
        assert n < 1000, f"used_memory does not grow: {found}"


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


def test_a_retry_with_its_idempotency_key_gets_its_task_while_the_guard_refuses(
    small: Services,
) -> None:
    """A caller that lost the answer to a `new` the server took retries with the same key: the
    guard must not turn that into a 503 (the task exists; its answer writes nothing)."""
    client = create_app(small).test_client()
    args = {"repo": "acme/demo", "query": "q", "idempotency_key": "retry-me"}
    first = call(client, "new", args)
    assert first.status_code == 202, first.get_json()
    fill(small, 0.95)
    until(lambda: memory_guard.reading(small.redis, small.settings.memory_guard).active)

    again = call(client, "new", args)
    assert again.status_code == 202, again.get_json()
    assert again.get_json()["task_id"] == first.get_json()["task_id"]
    assert again.get_json()["replayed"] is True
    other = call(client, "new", {**args, "idempotency_key": "a-new-one"})
    assert (other.status_code, other.get_json()["error"]) == (503, "memory_full")
    changed = call(client, "new", {**args, "query": "other"})
    assert (changed.status_code, changed.get_json()["error"]) == (409, "conflict")
    assert small.store.counts()[State.QUEUED.value] == 1

    # A key whose first request is recording its task right now (claimed, not yet recorded):
    # "still being recorded", not "nothing was recorded".
    recording = {**args, "idempotency_key": "being-recorded"}
    claim = idempotency.claim(small, "local", "new", schemas.load("new", recording))
    assert claim is not None and not claim.replay
    pending = call(client, "new", recording)
    assert pending.status_code == 409, pending.get_json()
    assert "still being recorded" in pending.get_json()["message"]


def test_the_guard_counts_what_redis_counts_against_maxmemory() -> None:
    """Redis' own OOM check leaves out the AOF and replication buffers
    (mem_not_counted_for_evict): 2 MiB of AOF buffer waiting for a slow disk neither trips the
    guard nor, once written, turns it off."""
    info = {"used_memory": 9 << 20, "mem_not_counted_for_evict": 2 << 20, "maxmemory": 8 << 20}
    found = memory_guard.Reading.from_info(info, 0.9)
    assert (found.used, found.active, found.check()) == (7 << 20, False, "ok")
    assert memory_guard.Reading.from_info({**info, "mem_not_counted_for_evict": 0}, 0.9).active
    assert memory_guard.Reading.from_info({"used_memory": 1, "maxmemory": 0}, 0.9).check() == (
        "warning: Redis has no maxmemory, so nothing stops it filling the machine and the "
        "memory guard is off; set maxmemory (policy noeviction)"
    )


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
