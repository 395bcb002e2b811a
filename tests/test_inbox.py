"""Orchestrator inboxes on a real Redis, called directly (no worker): a child's outcome is
accepted once, taken with the others in the order they settled, and put back when the
resume that carried them never reached the orchestrator."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codegen_mcp import inbox, queue
from codegen_mcp.api.models import Run
from codegen_mcp.services import Services
from codegen_mcp.states import State
from tests.support import fast_settings
from tests.test_observe import sent
from workers import delivery
from workers.observe import digest

ORCH = 777
IDLE = Run(ORCH, "COMPLETE", result="waiting for my children")


@pytest.fixture
def make_services(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., Services]]:
    """Services on the real Redis (settings overridable); no API is called here."""
    built: list[Services] = []
    base = fast_settings(redis_url, "http://127.0.0.1:9", tmp_path)

    def make(**overrides: Any) -> Services:
        built.append(Services(dataclasses.replace(base, **overrides), redis_url))
        return built[-1]

    yield make
    for services in built:
        services.queue.app.close()
        services.redis.close()


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    return make_services()


def settled_child(services: Services, result: str, at: float) -> dict[str, Any]:
    """A child of ORCH whose run completed with `result` at time `at` (outcome 1)."""
    store = services.store
    task_id = store.create({"repo": "acme/demo", "query": result, "orchestrator_run_id": ORCH})
    store.transition(task_id, State.RUNNING, agent_run_id=1000 + int(at))
    store.transition(task_id, State.COMPLETED, result=result)
    store.update(task_id, updated_at=repr(at))
    return task(services, task_id)


def task(services: Services, task_id: str) -> dict[str, Any]:
    found = services.store.get(task_id)
    assert found is not None
    return found


def waiting(services: Services) -> list[tuple[str, float]]:
    return services.redis.zrange(services.store.keys.inbox(ORCH), 0, -1, withscores=True)


def pending(services: Services) -> list[str]:
    return services.redis.zrange(services.store.keys.pending(), 0, -1)


def inflight(services: Services) -> str | None:
    return inbox.in_flight(services.store, ORCH)


def take(services: Services, orchestrator: Run = IDLE) -> str | None:
    """A delivery right after the sweep looked at the orchestrator (a fresh look, no read)."""
    return delivery.deliver(services, ORCH, seen=delivery.look(orchestrator))


def come_back(services: Services, resume_id: str, code: str | None) -> None:
    """The resume failed with `code` before reaching the orchestrator; its hook runs."""
    services.store.transition(
        resume_id, State.FAILED, error="the resume was refused", error_code=code
    )
    delivery.returned(services, task(services, resume_id))


def snapshot(services: Services, child: dict[str, Any]) -> dict[str, Any]:
    return {
        "child": services.redis.hgetall(services.store.keys.task(child["task_id"])),
        "inbox": waiting(services),
        "pending": pending(services),
    }


# -- accept ---------------------------------------------------------------------------
def test_a_childs_outcome_is_accepted_once(services: Services) -> None:
    child = settled_child(services, "done", at=1000.0)

    assert inbox.accept(services.store, child, 1)

    assert waiting(services) == [(f"{child['task_id']}:1", 1000.0)]
    assert pending(services) == [str(ORCH)]
    now = task(services, child["task_id"])
    assert (now["delivery_seq"], now["delivery_state"]) == (1, "pending")
    before = snapshot(services, child)
    assert not inbox.accept(services.store, child, 1)  # the finished-hook ran again
    assert snapshot(services, child) == before


def test_an_older_outcome_is_not_accepted_after_a_newer_one(services: Services) -> None:
    child = settled_child(services, "done", at=1000.0)
    assert inbox.accept(services.store, child, 2)

    assert not inbox.accept(services.store, child, 1)

    assert waiting(services) == [(f"{child['task_id']}:2", 1000.0)]


def test_a_new_outcome_of_a_delivered_child_is_accepted_afresh(services: Services) -> None:
    child = settled_child(services, "done", at=1000.0)
    inbox.accept(services.store, child, 1)
    services.store.update(
        child["task_id"],
        delivery_state="delivered",
        delivery_task_id="an-earlier-resume",
        delivery_error="an old error",
        delivered_at="2026-01-01T00:00:00.000Z",
    )

    assert inbox.accept(services.store, child, 2)

    now = task(services, child["task_id"])
    assert (now["delivery_seq"], now["delivery_state"]) == (2, "pending")
    assert not {"delivery_task_id", "delivery_error", "delivered_at"} & now.keys()


# -- take -----------------------------------------------------------------------------
def test_a_take_carries_every_accepted_outcome_in_the_order_they_settled(
    services: Services,
) -> None:
    first = settled_child(services, "first answer", at=1000.0)
    second = settled_child(services, "second answer", at=2000.0)
    inbox.accept(services.store, second, 1)  # the hooks ran in the other order
    inbox.accept(services.store, first, 1)

    resume_id = take(services)

    assert resume_id is not None
    resume = task(services, resume_id)
    assert (resume["state"], resume["command"], resume["agent_run_id"]) == (
        "queued",
        "resume",
        ORCH,
    )
    assert resume["delivers"] == [
        {"task_id": first["task_id"], "seq": 1, "at": 1000.0},
        {"task_id": second["task_id"], "seq": 1, "at": 2000.0},
    ]
    assert resume["query"].index("first answer") < resume["query"].index("second answer")
    assert (resume["baseline_status"], resume["baseline_result"]) == (
        IDLE.status,
        digest(IDLE.result),
    )
    assert (waiting(services), pending(services), inflight(services)) == ([], [], resume_id)
    for child in (first, second):
        now = task(services, child["task_id"])
        assert (now["delivery_task_id"], now["delivery_attempts"]) == (resume_id, 1)
    assert sent(services) == [(queue.LAUNCH, [resume_id])]


def test_nothing_is_taken_while_a_delivery_is_in_flight(services: Services) -> None:
    inbox.accept(services.store, settled_child(services, "first", at=1000.0), 1)
    resume_id = take(services)
    late = settled_child(services, "late", at=2000.0)
    inbox.accept(services.store, late, 1)

    assert take(services) is None

    assert waiting(services) == [(f"{late['task_id']}:1", 2000.0)]
    assert services.store.in_state(State.QUEUED) == [resume_id]
    assert len(sent(services)) == 1


@pytest.mark.parametrize(("policy", "from_sweep"), [("wait", False), ("try", True)])
def test_a_busy_orchestrator_keeps_its_inbox(
    make_services: Callable[..., Services], policy: str, from_sweep: bool
) -> None:
    services = make_services(delivery_policy=policy)
    child = settled_child(services, "done", at=1000.0)
    inbox.accept(services.store, child, 1)

    busy = delivery.look(Run(ORCH, "ACTIVE"))
    assert delivery.deliver(services, ORCH, from_sweep=from_sweep, seen=busy) is None

    assert waiting(services) == [(f"{child['task_id']}:1", 1000.0)]
    assert pending(services) == [str(ORCH)]
    assert services.store.in_state(State.QUEUED) == [] and sent(services) == []


def test_with_policy_try_a_busy_orchestrator_is_resumed_anyway(
    make_services: Callable[..., Services],
) -> None:
    services = make_services(delivery_policy="try")
    inbox.accept(services.store, settled_child(services, "done", at=1000.0), 1)

    assert take(services, Run(ORCH, "ACTIVE")) is not None
    assert waiting(services) == []


# -- return ---------------------------------------------------------------------------
def test_a_return_puts_the_outcomes_back_as_they_were_for_a_retry(services: Services) -> None:
    children = [settled_child(services, f"answer {i}", at=1000.0 * i) for i in (1, 2)]
    for child in children:
        inbox.accept(services.store, child, 1)
    accepted = waiting(services)
    resume_id = take(services)
    assert resume_id is not None

    come_back(services, resume_id, "upstream_unavailable")

    assert (waiting(services), pending(services), inflight(services)) == (
        accepted,
        [str(ORCH)],
        None,
    )
    for child in children:
        now = task(services, child["task_id"])
        assert now["delivery_state"] == "pending"
        assert "delivery_task_id" not in now
    again = take(services)
    assert again is not None and again != resume_id
    assert [e["task_id"] for e in task(services, again)["delivers"]] == [
        c["task_id"] for c in children
    ]
    assert task(services, children[0]["task_id"])["delivery_attempts"] == 2


def test_a_return_handled_twice_moves_the_outcomes_back_once(services: Services) -> None:
    child = settled_child(services, "done", at=1000.0)
    inbox.accept(services.store, child, 1)
    first = take(services)
    assert first is not None
    come_back(services, first, "orchestrator_busy")  # a busy refusal is not an attempt
    second = take(services)

    delivery.returned(services, task(services, first))  # the first hook, run again

    assert (waiting(services), inflight(services)) == ([], second)
    now = task(services, child["task_id"])
    assert (now["delivery_task_id"], now["delivery_attempts"]) == (second, 1)


def test_a_return_that_cannot_be_retried_fails_the_outcomes(services: Services) -> None:
    child = settled_child(services, "done", at=1000.0)
    inbox.accept(services.store, child, 1)
    resume_id = take(services)
    assert resume_id is not None

    come_back(services, resume_id, "invalid_request")

    now = task(services, child["task_id"])
    assert (now["delivery_state"], now["delivery_error"]) == ("failed", "the resume was refused")
    assert (waiting(services), pending(services), inflight(services)) == ([], [], None)


@pytest.mark.parametrize(
    ("code", "state"), [("upstream_unavailable", "failed"), ("orchestrator_busy", "pending")]
)
def test_after_the_last_attempt_only_a_busy_orchestrator_keeps_the_outcome(
    services: Services, code: str, state: str
) -> None:
    child = settled_child(services, "done", at=1000.0)
    inbox.accept(services.store, child, 1)
    services.store.update(child["task_id"], delivery_attempts=inbox.MAX_ATTEMPTS - 1)
    resume_id = take(services)  # the last attempt
    assert resume_id is not None

    come_back(services, resume_id, code)

    assert task(services, child["task_id"])["delivery_state"] == state


def test_the_order_is_when_the_runs_finished_when_their_logs_told(services: Services) -> None:
    seen_first = settled_child(services, "finished last", at=1000.0)
    seen_last = settled_child(services, "finished first", at=2000.0)
    services.store.update(seen_first["task_id"], finished_at="2026-01-01T00:00:30Z")
    services.store.update(seen_last["task_id"], finished_at="2026-01-01T00:00:10Z")
    for child in (seen_first, seen_last):
        inbox.accept(services.store, task(services, child["task_id"]), 1)

    resume_id = take(services)

    assert resume_id is not None
    query = task(services, resume_id)["query"]
    assert query.index("finished first") < query.index("finished last")
