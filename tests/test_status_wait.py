"""`task_status` with `wait`: it answers as soon as the task changes, or when the wait is over.

The wait lives in the service layer, so the HTTP front has it as much as the MCP one.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support import Front, Worker


def _timed_status(front: Front, task_id: str, wait: float) -> tuple[dict[str, Any], float]:
    asked = time.monotonic()
    status = front.ok("task_status", {"task_id": task_id, "wait": wait})
    return status, time.monotonic() - asked


def test_wait_answers_as_soon_as_the_run_changes(front: Front, worker: Worker) -> None:
    task_id = front.ok("new", {"repo": "acme/demo", "query": "x [sim:active=1.5] [sim:eval=0]"})[
        "task_id"
    ]
    before = front.wait_state(task_id, "running")
    status, took = _timed_status(front, task_id, 20)
    assert (status["state"], status["codegen_status"]) != (
        before["state"],
        before["codegen_status"],
    )
    assert took < 10, f"the wait ran {took:.1f}s after the change"


def test_wait_ends_at_its_deadline_when_nothing_changes(front: Front, worker: Worker) -> None:
    task_id = front.ok("new", {"repo": "acme/demo", "query": "x [sim:stuck]"})["task_id"]
    front.wait_state(task_id, "running")
    status, took = _timed_status(front, task_id, 1.0)
    assert status["state"] == "running"
    assert 1.0 <= took < 10  # at its 1 s deadline, not at the 25 s cap (margin for a busy box)


def test_wait_on_a_settled_task_answers_at_once(front: Front, worker: Worker) -> None:
    task_id = front.ok("new", {"repo": "acme/demo", "query": "x [sim:active=0.2] [sim:eval=0]"})[
        "task_id"
    ]
    front.wait_state(task_id, "completed")
    status, took = _timed_status(front, task_id, 25)
    assert status["state"] == "completed"
    assert took < 10  # at once, not after the 25 s asked for (margin for a busy box)


@pytest.mark.parametrize("wait", [25.5, -1, "soon", True])  # null means "not given"
def test_wait_outside_0_to_25_seconds_is_rejected_naming_it(front: Front, wait: object) -> None:
    response = front.call("task_status", {"task_id": "0" * 36, "wait": wait})
    assert response.status_code == 400
    assert "wait" in response.json()["fields"]
