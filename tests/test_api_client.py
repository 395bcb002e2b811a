"""The Codegen client against the simulator: parsing, typed errors, the shared budget, 429s."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from codegen_mcp.api.budget import Budget
from codegen_mcp.api.client import CodegenClient, Credentials
from codegen_mcp.api.errors import (
    ApiAuthError,
    ApiNotFound,
    ApiQuotaExceeded,
    ApiRateLimited,
    ApiRejected,
    ApiUnavailable,
)
from codegen_mcp.api.models import Run, parse_timestamp
from codegen_mcp.api.status import state_for
from codegen_mcp.redis_conn import connect
from codegen_mcp.settings import RateLimit, Settings
from codegen_mcp.simulator import SimConfig, Simulator
from codegen_mcp.states import State
from workers import delivery

CREDS = Credentials(token="sim-token", org_id=1)


@pytest.fixture
def small_sim() -> Iterator[Simulator]:
    simulator = Simulator(
        SimConfig(
            read_limit=(6, 2.0),
            create_limit=(3, 2.0),
            active_seconds=0.3,
            evaluation_seconds=0.1,
            run_quota=None,
        )
    )
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def rconn(redis_url: str) -> redis.Redis:
    return connect(redis_url)


def _budgeted(
    sim: Simulator, rconn: redis.Redis, prefix: str, **limits: RateLimit
) -> CodegenClient:
    settings = Settings(
        key_prefix=prefix, read_limit=RateLimit(5, 2.0), create_limit=RateLimit(3, 2.0), **limits
    )
    return CodegenClient(
        sim.url, CREDS, budget=Budget(rconn, settings, CREDS.token), timeout=5, max_wait=30
    )


def test_statuses_map_case_insensitively_with_unknown_in_progress() -> None:
    assert state_for("COMPLETE") is State.COMPLETED
    assert state_for("complete") is State.COMPLETED
    assert state_for("EVALUATION") is State.RUNNING
    assert state_for("PENDING") is State.RUNNING
    assert state_for("PAUSED") is State.PAUSED
    assert state_for("OUT_OF_TOKENS") is State.FAILED
    assert state_for("CANCELLED") is State.CANCELLED
    assert state_for("SOMETHING_NEW") is State.RUNNING
    assert state_for(None) is State.RUNNING


def test_timestamps_with_and_without_timezone_are_utc() -> None:
    naive = parse_timestamp("2025-06-21 11:20:04.338398")
    iso = parse_timestamp("2024-01-15T10:30:00Z")
    assert naive is not None and naive.utcoffset() is not None and naive.hour == 11
    assert iso is not None and iso.isoformat() == "2024-01-15T10:30:00+00:00"
    assert parse_timestamp("yesterday") is None and parse_timestamp(None) is None


def test_a_run_with_only_an_id_is_readable() -> None:
    run = Run.from_api(
        {"id": 5, "organization_id": 1, "metadata": None, "github_pull_requests": None}
    )
    assert (
        run.id == 5
        and run.metadata is None
        and run.pull_requests == ()
        and run.state is State.RUNNING
    )


def test_create_get_and_list_against_the_simulator(small_sim: Simulator) -> None:
    client = CodegenClient(small_sim.url, CREDS, timeout=5)
    run = client.create_run("hello", metadata=None)
    assert run.status == "ACTIVE" and run.metadata is None and run.created_at is not None
    assert client.get_run(run.id).id == run.id
    runs, total = client.list_runs(source_type="API")
    assert total >= 1 and runs[0].id == run.id


@pytest.mark.parametrize(
    ("call", "error", "text"),
    [
        (lambda c: c.get_run(123456), ApiNotFound, "Agent run not found."),
        (lambda c: CodegenClient(c.base_url, Credentials("wrong", 1)).me(), ApiAuthError, "401"),
        (
            lambda c: CodegenClient(c.base_url, Credentials("sim-token", 999)).get_run(1),
            ApiAuthError,
            "403",
        ),
        (
            lambda c: c._request("POST", c._org("/agent/run"), "create", json={}),
            ApiRejected,
            "body.prompt",
        ),
    ],
)
def test_errors_are_typed_and_carry_the_api_message(
    small_sim: Simulator, call, error, text
) -> None:
    client = CodegenClient(small_sim.url, CREDS, timeout=5)
    with pytest.raises(error) as caught:
        call(client)
    assert text in caught.value.message
    assert "sim-token" not in caught.value.message


def test_quota_used_up_is_a_402_error() -> None:
    with Simulator(SimConfig(run_quota=1)) as sim:
        client = CodegenClient(sim.url, CREDS, timeout=5)
        client.create_run("one")
        with pytest.raises(ApiQuotaExceeded):
            client.create_run("two")


def test_the_shared_budget_keeps_many_callers_under_the_read_limit(rconn: redis.Redis) -> None:
    """Three threads (each its own client, one token) make 18 reads; the budget grants 5 per 2 s.

    The budget stamps a slot when it grants it; the API stamps a request when it arrives.
    When a full window of grants frees at once, the next burst can meet earlier requests
    that spent a little longer between grant and arrival (a loaded machine) and the API
    sees more than the budget granted. With the API's limit at twice the budget, only a
    request that took over a whole window (2 s) to arrive could make that a 429; without
    the budget, 18 reads at once draw 429s from this API.
    """
    errors: list[Exception] = []
    answers: list[int] = []

    def reader(sim: Simulator) -> None:
        client = _budgeted(sim, rconn, "budget-test")
        client.observer = lambda _endpoint, status: answers.append(status)
        try:
            for _ in range(6):
                client.me()
        except Exception as exc:
            errors.append(exc)

    with Simulator(SimConfig(read_limit=(10, 2.0), run_quota=None)) as sim:
        threads = [threading.Thread(target=reader, args=(sim,)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stats = sim.stats()
    assert errors == []
    assert answers == [200] * 18  # every read took one request, none was refused or retried
    assert stats["requests"]["me"] == 18
    assert stats["rate_limited"] == 0


def test_budget_that_would_wait_too_long_raises_instead_of_blocking(
    small_sim: Simulator, rconn: redis.Redis
) -> None:
    client = _budgeted(small_sim, rconn, "budget-short")
    client.max_wait = 0
    for _ in range(5):
        client.me()
    with pytest.raises(ApiRateLimited) as caught:
        client.me()
    assert 0 < caught.value.retry_after <= 2.5
    assert small_sim.stats()["rate_limited"] == 0


def test_a_429_is_honoured_and_retried(small_sim: Simulator, rconn: redis.Redis) -> None:
    """Another client on the same token used the budget up: we wait as Retry-After says."""
    outsider = CodegenClient(small_sim.url, CREDS, timeout=5)
    for _ in range(6):
        outsider.me()
    client = _budgeted(small_sim, rconn, "budget-429")
    assert client.me()["id"] == 7
    assert small_sim.stats()["rate_limited"] >= 1


def test_a_429_without_retry_after_backs_off(rconn: redis.Redis) -> None:
    with Simulator(SimConfig(read_limit=(2, 1.0), retry_after=False)) as sim:
        outsider = CodegenClient(sim.url, CREDS, timeout=5)
        outsider.me()
        outsider.me()
        client = _budgeted(sim, rconn, "budget-noheader")
        assert client.me()["id"] == 7
        assert sim.stats()["rate_limited"] >= 1


def test_reads_are_retried_on_5xx_but_creates_are_not(small_sim: Simulator) -> None:
    client = CodegenClient(small_sim.url, CREDS, timeout=5)
    small_sim.set_faults(error_rate=1.0)
    with pytest.raises(ApiUnavailable):
        client.create_run("x")
    assert small_sim.stats()["requests"].get("create", 0) == 1
    with pytest.raises(ApiUnavailable):
        client.me()
    assert small_sim.stats()["requests"]["me"] == 3
    assert small_sim.runs() == []


def test_unreachable_api_is_unavailable_without_leaking_the_token() -> None:
    client = CodegenClient("http://127.0.0.1:9", CREDS, timeout=1)
    with pytest.raises(ApiUnavailable) as caught:
        client.create_run("x")
    assert "sim-token" not in str(caught.value)
    assert "sim-token" not in repr(CREDS)


def test_a_run_read_carries_when_its_request_was_sent_and_a_look_keeps_it(
    small_sim: Simulator, rconn: redis.Redis
) -> None:
    """What a read shows was true when it was sent: a delivery's look at an orchestrator keeps
    that time, not the later moment it is used (a look taken before our last resume but used
    after it passed for fresh, and the orchestrator was resumed while busy)."""
    client = _budgeted(small_sim, rconn, "cgm-read-at")
    run_id = client.create_run("hello").id
    for _ in range(5):  # the read budget (5 / 2 s) spent: the next read waits for a slot
        client.get_run(run_id)
    asked = time.time()
    run = client.get_run(run_id)
    answered = time.time()
    assert asked < run.read_at <= answered
    listed, _ = client.list_runs()
    assert {r.read_at for r in listed} == {client.sent_at} and client.sent_at >= answered
    assert delivery.look(run)["at"] == run.read_at  # however much later it is used
