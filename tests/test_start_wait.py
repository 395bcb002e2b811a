"""A start waits for its run id only when its API budget can start it within the wait, and is
woken by the event stream when it does; otherwise it answers at once that it is queued, with
its place in line and when it should start. On both fronts; the MCP front's waits hold no
thread. Real Redis, a real Celery worker, the simulator."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from mcp import Client

from codegen_mcp import intake
from codegen_mcp.mcp_server import create_server
from codegen_mcp.settings import RateLimit, Settings
from tests.support import Front, Worker

LONG_WAIT = 30.0  # a caller timed out by it would show: every answer here comes well before
QUICK = "[sim:active=0.3] [sim:eval=0]"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def stack(settings: Settings, tmp_path: Path) -> Iterator[Front]:
    """A front and a worker of their own (their own queue and budget), where our create
    budget is one run a minute (the API's, on the simulator, is far larger)."""
    own = settings.with_(
        key_prefix=f"sw{uuid.uuid4().hex[:8]}", new_wait=LONG_WAIT, create_limit=RateLimit(1, 60)
    )
    worker = Worker(own, tmp_path / "worker.log", name="w1c", beat=False).start()
    web = Front(own)
    yield web
    web.stop()
    worker.stop()


def _timed(call: Any) -> tuple[Any, float]:
    began = time.monotonic()
    answer = call()
    return answer, time.monotonic() - began


def test_a_caller_waiting_for_its_run_id_is_woken_when_the_run_starts(
    stack: Front,
) -> None:
    front = stack
    woken = front.services.waits.woken
    body, took = _timed(lambda: front.ok("new", {"repo": "acme/demo", "query": QUICK}))
    assert body["state"] == "running" and body["agent_run_id"] and body["web_url"], body
    assert took < LONG_WAIT  # answered when the run started, not when the wait ran out
    assert front.services.waits.woken > woken  # by the event of its start, not by polling
    assert "queue_position" not in body


def test_a_start_its_budget_cannot_start_within_the_wait_is_answered_queued_at_once(
    stack: Front,
) -> None:
    front = stack
    first = front.ok("new", {"repo": "acme/demo", "query": QUICK})  # spends the create budget
    assert first["state"] == "running", first
    second, took = _timed(lambda: front.ok("new", {"repo": "acme/demo", "query": QUICK}))
    third = front.ok("new", {"repo": "acme/demo", "query": QUICK})
    assert took < LONG_WAIT
    assert second["state"] == "queued" and second["agent_run_id"] is None, second
    assert (second["queue_position"], third["queue_position"]) == (1, 2)
    # One create a minute: the second starts when the minute is over, the third a minute later.
    assert 0 < second["estimated_start_in"] <= 60
    assert 60 < third["estimated_start_in"] <= 120
    start = datetime.fromisoformat(second["estimated_start_at"].replace("Z", "+00:00"))
    assert abs(start.timestamp() - (time.time() + second["estimated_start_in"])) < 5
    assert "2 in line" in third["message"] and "task_status" in third["message"]
    assert front.status(second["task_id"])["state"] == "queued"


def test_a_resume_spends_the_resume_budget_so_a_spent_create_budget_does_not_queue_it(
    stack: Front,
) -> None:
    front = stack
    run_id = front.ok("new", {"repo": "acme/demo", "query": QUICK})["agent_run_id"]
    assert front.ok("new", {"repo": "acme/demo", "query": QUICK})["state"] == "queued"
    body = front.ok("resume", {"agent_run_id": run_id, "query": "And a test " + QUICK})
    assert body["state"] == "running" and body["agent_run_id"] == run_id, body


@pytest.mark.anyio
async def test_over_mcp_a_start_is_woken_with_its_run_id_or_answered_queued_with_its_place(
    stack: Front,
) -> None:
    async with Client(create_server(lambda: stack.services)) as client:
        args = {"repo": "acme/demo", "query": QUICK}
        began = time.monotonic()
        first = (await client.call_tool("new", args)).structured_content
        queued = (await client.call_tool("new", args)).structured_content
        assert time.monotonic() - began < LONG_WAIT
    assert first is not None and first["state"] == "running" and first["web_url"], first
    assert queued is not None and queued["state"] == "queued", queued
    assert queued["queue_position"] == 1 and queued["estimated_start_in"] > 0


@pytest.mark.anyio
async def test_over_mcp_a_task_status_wait_holds_no_thread_and_ends_on_the_change(
    stack: Front,
) -> None:
    front = stack
    services = front.services
    task_id = front.ok("new", {"repo": "acme/demo", "query": "x [sim:stuck]"})["task_id"]
    limiter = anyio.to_thread.current_default_thread_limiter()
    async with Client(create_server(lambda: services)) as client:
        result: dict[str, Any] = {}

        async def ask() -> None:
            answer = await client.call_tool("task_status", {"task_id": task_id, "wait": 25})
            result.update(answer.structured_content or {})

        async with anyio.create_task_group() as group:
            group.start_soon(ask)
            with anyio.fail_after(20):
                while services.waits.waiting() == 0:
                    await anyio.sleep(0.01)
            assert limiter.borrowed_tokens == 0  # the wait is open, and no thread is held
            before = services.store.get(task_id)
            assert before is not None
            await anyio.to_thread.run_sync(lambda: front.ok("cancel", {"task_id": task_id}))
    assert result["state"] != before["state"], result


@pytest.mark.parametrize(
    ("ahead", "taken", "expected"),
    [
        (0, [], 0.0),  # a free slot: now
        (2, [], 0.0),  # three free slots, the third is its
        (3, [], 60.0),  # all three go to the tasks ahead: one window later
        (0, [995.0, 990.0, 980.0], 40.0),  # none free: when the oldest leaves the window
        (1, [995.0, 990.0], 50.0),  # one free, taken by the task ahead: then the oldest leaves
        (2, [995.0, 990.0], 55.0),
        (4, [995.0, 990.0, 980.0], 110.0),  # a whole window later than the second of the turn
        (0, [900.0, 930.0], 0.0),  # slots taken before the window are free again
    ],
)
def test_the_estimated_start_follows_the_moving_window_of_the_budget(
    ahead: int, taken: list[float], expected: float
) -> None:
    assert intake.start_delay(ahead, taken, count=3, seconds=60.0, now=1000.0) == expected
