"""Retention on a real Redis, called directly (no worker): a settled task past its time goes
with every trace, a child whose outcome an orchestrator still waits for stays until it is
delivered, and what was removed says so (task_status, tree)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codegen_mcp import inbox, notify, queue, retention, webhooks_in
from codegen_mcp.commands import execute
from codegen_mcp.commands.tree import build
from codegen_mcp.errors import NotFound
from codegen_mcp.services import Services
from codegen_mcp.states import State
from codegen_mcp.store_codec import text
from tests.support import Worker, fast_settings
from tests.test_inbox import IDLE, ORCH, make_services, settled_child
from workers import delivery

__all__ = ["make_services"]  # the fixture, imported for pytest

LATER = 10.0  # seconds: "now" for retention, past the moment everything here settled


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    return make_services()


def traces(services: Services, task_id: str) -> list[str]:
    """Every key of this deployment that names `task_id` in its name or holds it (members,
    fields, values), but for the tombstones and the event stream (bounded by count)."""
    found = []
    prefix = services.settings.key_prefix
    skip = {services.store.keys.removed(), services.store.keys.events()}
    redis = services.redis
    for raw in redis.scan_iter(match=f"{prefix}:*", count=1000):
        key = text(raw)
        if key in skip or key.startswith(services.store.keys.gone("")):
            continue
        kind = text(redis.type(key))
        if kind == "zset":
            content = " ".join(text(m) for m in redis.zrange(key, 0, -1))
        elif kind == "hash":
            content = " ".join(f"{text(k)} {text(v)}" for k, v in redis.hgetall(key).items())
        elif kind == "string":
            content = text(redis.get(key))
        elif kind == "list":
            content = " ".join(text(m) for m in redis.lrange(key, 0, -1))
        else:
            content = ""
        if task_id in key or task_id in content:
            found.append(key)
    return found


def expire(services: Services, **kwargs: Any) -> retention.Sweep:
    """One retention run that keeps nothing settled before now + LATER."""
    return retention.remove_expired(services.store, 1.0, now=time.time() + LATER, **kwargs)


def delivered_child(services: Services) -> tuple[dict[str, Any], str]:
    """A child of ORCH whose outcome reached the orchestrator, and the resume that carried it
    (settled, its hook run)."""
    child = settled_child(services, "the answer", at=1000.0)
    services.store.clear_outbox(child["task_id"], 1)  # the child's finished-hook ran...
    inbox.accept(services.store, child, 1)  # ... and queued its outcome for ORCH
    resume_id = delivery.deliver(services, ORCH, seen=delivery.look(IDLE))
    assert resume_id is not None
    services.store.transition(resume_id, State.RUNNING, agent_run_id=ORCH, started_at="now")
    services.store.attach_run(resume_id, ORCH)
    seq = services.store.transition(resume_id, State.COMPLETED).outcome_seq
    resume = services.store.get(resume_id)
    assert resume is not None
    delivery.delivered(services, resume)
    services.store.clear_outbox(resume_id, seq)
    return child, resume_id


def test_a_settled_task_past_its_time_goes_with_every_trace(
    make_services: Callable[..., Services],
) -> None:
    services = make_services()
    store = services.store
    child, resume_id = delivered_child(services)
    services.redis.hset(store.keys.missing(), child["task_id"], "1")
    services.redis.set(store.keys.requeued(child["task_id"]), "1")
    services.redis.set(store.keys.requeued(f"{child['task_id']}:1"), "1")
    # Its run-webhook address, as a launch with CODEGEN_MCP_PUBLIC_URL set makes it.
    public = make_services(public_url="https://cgm.example.com")
    assert webhooks_in.webhooks_for(public, child)
    assert traces(services, child["task_id"])

    done = expire(services)

    assert (done.removed, done.deferred) == (2, 0)
    assert traces(services, child["task_id"]) == []
    assert traces(services, resume_id) == []
    assert store.get(child["task_id"]) is None
    # ORCH has no task, child or inbox left: it leaves the orchestrator indexes too.
    assert store.redis.zscore(store.keys.orchestrators(), str(ORCH)) is None
    assert not store.redis.hexists(store.keys.resumed(), str(ORCH))
    assert store.owners([ORCH]) == {}
    # ... but its tree still says what became of its child.
    gone = build(store, agent_run_id=ORCH)["children"]
    assert [(c["task_id"], c["state"]) for c in gone] == [(child["task_id"], "removed")]


def test_a_child_waiting_for_its_delivery_stays_until_delivered(services: Services) -> None:
    store = services.store
    child = settled_child(services, "the answer", at=1000.0)
    store.clear_outbox(child["task_id"], 1)
    inbox.accept(store, child, 1)  # pending: ORCH has not had it yet

    done = expire(services)

    assert (done.removed, done.deferred) == (0, 1)
    assert store.get(child["task_id"]) is not None
    resume_id = delivery.deliver(services, ORCH, seen=delivery.look(IDLE))
    assert resume_id is not None
    assert expire(services).removed == 0  # taken, on its way: still pending
    resume = store.get(resume_id)
    assert resume is not None
    delivery.delivered(services, {**resume, "agent_run_id": ORCH})

    later = retention.remove_expired(store, 1.0, now=time.time() + retention.RECHECK + LATER)

    assert later.removed == 1
    assert store.get(child["task_id"]) is None


def test_a_child_whose_finished_hook_has_not_run_stays(services: Services) -> None:
    child = settled_child(services, "the answer", at=1000.0)  # outcome 1 still in the outbox

    assert expire(services).deferred == 1

    assert services.store.get(child["task_id"]) is not None


def test_what_was_removed_says_so(services: Services) -> None:
    child, _ = delivered_child(services)
    sibling = settled_child(services, "still here", at=2000.0)
    expire(services)  # the sibling's hook has not run: it stays

    node = build(services.store, agent_run_id=ORCH)

    removed = [c for c in node["children"] if c["state"] == "removed"]
    assert [c["agent_run_id"] for c in node["children"] if c not in removed] == [
        sibling["agent_run_id"]
    ]
    assert [c["task_id"] for c in removed] == [child["task_id"]]
    gone = removed[0]
    assert (gone["state"], gone["final_state"]) == ("removed", "completed")
    assert gone["removed_at"].endswith("Z")
    with pytest.raises(NotFound, match="was removed at") as caught:
        execute(services, "task_status", {"task_id": child["task_id"]}, "test")
    assert caught.value.http_status == 404
    assert caught.value.details["fields"] == {"task_id": [caught.value.message]}
    with pytest.raises(NotFound, match="no task with id"):
        execute(services, "task_status", {"task_id": "0" * 8 + "-0000-4000-8000-" + "0" * 12}, "t")


def test_a_run_that_reopens_leaves_the_settled_index(services: Services) -> None:
    store = services.store
    task_id = store.create({"repo": "acme/demo", "query": "q"})
    store.transition(task_id, State.RUNNING, agent_run_id=5)
    store.transition(task_id, State.COMPLETED)
    assert store.redis.zscore(store.keys.settled(), task_id) is not None

    store.transition(task_id, State.RUNNING)  # the run re-opened

    assert store.redis.zscore(store.keys.settled(), task_id) is None
    assert expire(services).removed == 0


def test_the_run_goes_back_to_its_previous_task(services: Services) -> None:
    store = services.store
    first = store.create({"repo": "acme/demo", "query": "q"})
    store.attach_run(first, 9)
    second = store.create({"command": "resume", "agent_run_id": 9, "query": "more"})
    store.attach_run(second, 9)
    store.transition(second, State.RUNNING)
    store.transition(second, State.CANCELLED)
    store.clear_outbox(second, 1)

    assert expire(services).removed == 1

    assert store.owners([9]) == {9: first}
    assert store.tasks_for_run(9) == [first]


def test_zero_days_keeps_every_task(services: Services) -> None:
    task_id = services.store.create({"repo": "acme/demo", "query": "q"})
    services.store.transition(task_id, State.FAILED)
    services.store.clear_outbox(task_id, 1)

    assert retention.run(services.store, 0) == retention.Sweep()

    assert services.store.get(task_id) is not None


def test_batches_are_bounded_and_a_store_from_before_is_indexed(services: Services) -> None:
    store = services.store
    ids = []
    for _ in range(5):
        ids.append(store.create({"repo": "acme/demo", "query": "q"}))
        store.transition(ids[-1], State.COMPLETED)
        store.clear_outbox(ids[-1], 1)
        store.update(ids[-1], updated_at=repr(1000.0))
    store.redis.delete(store.keys.settled())  # as written before the index existed

    retention.index_settled(store)
    done = retention.remove_expired(store, 1.0, batch=2, passes=2, now=time.time() + LATER)

    assert (done.removed, done.batches) == (4, 2)
    assert expire(services).removed == 1
    assert [store.get(i) for i in ids] == [None] * 5


def test_a_worker_runs_retention(redis_url: str, tmp_path: Path) -> None:
    """The beat task, sent through the broker to a real worker, removes what is due
    (retention_days 1e-5: under a second)."""
    settings = fast_settings(redis_url, "http://127.0.0.1:9", tmp_path, retention_days=1e-5)
    services = Services(settings, redis_url)
    task_id = services.store.create({"repo": "acme/demo", "query": "q"})
    services.store.transition(task_id, State.FAILED)
    services.store.clear_outbox(task_id, 1)
    worker = Worker(settings, tmp_path / "worker.log", beat=False).start()
    try:
        deadline = time.monotonic() + 60
        while services.store.get(task_id) is not None:
            assert time.monotonic() < deadline, worker.log()[-3000:]
            services.queue.send(queue.RETENTION)
            time.sleep(1.0)
        assert retention.removed_at(services.store, task_id) is not None
    finally:
        worker.stop()
        services.queue.app.close()
        services.redis.close()


def test_a_key_replayed_after_its_task_was_removed_says_so(
    make_services: Callable[..., Services],
) -> None:
    services = make_services(new_wait=0.0)
    call = {"repo": "acme/demo", "query": "q", "idempotency_key": "retry-after-removal"}
    task_id = execute(services, "new", call, "client")["task_id"]
    services.store.transition(task_id, State.CANCELLED)
    services.store.clear_outbox(task_id, 1)
    assert expire(services).removed == 1

    with pytest.raises(NotFound, match="was removed at"):
        execute(services, "new", call, "client")


def test_a_task_whose_webhook_events_wait_stays_until_they_are_sent(services: Services) -> None:
    store = services.store
    task_id = store.create(
        {"repo": "acme/demo", "query": "q", "notify_url": "https://hooks.example.com/cgm"}
    )
    store.transition(task_id, State.COMPLETED)  # queues the task.completed webhook event
    store.clear_outbox(task_id, 1)
    outbox = notify.Outbox(store)
    event = outbox.head(task_id)
    assert event is not None

    assert expire(services).deferred == 1

    assert outbox.drop(task_id, event["id"]) == 0  # sent
    later = retention.remove_expired(store, 1.0, now=time.time() + retention.RECHECK + LATER)
    assert later.removed == 1
    assert traces(services, task_id) == []


def test_mcp_tasks_are_told_how_long_retention_keeps_them() -> None:
    """ttlMs: removed `days` after settling, so kept at least that long from creation; null
    (without limit) when retention is off."""
    assert retention.kept_ms(30) == 2_592_000_000
    assert retention.kept_ms(0.5) == 43_200_000
    assert retention.kept_ms(0) is None
