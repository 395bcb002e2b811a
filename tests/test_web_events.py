"""GET /events over HTTP: a real web front, Redis, worker and simulator, read by a streaming
requests client (tests/sse.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from codegen_mcp import events
from codegen_mcp.event_feed import CLIENT_NAME
from codegen_mcp.redis_conn import connect
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import Simulator
from codegen_mcp.states import State
from codegen_mcp.store import TaskStore
from tests.sse import Stream
from tests.support import Front, Worker, fast_settings, wait_for

QUICK = "[sim:active=0.5] [sim:eval=0]"
HEARTBEAT = 0.5


@pytest.fixture(scope="module")
def settings(redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("data")
    return fast_settings(redis_url, sim.url, data, events_heartbeat=HEARTBEAT, max_event_streams=8)


def quiet_front(settings: Settings, tmp_path: Path, **overrides: object) -> Front:
    """A front on a key prefix no worker serves: its tasks move only when a test moves them."""
    return Front(
        settings.with_(key_prefix=f"q{uuid.uuid4().hex[:8]}", data_dir=tmp_path, **overrides)
    )


@pytest.fixture
def quiet(settings: Settings, tmp_path: Path) -> Iterator[Front]:
    front = quiet_front(settings, tmp_path)
    yield front
    front.stop()


def store_of(front: Front) -> TaskStore:
    return front.services.store


def ready(stream: Stream) -> dict[str, object]:
    assert stream.status == 200, stream.response.text
    first = stream.next()
    assert first["event"] == "stream.ready"
    return first


def test_events_arrive_as_a_task_moves_each_with_the_task_as_task_status_shows_it(
    front: Front, worker: Worker
) -> None:
    with Stream(front.url) as stream:
        assert stream.response.headers["Content-Type"].startswith("text/event-stream")
        ready(stream)
        task_id = front.ok("new", {"repo": "acme/demo", "query": f"Add a README {QUICK}"})[
            "task_id"
        ]
        mine = [
            m
            for m in stream.until(
                lambda m: m["data"].get("task_id") == task_id and m["data"]["state"] == "completed"
            )
            if m["data"].get("task_id") == task_id
        ]
    assert mine[0]["event"] == "task.created" and mine[0]["data"]["state"] == "queued"
    assert [m["data"]["state"] for m in mine if m["event"] == "task.state"] == [
        "running",
        "completed",
    ]
    assert all(m["id"] == m["data"]["event_id"] for m in mine)
    last = mine[-1]["data"]
    assert last["previous_state"] == "running" and last["outcome_seq"] == 1
    status = front.status(task_id)
    status.pop("status")
    assert last["task"] == status  # the task as task_status shows it
    assert "## Done" in last["task"]["result"]


def test_filters_pass_only_the_events_asked_for(quiet: Front) -> None:
    store = store_of(quiet)
    first = store.create({"repo": "acme/demo", "query": "q"})
    child = store.create({"repo": "acme/demo", "query": "q", "orchestrator_run_id": 77})
    by_task = Stream(quiet.url, {"task_id": f"{first},unknown-task"})
    by_state = Stream(quiet.url, {"state": ["completed", "failed"]})
    by_run = Stream(quiet.url, {"orchestrator_run_id": "77"})
    for stream in (by_task, by_state, by_run):
        ready(stream)
    store.transition(first, State.RUNNING, allowed=[State.QUEUED], api_status="ACTIVE")
    store.transition(child, State.RUNNING, allowed=[State.QUEUED], api_status="ACTIVE")
    store.transition(child, State.FAILED, allowed=[State.RUNNING], error="boom")
    store.transition(first, State.COMPLETED, allowed=[State.RUNNING], api_status="COMPLETE")

    got_task = by_task.until(lambda m: m["data"]["state"] == "completed")
    assert [(m["data"]["task_id"], m["data"]["state"]) for m in got_task] == [
        (first, "running"),
        (first, "completed"),
    ]
    got_state = by_state.until(lambda m: m["data"]["task_id"] == first)
    assert [(m["data"]["task_id"], m["data"]["state"]) for m in got_state] == [
        (child, "failed"),
        (first, "completed"),
    ]
    got_run = by_run.until(lambda m: m["data"]["state"] == "failed")
    assert [m["data"]["task_id"] for m in got_run] == [child, child]
    assert got_run[-1]["data"]["orchestrator_run_id"] == 77
    assert got_run[-1]["data"]["task"]["error"] == "boom"
    for stream in (by_task, by_state, by_run):
        stream.close()


def test_a_reconnect_with_last_event_id_misses_nothing(quiet: Front) -> None:
    store = store_of(quiet)
    task_id = store.create({"repo": "acme/demo", "query": "q"})
    with Stream(quiet.url, {"task_id": task_id}) as stream:
        ready(stream)
        store.transition(task_id, State.RUNNING, allowed=[State.QUEUED], api_status="QUEUED")
        seen = stream.next()
    assert seen["data"]["codegen_status"] == "QUEUED"
    # while nobody listens
    store.transition(task_id, State.RUNNING, allowed=[State.RUNNING], api_status="ACTIVE")
    store.transition(task_id, State.PAUSED, allowed=[State.RUNNING], last_message="Which?")

    with Stream(quiet.url, {"task_id": task_id}, {"Last-Event-ID": seen["id"]}) as again:
        assert ready(again)["id"] == seen["id"]
        missed = [again.next(), again.next()]
    assert [(m["event"], m["data"]["codegen_status"], m["data"]["state"]) for m in missed] == [
        ("task.status", "ACTIVE", "running"),
        ("task.state", "ACTIVE", "paused"),
    ]
    assert missed[-1]["data"]["task"]["last_message"] == "Which?"
    # the URL's last_event_id does the same (for clients that cannot set a header)
    with Stream(quiet.url, {"task_id": task_id, "last_event_id": seen["id"]}) as by_query:
        ready(by_query)
        assert by_query.next()["id"] == missed[0]["id"]


def test_a_filtered_stream_still_moves_its_resume_point_past_what_it_left_out(
    quiet: Front,
) -> None:
    store = store_of(quiet)
    watched = store.create({"repo": "acme/demo", "query": "q"})
    with Stream(quiet.url, {"task_id": watched}) as stream:
        start = ready(stream)["id"]
        store.create({"repo": "acme/demo", "query": "q"})  # another task: filtered out
        newest = events.last_id(store.redis, store.keys.events())
        stream.read_to_id(newest)  # an id-only message: resuming from it skips nothing wanted
    assert newest != start


def test_an_id_older_than_the_stream_keeps_is_reported_not_skipped(quiet: Front) -> None:
    store = store_of(quiet)
    task_id = store.create({"repo": "acme/demo", "query": "q"})
    old = events.last_id(store.redis, store.keys.events())
    pipe = store.redis.pipeline(transaction=False)
    for _ in range(events.KEPT + 500):  # more than the stream keeps: `old` is trimmed away
        events.append(pipe, store.keys.events(), {"task_id": "filler", "state": "running"}, "x")
    pipe.execute()

    with Stream(quiet.url, {"task_id": task_id}, {"Last-Event-ID": old}) as stream:
        opened = ready(stream)
        missed = stream.next()
        store.transition(task_id, State.RUNNING, allowed=[State.QUEUED])
        after = stream.next()
    assert missed["event"] == "stream.missed"
    assert missed["data"]["last_event_id"] == old and missed["data"]["reason"] == "trimmed"
    assert missed["data"]["resumed_after"] == opened["id"]
    assert "may have been missed" in missed["data"]["message"]
    assert after["data"]["state"] == "running"  # and the stream goes on from now

    with Stream(quiet.url, headers={"Last-Event-ID": "99999999999999-0"}) as future:
        ready(future)
        assert future.next()["data"]["reason"] == "unknown"


def test_bad_filters_are_refused_naming_the_parameter(quiet: Front) -> None:
    cases = {
        "state": ({"state": "done"}, "Must be one of queued"),
        "orchestrator_run_id": ({"orchestrator_run_id": "seven"}, "integer"),
        "task_id": ({"task_id": "a b"}, "Not a valid task id"),
        "last_event_id": ({"last_event_id": "yesterday"}, "event id"),
        "colour": ({"colour": "red"}, "Unknown field"),
    }
    for field, (params, words) in cases.items():
        response = requests.get(quiet.url + "/events", params=params, timeout=10)
        body = response.json()
        assert response.status_code == 400, body
        assert body["error"] == "invalid_request" and field in body["fields"], body
        assert words in str(body["fields"][field]), body
    header = requests.get(quiet.url + "/events", headers={"Last-Event-ID": "x"}, timeout=10)
    assert header.status_code == 400 and "last_event_id" in header.json()["fields"]


def test_a_bad_value_among_several_is_named_in_the_one_error_shape(quiet: Front) -> None:
    """`fields` is {parameter: [messages]} for list parameters too (docs/commands.md#errors),
    never marshmallow's {parameter: {index: [...]}}; the message names the value at fault."""
    params = {"state": "completed,done", "task_id": "a,b c"}
    body = requests.get(quiet.url + "/events", params=params, timeout=10).json()
    assert body["fields"] == {
        "state": ["'done': Must be one of queued, running, paused, completed, failed, cancelled."],
        "task_id": ["'b c': Not a valid task id."],
    }
    assert "state: 'done': Must be one of" in body["message"]


def test_the_stream_needs_the_bearer_token_and_a_known_host_and_origin(
    settings: Settings, tmp_path: Path
) -> None:
    front = quiet_front(settings, tmp_path, auth_token="events-secret")
    try:
        bare = requests.get(front.url + "/events", timeout=10)
        assert bare.status_code == 401 and bare.json()["error"] == "unauthorized"
        auth = {"Authorization": "Bearer events-secret"}
        with Stream(front.url, headers=auth) as stream:
            ready(stream)
        rebound = requests.get(front.url + "/events", headers={**auth, "Host": "evil.example"})
        assert rebound.status_code == 421
        foreign = {**auth, "Origin": "http://evil.example"}
        refused = requests.get(front.url + "/events", headers=foreign, timeout=10)
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden_origin"
    finally:
        front.stop()


def test_streams_beyond_the_bound_get_503_and_a_slot_frees_when_a_client_leaves(
    settings: Settings, tmp_path: Path
) -> None:
    front = quiet_front(settings, tmp_path, max_event_streams=2)
    names = connect(settings.redis_url or "")
    own = f"{CLIENT_NAME}-{front.services.settings.key_prefix}"
    try:
        first, second = Stream(front.url), Stream(front.url)
        ready(first), ready(second)
        assert _stream_connections(names, own) == 2  # each on a Redis connection of its own
        refused = requests.get(front.url + "/events", timeout=10)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == "too_many_streams"
        assert "CODEGEN_MCP_MAX_EVENT_STREAMS" in refused.json()["message"]
        assert int(refused.headers["Retry-After"]) >= 1
        first.close()  # the server sees it at its next write (a heartbeat at the latest)
        third = wait_for(lambda: (s := Stream(front.url)).status == 200 and s, 10, "a free slot")
        ready(third)
        wait_for(lambda: _stream_connections(names, own) == 2, 10, "its connection closed")
        second.close(), third.close()
        wait_for(lambda: _stream_connections(names, own) == 0, 10, "all closed")
    finally:
        names.close()
        front.stop()


def _stream_connections(client: object, name: str) -> int:
    listed = client.client_list()  # type: ignore[attr-defined]
    return sum(1 for entry in listed if entry.get("name") == name)


def test_with_no_streams_allowed_the_route_is_absent(settings: Settings, tmp_path: Path) -> None:
    front = quiet_front(settings, tmp_path, max_event_streams=0)
    try:
        response = requests.get(front.url + "/events", timeout=10)
        assert response.status_code == 404 and response.json()["error"] == "not_found"
    finally:
        front.stop()


def test_stopping_the_server_ends_its_open_streams(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    front = quiet_front(settings, tmp_path, events_heartbeat=30.0)  # no heartbeat comes first
    stream = Stream(front.url)
    ready(stream)
    with caplog.at_level("WARNING", logger="waitress"):
        front.stop()
    assert "still running" not in caplog.text  # no stream thread held the shutdown
    with pytest.raises((EOFError, requests.ConnectionError)):
        stream.next()
    stream.close()
