"""The CLI follows tasks on the event stream (GET /events), and falls back to long-polling
task_status against a front without one. The real CLI runs as a subprocess against a real
front, worker and simulator; the front's access log shows which requests it made."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from codegen_mcp.settings import Settings
from codegen_mcp.simulator import Simulator
from tests.support import Front, Worker, fast_settings
from tests.test_cli import QUICK, cli

ACCESS = "codegen_mcp.access"


@pytest.fixture(scope="module")
def settings(redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("data")
    return fast_settings(redis_url, sim.url, data, events_heartbeat=0.5)


@pytest.fixture
def old_front(settings: Settings) -> Iterator[Front]:
    """A front without /events (as a server from before it answers: 404), same tasks."""
    front = Front(settings.with_(max_event_streams=0))
    yield front
    front.stop()


def requests_made(caplog: pytest.LogCaptureFixture) -> list[str]:
    """'POST /', 'GET /events 200', ...: each request the front served, with its status."""
    made = []
    for record in caplog.records:
        if record.name == ACCESS:
            found = re.search(r'"(\S+) (\S+) [^"]*" (\d+)', record.getMessage())
            assert found, record.getMessage()
            made.append(" ".join(found.groups()))
    return made


def test_wait_returns_on_the_event_without_polling_task_status(
    front: Front, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    query = f"Add a README [sim:active=2] [sim:eval=0] {uuid.uuid4().hex[:6]}"
    with caplog.at_level("INFO", logger=ACCESS):
        done = cli(front, "new", "acme/demo", query, "--wait", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["state"] == "completed" and answer["status"] == "success"
    assert answer == front.status(answer["task_id"])  # what task_status would have said
    made = requests_made(caplog)
    # new, one task_status once the stream is open, then only the stream: queued, running
    # and completed all came as events.
    assert made == ["POST / 202", "GET /events 200", "POST / 200"], made


def test_wait_falls_back_to_polling_against_a_front_without_events(
    old_front: Front, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger=ACCESS):
        done = cli(old_front, "new", "acme/demo", f"Add a README {QUICK}", "--wait")
    assert done.returncode == 0, done.stderr
    assert "completed" in done.stdout
    made = requests_made(caplog)
    assert made[:3] == ["POST / 202", "GET /events 404", "POST / 200"], made
    assert len(made) >= 4  # long polls of task_status until it settled


def test_logs_follow_ends_on_the_event_that_the_run_finished(
    front: Front, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    task_id = front.ok("new", {"repo": "acme/demo", "query": f"Fix it {QUICK}"})["task_id"]
    with caplog.at_level("INFO", logger=ACCESS):
        done = cli(front, "logs", task_id, "--follow")
    assert done.returncode == 0, done.stderr
    assert front.status(task_id)["state"] == "completed"
    assert "GET /events 200" in requests_made(caplog)


def test_logs_follow_falls_back_to_polling_against_a_front_without_events(
    old_front: Front, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    task_id = old_front.ok("new", {"repo": "acme/demo", "query": f"Fix it {QUICK}"})["task_id"]
    with caplog.at_level("INFO", logger=ACCESS):
        done = cli(old_front, "logs", task_id, "--follow")
    assert done.returncode == 0, done.stderr
    assert "GET /events 404" in requests_made(caplog)


def test_a_refused_token_on_the_stream_is_reported_like_any_refusal(
    settings: Settings, tmp_path: Path
) -> None:
    front = Front(settings.with_(auth_token="cli-events-token", data_dir=tmp_path))
    try:
        refused = cli(front, "status", "some-task", "--wait", "--token", "wrong")
        assert refused.returncode == 2
        assert "bearer token" in refused.stderr
    finally:
        front.stop()
