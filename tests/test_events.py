"""The event stream on a real Redis: every change of a task adds one entry, atomically with
the change, and a refused transition adds none."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from codegen_mcp import events
from codegen_mcp.redis_conn import connect
from codegen_mcp.states import State
from codegen_mcp.store import TaskStore


@pytest.fixture
def store(redis_url: str) -> Iterator[TaskStore]:
    client = connect(redis_url)
    yield TaskStore(client, f"e{uuid.uuid4().hex[:8]}")
    client.close()


def all_events(store: TaskStore) -> list[events.Event]:
    return events.read(store.redis, store.keys.events(), "0")


def test_a_task_s_life_is_one_event_per_change_in_order(store: TaskStore) -> None:
    task_id = store.create({"repo": "acme/demo", "query": "q", "orchestrator_run_id": 7})
    store.transition(task_id, State.RUNNING, allowed=[State.QUEUED], api_status="QUEUED")
    store.transition(task_id, State.RUNNING, allowed=[State.RUNNING], api_status="ACTIVE")
    store.transition(task_id, State.RUNNING, allowed=[State.RUNNING], web_url="https://x")
    store.transition(task_id, State.COMPLETED, allowed=[State.RUNNING], api_status="COMPLETE")

    seen = [(e.task_id, e.previous, e.state, e.api_status, e.seq) for e in all_events(store)]
    assert seen == [
        (task_id, None, "queued", None, 0),
        (task_id, "queued", "running", "QUEUED", 0),
        (task_id, "running", "running", "ACTIVE", 0),  # a new Codegen status, same state
        (task_id, "running", "completed", "COMPLETE", 1),  # the web_url write made none
    ]
    assert {e.orchestrator_run_id for e in all_events(store)} == {"7"}


def test_a_refused_transition_adds_no_event(store: TaskStore) -> None:
    task_id = store.create({"repo": "acme/demo", "query": "q"})
    assert not store.transition(task_id, State.COMPLETED, allowed=[State.RUNNING]).applied
    assert [e.state for e in all_events(store)] == ["queued"]


def test_a_reader_resumes_after_the_last_event_it_saw(store: TaskStore) -> None:
    first = store.create({"repo": "acme/demo", "query": "q"})
    mark = events.last_id(store.redis, store.keys.events())
    store.transition(first, State.RUNNING, allowed=[State.QUEUED])
    second = store.create({"repo": "acme/demo", "query": "q"})

    later = events.read(store.redis, store.keys.events(), mark)
    assert [(e.task_id, e.state) for e in later] == [(first, "running"), (second, "queued")]
    assert events.read(store.redis, store.keys.events(), later[-1].id, block_ms=10) == []
