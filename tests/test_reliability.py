"""Nothing lost, nothing twice: lost responses, lost messages, killed workers, Redis restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegen_mcp import queue
from codegen_mcp.local.redis import EmbeddedRedis
from codegen_mcp.settings import RateLimit, Settings
from codegen_mcp.simulator import Simulator
from tests.support import Front, Worker, fast_settings, wait_for


def _runs_for(sim: Simulator, task_id: str) -> list[dict]:
    return [
        run
        for run in sim.runs()
        if (run.get("metadata") or {}).get("codegen_mcp_task_id") == task_id
    ]


def test_create_whose_response_is_lost_makes_exactly_one_run(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    sim.set_faults(drop_after_act_rate=1.0)
    try:
        task_id = front.ok("new", {"repo": "acme/demo", "query": "lost answer [sim:active=30]"})[
            "task_id"
        ]
        wait_for(lambda: _runs_for(sim, task_id), what="the create to reach the simulator")
        status = front.wait_state(task_id, "running")
    finally:
        sim.set_faults()
    runs = _runs_for(sim, task_id)
    assert len(runs) == 1
    assert status["agent_run_id"] == runs[0]["id"]
    assert sim.stats()["injected"]["drop"] >= 1


def test_resume_whose_response_is_lost_is_sent_once(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    first = front.ok("new", {"repo": "acme/demo", "query": "base [sim:active=0.2] [sim:eval=0]"})
    run_id = front.wait_state(first["task_id"], "completed")["agent_run_id"]
    sim.set_faults(drop_after_act_rate=1.0)
    try:
        resumed = front.ok("resume", {"agent_run_id": run_id, "query": "again [sim:active=30]"})
        wait_for(lambda: sim.run(run_id)["resumes"], what="the resume to reach the simulator")
        front.wait_state(resumed["task_id"], "running")
    finally:
        sim.set_faults()
    assert len(sim.run(run_id)["resumes"]) == 1


def test_duplicate_launch_messages_make_one_run(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    task_id = front.services.store.create({"command": "new", "repo": "acme/demo", "query": "dup"})
    for _ in range(5):
        front.services.queue.send(queue.LAUNCH, task_id)
    front.wait_state(task_id, "completed")
    assert len(_runs_for(sim, task_id)) == 1


def test_a_task_whose_message_was_lost_is_launched_by_the_sweep(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    # Recorded but never enqueued: what a crash between the two steps leaves behind.
    task_id = front.services.store.create(
        {"command": "new", "repo": "acme/demo", "query": "orphan"}
    )
    front.wait_state(task_id, "completed", timeout=60)
    assert len(_runs_for(sim, task_id)) == 1


def test_worker_killed_mid_run_loses_and_duplicates_nothing(
    settings: Settings, sim: Simulator, tmp_path: Path
) -> None:
    own = settings.with_(key_prefix=settings.key_prefix + "kill")
    web = Front(own)
    first = Worker(own, tmp_path / "w1.log", name="first").start()
    try:
        task_id = web.ok(
            "new", {"repo": "acme/demo", "query": "survive [sim:active=3] [sim:eval=0]"}
        )["task_id"]
        run_id = web.wait_state(task_id, "running")["agent_run_id"]
        first.kill()
        wait_for(lambda: sim.run(run_id)["status"] == "COMPLETE", what="the run to finish upstream")
        assert web.status(task_id)["state"] == "running"  # nobody is watching right now
        second = Worker(own, tmp_path / "w2.log", name="second").start()
        try:
            done = web.wait_state(task_id, "completed", timeout=60)
        finally:
            second.stop()
        assert done["result"]
        assert len(_runs_for(sim, task_id)) == 1
        outcome = web.services.store.get(task_id)
        assert outcome is not None and outcome["outcome_seq"] == 1
    finally:
        first.kill()
        web.stop()


def test_tasks_survive_a_redis_restart(sim: Simulator, tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path / "redis")
    url = redis.start()
    own = fast_settings(url, sim.url, tmp_path)
    web = Front(own)
    worker = Worker(own, tmp_path / "worker.log").start()
    try:
        task_id = web.ok(
            "new", {"repo": "acme/demo", "query": "persist [sim:active=3] [sim:eval=0]"}
        )["task_id"]
        web.wait_state(task_id, "running")
        redis.stop()
        redis = EmbeddedRedis(tmp_path / "redis")
        redis.start()
        done = web.wait_state(task_id, "completed", timeout=60)
        assert done["result"] and len(_runs_for(sim, task_id)) == 1
    finally:
        worker.stop()
        web.stop()
        redis.stop()


def test_a_burst_beyond_the_create_budget_waits_and_loses_nothing(
    settings: Settings, sim: Simulator, tmp_path: Path
) -> None:
    """Waiting for our own budget is not a failed attempt: every task gets its one run."""
    own = settings.with_(
        key_prefix=settings.key_prefix + "burst", create_limit=RateLimit(2, 2.0), new_wait=0.0
    )
    web = Front(own)
    worker = Worker(own, tmp_path / "burst.log", name="burst").start()
    try:
        ids = [
            web.ok("new", {"repo": "acme/demo", "query": f"burst {i} [sim:active=30]"})["task_id"]
            for i in range(8)
        ]
        for task_id in ids:
            assert web.wait_state(task_id, "running", timeout=60)["state"] == "running"
    finally:
        worker.stop()
        web.stop()
    for task_id in ids:
        assert len(_runs_for(sim, task_id)) == 1
        assert int(web.services.store.get(task_id).get("attempts") or 0) == 0
    assert sim.stats()["rate_limited"] == 0


@pytest.fixture(autouse=True)
def _no_faults_left_behind(sim: Simulator):
    yield
    sim.set_faults()
