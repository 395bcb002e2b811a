"""The `transition` script on a real Redis: the hash, the state indexes, the watch set and
the finished-outbox change together, or not at all."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from codegen_mcp.redis_conn import connect
from codegen_mcp.states import State
from codegen_mcp.store import TaskStore, Transition


@pytest.fixture
def store(redis_url: str) -> Iterator[TaskStore]:
    client = connect(redis_url)
    yield TaskStore(client, f"t{uuid.uuid4().hex[:8]}")
    client.close()


def snapshot(store: TaskStore, task_id: str) -> dict[str, Any]:
    """Everything `transition` may write about a task, with scores."""
    redis = store.redis
    return {
        "hash": redis.hgetall(store.keys.task(task_id)),
        "indexes": {
            state.value: redis.zscore(store.keys.state(state.value), task_id) for state in State
        },
        "watch": redis.zscore(store.keys.watch(), task_id),
        "outbox": redis.zrange(store.keys.outbox(), 0, -1, withscores=True),
        "recent": redis.zscore(store.keys.recent(), task_id),
    }


def running(store: TaskStore, **fields: Any) -> str:
    task_id = store.create({"repo": "acme/demo", "query": "q", **fields})
    assert store.transition(task_id, State.RUNNING, allowed=[State.QUEUED]).applied
    return task_id


def indexed_in(store: TaskStore, task_id: str) -> list[str]:
    return [state for state, score in snapshot(store, task_id)["indexes"].items() if score]


def test_a_transition_moves_the_hash_and_the_state_index_together(store: TaskStore) -> None:
    task_id = store.create({"repo": "acme/demo", "query": "q"})
    created = float(store.redis.hget(store.keys.task(task_id), "created_ts"))

    moved = store.transition(task_id, State.RUNNING, allowed=[State.QUEUED], agent_run_id=7)

    assert moved == Transition(applied=True, old_state="queued", outcome_seq=0)
    task = store.get(task_id)
    assert task is not None
    assert (task["state"], task["agent_run_id"]) == ("running", 7)
    assert indexed_in(store, task_id) == ["running"]
    # The index keeps creation order, whatever the state.
    assert store.redis.zscore(store.keys.state("running"), task_id) == created
    assert [t for t, _ in store.watched()] == [task_id]
    assert store.outbox() == []


def test_a_transition_from_a_state_not_allowed_changes_nothing(store: TaskStore) -> None:
    task_id = running(store, result="before")
    before = snapshot(store, task_id)

    refused = store.transition(
        task_id, State.COMPLETED, allowed=[State.QUEUED, State.PAUSED], result="after"
    )

    assert refused == Transition(applied=False, old_state="running", outcome_seq=0)
    assert snapshot(store, task_id) == before  # hash, indexes, watch set, outbox, recent


def test_a_transition_from_any_allowed_state_applies(store: TaskStore) -> None:
    task_id = running(store)
    moved = store.transition(task_id, State.PAUSED, allowed=[State.QUEUED, State.RUNNING])
    assert moved.applied and moved.old_state == "running"
    assert indexed_in(store, task_id) == ["paused"]


def test_no_allowed_states_means_from_any_state(store: TaskStore) -> None:
    task_id = running(store)
    store.transition(task_id, State.FAILED)
    assert store.transition(task_id, State.CANCELLED).applied
    assert indexed_in(store, task_id) == ["cancelled"]


def test_a_missing_task_is_not_created_by_a_transition(store: TaskStore) -> None:
    missing = str(uuid.uuid4())
    assert store.transition(missing, State.COMPLETED, result="x") == Transition(False, "", 0)
    assert snapshot(store, missing) == {
        "hash": {},
        "indexes": dict.fromkeys(State, None),
        "watch": None,
        "outbox": [],
        "recent": None,
    }


def test_settling_is_one_new_outcome_in_the_outbox(store: TaskStore) -> None:
    task_id = running(store)

    settled = store.transition(task_id, State.COMPLETED, allowed=[State.RUNNING], result="ok")

    assert settled == Transition(applied=True, old_state="running", outcome_seq=1)
    assert store.outbox() == [(task_id, 1)]
    assert store.watched() == []  # a settled run is no longer watched
    assert store.recently_settled(60) == 1
    task = store.get(task_id)
    assert task is not None and task["outcome_seq"] == 1


def test_the_same_settled_state_again_is_no_new_outcome_without_renew(store: TaskStore) -> None:
    task_id = running(store)
    store.transition(task_id, State.COMPLETED, result="first")

    again = store.transition(task_id, State.COMPLETED, result="second")

    assert again == Transition(applied=True, old_state="completed", outcome_seq=0)
    assert store.outbox() == [(task_id, 1)]
    task = store.get(task_id)
    assert task is not None and (task["outcome_seq"], task["result"]) == (1, "second")


def test_renew_makes_the_same_settled_state_a_new_outcome(store: TaskStore) -> None:
    task_id = running(store)
    store.transition(task_id, State.COMPLETED, result="first")

    renewed = store.transition(task_id, State.COMPLETED, renew=True, result="second")

    assert renewed == Transition(applied=True, old_state="completed", outcome_seq=2)
    assert sorted(store.outbox()) == [(task_id, 1), (task_id, 2)]
    assert indexed_in(store, task_id) == ["completed"]


def test_renew_does_not_make_an_unsettled_state_an_outcome(store: TaskStore) -> None:
    task_id = running(store)
    renewed = store.transition(task_id, State.RUNNING, renew=True)
    assert renewed == Transition(applied=True, old_state="running", outcome_seq=0)
    assert store.outbox() == []


def test_a_refused_renew_is_no_outcome(store: TaskStore) -> None:
    task_id = running(store)
    store.transition(task_id, State.COMPLETED, result="first")
    before = snapshot(store, task_id)

    refused = store.transition(
        task_id, State.COMPLETED, allowed=[State.RUNNING], renew=True, result="second"
    )

    assert refused == Transition(applied=False, old_state="completed", outcome_seq=0)
    assert snapshot(store, task_id) == before


def test_running_again_keeps_the_time_the_run_was_last_checked(store: TaskStore) -> None:
    task_id = running(store)
    store.redis.zadd(store.keys.watch(), {task_id: 1000.0}, xx=True)

    store.transition(task_id, State.RUNNING, api_status="EVALUATION")

    assert store.watched() == [(task_id, 1000.0)]  # the sweep's oldest-first order stands


def test_a_reopened_task_is_watched_again(store: TaskStore) -> None:
    task_id = running(store)
    store.transition(task_id, State.COMPLETED)
    assert store.transition(task_id, State.RUNNING, allowed=[State.COMPLETED]).applied
    assert [t for t, _ in store.watched()] == [task_id]
    assert indexed_in(store, task_id) == ["running"]


def test_a_none_field_is_deleted_and_structures_are_json(store: TaskStore) -> None:
    task_id = running(store, error="an old error")

    store.transition(
        task_id, State.COMPLETED, error=None, pull_requests=[{"number": 3}], seen_active=True
    )

    task = store.get(task_id)
    assert task is not None
    assert "error" not in task
    assert task["pull_requests"] == [{"number": 3}]
    assert task["seen_active"] == "1"
