"""cancel and logs: what really happened upstream is what the answer says."""

from __future__ import annotations

from typing import Any

import pytest

from codegen_mcp import queue
from codegen_mcp.simulator import Simulator
from tests.support import Front, wait_for


def _runs_for(sim: Simulator, task_id: str) -> list[dict[str, Any]]:
    return [
        r for r in sim.runs() if (r.get("metadata") or {}).get("codegen_mcp_task_id") == task_id
    ]


def test_cancel_of_a_queued_task_creates_nothing_even_if_a_worker_picks_it_up(
    front: Front, sim: Simulator, worker
) -> None:
    task_id = front.services.store.create({"command": "new", "repo": "acme/demo", "query": "never"})
    answer = front.ok("cancel", {"task_id": task_id})
    assert answer["state"] == "cancelled" and "nothing was created" in answer["message"]
    front.services.queue.send(queue.LAUNCH, task_id)
    wait_for(
        lambda: front.services.redis.llen(front.services.settings.key_prefix) == 0,
        what="the launch message to be consumed",
    )
    front.ok("list")  # a round trip, so the worker has had time to act on the message
    assert front.status(task_id)["state"] == "cancelled"
    assert _runs_for(sim, task_id) == []


def test_cancel_of_a_running_task_stops_watching_and_says_the_run_goes_on(
    front: Front, sim: Simulator, worker
) -> None:
    task_id = front.ok("new", {"repo": "acme/demo", "query": "long [sim:active=2] [sim:eval=0]"})[
        "task_id"
    ]
    run_id = front.wait_state(task_id, "running")["agent_run_id"]
    answer = front.ok("cancel", {"task_id": task_id})
    assert answer["state"] == "cancelled" and "goes on upstream" in answer["message"]
    wait_for(lambda: sim.run(run_id)["status"] == "COMPLETE", what="the run to finish upstream")
    lists = lambda: sum(e["endpoint"] == "list" for e in sim.requests_log())  # noqa: E731
    start = lists()
    wait_for(lambda: lists() >= start + 2, what="two sweeps to list the finished run")
    status = front.status(task_id)
    assert status["state"] == "cancelled" and status["cancel_scope"] == "local"


def test_cancel_with_pull_request_scope_needs_a_pull_request(
    front: Front, sim: Simulator, worker
) -> None:
    task_id = front.ok("new", {"repo": "acme/demo", "query": "no pr yet [sim:active=30]"})[
        "task_id"
    ]
    front.wait_state(task_id, "running")
    response = front.call("cancel", {"task_id": task_id, "scope": "pull_request"})
    assert response.status_code == 409 and "no pull request" in response.json()["message"]
    front.ok("cancel", {"task_id": task_id})


def test_cancel_with_pull_request_scope_stops_the_agents_on_it(
    front: Front, sim: Simulator, worker
) -> None:
    task_id = front.ok(
        "new", {"repo": "acme/demo", "query": "make a pr [sim:active=0.3] [sim:eval=0]"}
    )["task_id"]
    run_id = front.wait_state(task_id, "completed")["agent_run_id"]
    sim.reopen(run_id)
    sim.transition(run_id, "RUNNING")  # a legacy in-progress status the simulator holds
    front.wait_state(task_id, "running")
    answer = front.ok("cancel", {"task_id": task_id, "scope": "pull_request"})
    assert (
        "remove-from-pr sent" in answer["message"]
        and "github.com/acme/demo/pull" in answer["message"]
    )
    assert front.wait_state(task_id, "cancelled")["codegen_status"] == "CANCELLED"
    assert sim.run(run_id)["status"] == "CANCELLED"


def test_cancel_of_a_finished_task_is_a_conflict(front: Front, sim: Simulator, worker) -> None:
    task_id = front.ok(
        "new", {"repo": "acme/demo", "query": "quick [sim:active=0.2] [sim:eval=0]"}
    )["task_id"]
    front.wait_state(task_id, "completed")
    response = front.call("cancel", {"task_id": task_id})
    assert response.status_code == 409 and "already completed" in response.json()["message"]
    assert front.call("cancel", {"task_id": "nope"}).status_code == 404
    assert front.call("cancel", {"task_id": task_id, "scope": "everything"}).status_code == 400


@pytest.mark.parametrize("attempt", range(4))
def test_cancel_racing_the_create_never_leaves_an_untracked_run(
    front: Front, sim: Simulator, worker, attempt: int
) -> None:
    sim.set_faults(latency=0.5)  # the create is in flight for a while
    try:
        web = Front(front.services.settings.with_(new_wait=0.05 * attempt))
        try:
            task_id = web.ok("new", {"repo": "acme/demo", "query": "race [sim:active=30]"})[
                "task_id"
            ]
            response = web.call("cancel", {"task_id": task_id})
            assert response.status_code in (200, 409), response.text
            final = wait_for(
                lambda: (s := web.status(task_id))["state"] != "queued" and s,
                what="the task to leave queued",
            )
        finally:
            web.stop()
    finally:
        sim.set_faults()
    runs = _runs_for(sim, task_id)
    said = response.json().get("message", "")
    if "nothing was created" in said or "nothing was created" in (final.get("error") or ""):
        assert runs == [], "the answer said nothing was created, yet a run exists upstream"
        assert final["state"] == "cancelled" and final["agent_run_id"] is None
    else:
        # The run exists: the task knows it (running, or cancelled = we stopped watching it).
        assert len(runs) == 1 and final["agent_run_id"] == runs[0]["id"], (said, final)


def test_logs_are_shaped_for_reading(front: Front, sim: Simulator, worker) -> None:
    task_id = front.ok(
        "new", {"repo": "acme/demo", "query": "log me [sim:active=1.5] [sim:eval=0]"}
    )["task_id"]
    status = front.wait_state(task_id, "completed")
    by_task = front.ok("logs", {"task_id": task_id, "limit": 5})
    assert by_task["agent_run_id"] == status["agent_run_id"] and by_task["total"] >= 2
    assert 1 <= len(by_task["logs"]) <= 5
    newest = by_task["logs"][0]
    assert newest["type"] == "FINAL_ANSWER" and newest["at"].endswith("Z") and newest["text"]
    oldest_first = front.ok("logs", {"agent_run_id": status["agent_run_id"], "reverse": False})
    assert oldest_first["logs"][0]["type"] == "ACTION"


def test_logs_errors_name_the_problem(front: Front, sim: Simulator, worker) -> None:
    assert front.call("logs", {"agent_run_id": 987654}).status_code == 404
    assert front.call("logs", {}).status_code == 400
    assert front.call("logs", {"task_id": "x", "agent_run_id": 1}).status_code == 400
    queued = front.services.store.create({"command": "new", "repo": "acme/demo", "query": "q"})
    response = front.call("logs", {"task_id": queued})
    assert response.status_code == 404 and "no agent run yet" in response.json()["message"]
    front.ok("cancel", {"task_id": queued})


def test_a_paused_task_shows_the_agents_question(front: Front, sim: Simulator, worker) -> None:
    task_id = front.ok(
        "new", {"repo": "acme/demo", "query": "ask me [sim:paused] [sim:active=0.3]"}
    )["task_id"]
    front.wait_state(task_id, "paused")
    status = wait_for(
        lambda: (s := front.status(task_id)).get("last_message") and s,
        what="the question to be noted",
    )
    assert "?" in status["last_message"]
