"""Orchestrator tracking: every child's outcome reaches its orchestrator exactly once.

Each test checks the simulator's own record of resume calls (`resumes` on the orchestrator's
run), which is what the real API would have received.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codegen_mcp import queue
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import Simulator
from tests.support import Front, Worker, wait_for

QUICK = "[sim:active=0.3] [sim:eval=0]"


def _orchestrator(front: Front, query: str = f"orchestrate {QUICK}") -> int:
    """A tracked run to act as orchestrator; returns its agent run id once it exists."""
    task_id = front.ok("new", {"repo": "acme/demo", "query": query})["task_id"]
    return int(front.wait_state(task_id, "running", "completed")["agent_run_id"])


def _child(front: Front, orchestrator: int, query: str, repo: str = "acme/demo") -> str:
    args = {"repo": repo, "query": query, "orchestrator_run_id": orchestrator}
    response = front.call("new", args)
    body = response.json()
    assert "task_id" in body, body
    return str(body["task_id"])


def _resumes_with(sim: Simulator, run_id: int, text: str) -> list[dict[str, Any]]:
    return [r for r in sim.run(run_id)["resumes"] if text in r["prompt"]]


def _delivered(front: Front, task_id: str, timeout: float = 30) -> dict[str, Any]:
    return wait_for(
        lambda: (s := front.status(task_id))["delivery"]["state"] == "delivered" and s,
        timeout,
        f"child {task_id} to be delivered",
    )


def _hook_ran(front: Front, task_id: str) -> None:
    """Wait until the finished-hook of the task's latest outcome has run."""
    store = front.services.store
    wait_for(
        lambda: task_id not in [t for t, _ in store.outbox()],
        what=f"the finished-hook of task {task_id}",
    )


def _sweeps_after(sim: Simulator, count: int) -> None:
    """Let the sweep look at least `count` more times."""
    start = len([e for e in sim.requests_log() if e["endpoint"] == "list"])
    wait_for(
        lambda: len([e for e in sim.requests_log() if e["endpoint"] == "list"]) >= start + count,
        what=f"{count} sweeps",
    )


def test_idle_orchestrator_gets_the_result_at_once(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    orchestrator = _orchestrator(front)
    wait_for(lambda: sim.run(orchestrator)["status"] == "COMPLETE", what="orchestrator idle")
    child = _child(front, orchestrator, f"sub-task {QUICK}")
    status = _delivered(front, child)
    assert status["orchestrator_run_id"] == orchestrator
    resume_task = status["delivery"]["resume_task_id"]
    [resume] = _resumes_with(sim, orchestrator, child)
    assert "COMPLETED" in resume["prompt"] and status["result"][:40] in resume["prompt"]
    assert f"[codegen-mcp task {resume_task}]" in resume["prompt"]
    delivery = front.status(resume_task)
    assert delivery["metadata"]["command"] == "resume"
    assert delivery["metadata"]["delivered_children"] == [child]
    assert delivery["metadata"]["repo"] == "acme/demo"  # the orchestrator's repository
    assert [
        t["task_id"] for t in front.ok("list", {"orchestrator_run_id": orchestrator})["tasks"]
    ] == [child]


def test_busy_orchestrator_is_resumed_only_once_it_is_free(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    orchestrator = _orchestrator(front, "orchestrate [sim:stuck]")
    child = _child(front, orchestrator, f"sub-task {QUICK}")
    front.wait_state(child, "completed")
    _sweeps_after(sim, 4)
    assert sim.run(orchestrator)["resumes"] == []
    assert front.status(child)["delivery"]["state"] == "pending"
    sim.transition(orchestrator, "COMPLETE", result="orchestrator paused its own work")
    _delivered(front, child)
    assert len(_resumes_with(sim, orchestrator, child)) == 1
    assert len(sim.run(orchestrator)["resumes"]) == 1


def test_results_waiting_together_arrive_in_the_order_their_runs_finished(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    orchestrator = _orchestrator(front, "orchestrate [sim:stuck]")
    first, second = (_child(front, orchestrator, f"part {i} [sim:stuck]") for i in (1, 2))
    runs = [int(front.wait_state(c, "running")["agent_run_id"]) for c in (first, second)]
    # Both finish while no sweep can look: the next sweep notices them in one pass, in the
    # list's order (newest run first), which is the reverse of the order they finished in.
    sim.set_faults(error_rate=1.0)
    try:
        for run_id in runs:
            sim.transition(run_id, "COMPLETE", result=f"run {run_id} done")
    finally:
        sim.set_faults()
    for child in (first, second):  # accepted by the inbox (the field its ACCEPT writes): a
        # settled child shows "pending" before its hook has run, and a take before the second
        # one's ACCEPT made two resumes (seen once in CI under parallel load)
        wait_for(
            lambda c=child: (
                front.services.store.fields([c], "delivery_state")[0]["delivery_state"] == "pending"
            ),
            what=f"child {child} in the inbox",
        )
    sim.transition(orchestrator, "COMPLETE")
    for child in (first, second):
        _delivered(front, child)
    [resume] = sim.run(orchestrator)["resumes"]
    assert resume["prompt"].index(first) < resume["prompt"].index(second)
    assert "in the order their runs finished" in resume["prompt"]
    assert "2 child agent runs" in resume["prompt"]
    finished = [front.status(c)["finished_at"] for c in (first, second)]
    assert finished[0] < finished[1]


def test_a_delivery_time_never_changes_once_delivered(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    orchestrator = _orchestrator(front)
    wait_for(lambda: sim.run(orchestrator)["status"] == "COMPLETE", what="orchestrator idle")
    child = _child(front, orchestrator, f"sub-task {QUICK}")
    delivered = _delivered(front, child)["delivery"]
    resume_task = delivered["resume_task_id"]
    front.wait_state(resume_task, "completed")
    _hook_ran(front, resume_task)
    assert front.status(child)["delivery"] == delivered


def test_a_paused_childs_final_outcome_reaches_its_orchestrator_after_the_answer(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    orchestrator = _orchestrator(front)
    wait_for(lambda: sim.run(orchestrator)["status"] == "COMPLETE", what="orchestrator idle")
    child = _child(front, orchestrator, f"ask first [sim:paused] {QUICK}")
    asked = _delivered(front, child)
    assert "Question (the child waits for input)" in sim.run(orchestrator)["resumes"][0]["prompt"]
    # The orchestrator answers without naming itself: the child's own task carries the end.
    answer = front.ok("resume", {"agent_run_id": asked["agent_run_id"], "query": f"Yes {QUICK}"})
    done = front.wait_state(answer["task_id"], "completed")
    final = wait_for(
        lambda: (
            (s := front.status(child))["state"] == "completed"
            and s["delivery"]["state"] == "delivered"
            and s["delivery"]["resume_task_id"] != asked["delivery"]["resume_task_id"]
            and s
        ),
        what="the child's final outcome to be delivered",
    )
    assert final["result"] == done["result"]
    [second] = [r for r in sim.run(orchestrator)["resumes"][1:] if child in r["prompt"]]
    assert "COMPLETED" in second["prompt"] and done["result"][:40] in second["prompt"]


def test_an_answer_that_reports_to_the_same_orchestrator_delivers_the_outcome_once(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    orchestrator = _orchestrator(front)
    wait_for(lambda: sim.run(orchestrator)["status"] == "COMPLETE", what="orchestrator idle")
    child = _child(front, orchestrator, f"ask first [sim:paused] {QUICK}")
    run_id = _delivered(front, child)["agent_run_id"]
    answer = front.ok(
        "resume",
        {"agent_run_id": run_id, "query": f"Yes {QUICK}", "orchestrator_run_id": orchestrator},
    )["task_id"]
    _delivered(front, answer)
    front.wait_state(child, "completed")  # it followed its run to the end
    _hook_ran(front, child)
    assert front.status(child)["delivery"]["state"] == f"carried by task {answer}"
    resumes = sim.run(orchestrator)["resumes"]
    assert len(resumes) == 2 and answer in resumes[1]["prompt"]
    assert child not in resumes[1]["prompt"]  # the same outcome is not told twice


def test_tree_without_arguments_shows_every_hierarchy_newest_first(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    older = _orchestrator(front)
    newer = _orchestrator(front)
    children = [_child(front, run_id, f"part of {run_id} {QUICK}") for run_id in (older, newer)]
    for child in children:
        _delivered(front, child)
    answer = front.ok("tree", {"limit": 2})
    assert answer["count"] == 2
    assert [tree["agent_run_id"] for tree in answer["trees"]] == [newer, older]
    assert [tree["children"][0]["task_id"] for tree in answer["trees"]] == children[::-1]
    everything = front.ok("tree")["trees"]
    roots = [tree["agent_run_id"] for tree in everything]
    assert roots[:2] == [newer, older]
    child_runs = {front.status(c)["agent_run_id"] for c in children}
    assert not child_runs & set(roots)  # a child is drawn under its orchestrator, not as a root
    refused = front.call("tree", {"agent_run_id": older, "limit": 2})
    assert refused.status_code == 400 and "limit" in refused.json()["message"]


def test_children_finishing_apart_each_arrive_once(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    orchestrator = _orchestrator(front)
    children = [
        _child(front, orchestrator, f"part {i} [sim:active={delay}] [sim:eval=0]")
        for i, delay in enumerate((0.3, 2.5, 5.0))
    ]
    for child in children:
        _delivered(front, child, timeout=60)
    for child in children:
        assert len(_resumes_with(sim, orchestrator, child)) == 1


def test_failed_children_are_delivered_with_their_error(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    orchestrator = _orchestrator(front)
    wait_for(lambda: sim.run(orchestrator)["status"] == "COMPLETE", what="orchestrator idle")
    crashed = _child(front, orchestrator, f"crash {QUICK} [sim:error]")
    nowhere = _child(front, orchestrator, "lost", repo="acme/nowhere")
    for child in (crashed, nowhere):
        _delivered(front, child, timeout=60)
    [first] = _resumes_with(sim, orchestrator, crashed)
    assert "FAILED" in first["prompt"] and "Error:" in first["prompt"]
    [second] = _resumes_with(sim, orchestrator, nowhere)
    assert "acme/nowhere" in second["prompt"] and "never started" in second["prompt"]


def test_delivery_continues_up_two_levels(front: Front, sim: Simulator, worker: Worker) -> None:
    top = _orchestrator(front)
    middle_task = _child(front, top, f"middle {QUICK}")
    middle = int(front.wait_state(middle_task, "completed")["agent_run_id"])
    _delivered(front, middle_task)
    leaf = _child(front, middle, f"leaf {QUICK}")
    leaf_status = _delivered(front, leaf, timeout=60)
    middle_resume = leaf_status["delivery"]["resume_task_id"]
    assert front.status(middle_resume)["orchestrator_run_id"] == top
    _delivered(front, middle_resume, timeout=60)
    assert len(_resumes_with(sim, middle, leaf)) == 1
    assert len(_resumes_with(sim, top, middle_task)) == 1
    assert len(_resumes_with(sim, top, middle_resume)) == 1
    tree = front.ok("tree", {"agent_run_id": top})["tree"]
    [middle_node] = tree["children"]
    assert middle_node["agent_run_id"] == middle
    assert middle_node["delivery"]["state"] == "delivered"
    [leaf_node] = middle_node["children"]
    assert leaf_node["task_id"] == leaf and leaf_node["delivery"]["state"] == "delivered"
    assert leaf_node["summary"]


def test_orchestrator_not_started_by_us_works_the_same(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    outside = sim.add_foreign_run(user_id=7, source_type="SLACK", status="ACTIVE")["id"]
    child = _child(front, outside, f"for slack {QUICK}")
    front.wait_state(child, "completed")
    _sweeps_after(sim, 3)
    assert sim.run(outside)["resumes"] == []
    sim.transition(outside, "COMPLETE")
    _delivered(front, child)
    assert len(_resumes_with(sim, outside, child)) == 1


def test_racing_hooks_and_deliveries_resume_once(
    front: Front, sim: Simulator, worker: Worker, settings: Settings, tmp_path: Path
) -> None:
    second = Worker(settings, tmp_path / "second.log", beat=False, name="second").start()
    try:
        orchestrator = _orchestrator(front, "orchestrate [sim:stuck]")
        child = _child(front, orchestrator, f"racy {QUICK}")
        front.wait_state(child, "completed")
        seq = front.services.store.get(child)["outcome_seq"]
        for _ in range(6):
            front.services.queue.send(queue.FINISHED, child, seq)
        sim.transition(orchestrator, "COMPLETE")
        for _ in range(6):
            front.services.queue.send(queue.DELIVER, orchestrator)
        _delivered(front, child)
        _sweeps_after(sim, 3)
    finally:
        second.stop()
    assert len(sim.run(orchestrator)["resumes"]) == 1


def test_a_resume_whose_answer_is_lost_is_not_sent_again(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    orchestrator = _orchestrator(front)
    wait_for(lambda: sim.run(orchestrator)["status"] == "COMPLETE", what="orchestrator idle")
    child = _child(front, orchestrator, "lossy [sim:active=1.5] [sim:eval=0]")
    front.wait_state(child, "running")
    sim.set_faults(drop_after_act_rate=1.0)
    try:
        wait_for(lambda: sim.run(orchestrator)["resumes"], what="the resume to reach the API")
        _delivered(front, child)
    finally:
        sim.set_faults()
    assert len(sim.run(orchestrator)["resumes"]) == 1


def test_worker_killed_between_resume_and_recording_it(
    settings: Settings, sim: Simulator, tmp_path: Path
) -> None:
    own = settings.with_(key_prefix=settings.key_prefix + "k")
    web = Front(own)
    first = Worker(own, tmp_path / "first.log", name="first").start()
    try:
        orchestrator = _orchestrator(web)
        wait_for(lambda: sim.run(orchestrator)["status"] == "COMPLETE", what="orchestrator idle")
        child = _child(web, orchestrator, "doomed worker [sim:active=1] [sim:eval=0]")
        web.wait_state(child, "running")
        # The resume reaches the API but its answer is lost; the worker dies before retrying.
        sim.set_faults(drop_after_act_rate=1.0)
        wait_for(lambda: sim.run(orchestrator)["resumes"], what="the resume to reach the API")
        first.kill()
        sim.set_faults()
        resume_task = web.status(child)["delivery"]["resume_task_id"]
        assert web.status(resume_task)["state"] == "queued"  # sent, but never recorded
        second = Worker(own, tmp_path / "second.log", name="second").start()
        try:
            _delivered(web, child, timeout=60)
        finally:
            second.stop()
        assert len(sim.run(orchestrator)["resumes"]) == 1
    finally:
        sim.set_faults()
        first.kill()
        web.stop()


@pytest.fixture
def try_front(settings: Settings, tmp_path: Path) -> Iterator[Front]:
    own = settings.with_(key_prefix=settings.key_prefix + "try", delivery_policy="try")
    web = Front(own)
    process = Worker(own, tmp_path / "try.log", name="try").start()
    yield web
    process.stop()
    web.stop()


def test_try_policy_resumes_a_busy_orchestrator_when_the_api_accepts(
    try_front: Front, sim: Simulator
) -> None:
    sim.set_faults(resume_on_active="accept")
    orchestrator = _orchestrator(try_front, "orchestrate [sim:stuck]")
    child = _child(try_front, orchestrator, f"eager {QUICK}")
    _delivered(try_front, child)
    [resume] = sim.run(orchestrator)["resumes"]
    assert resume["status_before"] == "ACTIVE" and child in resume["prompt"]


def test_try_policy_falls_back_to_waiting_when_the_api_refuses(
    try_front: Front, sim: Simulator
) -> None:
    sim.set_faults(resume_on_active="reject")
    try:
        orchestrator = _orchestrator(try_front, "orchestrate [sim:stuck]")
        child = _child(try_front, orchestrator, f"refused {QUICK}")
        wait_for(
            lambda: any(
                e["endpoint"] == "resume" and e["status"] == 409 for e in sim.requests_log()
            ),
            what="the refused resume",
        )
        _sweeps_after(sim, 3)
        assert sim.run(orchestrator)["resumes"] == []
        assert try_front.status(child)["delivery"]["state"] == "pending"
        sim.transition(orchestrator, "COMPLETE")
        _delivered(try_front, child)
    finally:
        sim.set_faults(resume_on_active="accept")
    assert len(sim.run(orchestrator)["resumes"]) == 1


@pytest.fixture(autouse=True)
def _no_faults_left_behind(sim: Simulator) -> Iterator[None]:
    yield
    sim.set_faults(resume_on_active="accept")
