"""Watching runs to the end: every quirk of the API's statuses, through a real worker."""

from __future__ import annotations

import pytest

from codegen_mcp.simulator import Simulator
from codegen_mcp.states import State
from tests.support import Front, wait_for


def _new(front: Front, query: str, repo: str = "acme/demo") -> str:
    return front.ok("new", {"repo": repo, "query": query})["task_id"]


def test_new_answers_running_with_the_run_id_when_the_worker_is_quick(
    front: Front, sim, worker
) -> None:
    wait_for(
        lambda: front.ok("new", {"repo": "acme/demo", "query": "warm-up"})["state"] == "running",
        timeout=20,
        what="a worker to be up",
    )
    answer = front.ok("new", {"repo": "acme/demo", "query": "quick [sim:active=5]"})
    assert answer["state"] == "running"
    assert answer["agent_run_id"] and answer["web_url"].endswith(str(answer["agent_run_id"]))
    assert answer["message"] == "Agent run started successfully."


def test_evaluation_counts_as_in_progress(front: Front, sim, worker) -> None:
    task_id = _new(front, "think hard [sim:active=0.2] [sim:eval=3]")
    seen = wait_for(
        lambda: (s := front.status(task_id))["codegen_status"] == "EVALUATION" and s,
        what="EVALUATION to be seen",
    )
    assert seen["state"] == "running"
    assert front.wait_state(task_id, "completed")["codegen_status"] == "COMPLETE"


def test_paused_run_asks_for_input(front: Front, sim, worker) -> None:
    task_id = _new(front, "needs a decision [sim:paused] [sim:active=0.2]")
    status = front.wait_state(task_id, "paused")
    assert status["codegen_status"] == "PAUSED"
    assert status["result"]  # the agent's question
    assert status["completed_at"]


@pytest.mark.parametrize(
    ("directive", "state", "upstream"),
    [
        ("[sim:error]", "failed", "ERROR"),
        ("[sim:status=TIMEOUT]", "failed", "TIMEOUT"),
        ("[sim:status=MAX_ITERATIONS_REACHED]", "failed", "MAX_ITERATIONS_REACHED"),
        ("[sim:status=CANCELLED]", "cancelled", "CANCELLED"),
    ],
)
def test_failure_family_and_cancelled(
    front: Front, sim, worker, directive, state, upstream
) -> None:
    task_id = _new(front, f"doomed {directive} [sim:active=0.2]")
    status = front.wait_state(task_id, state)
    assert status["codegen_status"] == upstream
    if state == "failed":
        assert status["error"]


def test_unknown_status_stays_running(front: Front, sim, worker) -> None:
    task_id = _new(front, "odd [sim:status=WEIRD_NEW] [sim:active=0.2] [sim:eval=0]")
    status = wait_for(
        lambda: (s := front.status(task_id))["codegen_status"] == "WEIRD_NEW" and s,
        what="the unknown status to be seen",
    )
    assert status["state"] == "running"


def test_reopened_run_goes_back_to_running_then_completes_again(
    front: Front, sim: Simulator, worker
) -> None:
    task_id = _new(front, "ship it [sim:active=0.2] [sim:eval=0]")
    first = front.wait_state(task_id, "completed")
    sim.reopen(first["agent_run_id"], result="Fixed the CI failure.")
    front.wait_state(task_id, "running")
    again = front.wait_state(task_id, "completed")
    assert again["result"] == "Fixed the CI failure."


def test_resume_is_a_new_task_watched_to_the_end(front: Front, sim: Simulator, worker) -> None:
    first = front.wait_state(_new(front, "plan [sim:active=0.2] [sim:eval=0]"), "completed")
    run_id = first["agent_run_id"]
    answer = front.ok("resume", {"agent_run_id": run_id, "query": "now build it", "task": "BUILD"})
    assert answer["task_id"] != first["task_id"]
    done = front.wait_state(answer["task_id"], "completed")
    assert done["agent_run_id"] == run_id
    assert done["metadata"]["command"] == "resume"
    assert done["result"] != first["result"]
    record = sim.run(run_id)
    assert len(record["resumes"]) == 1
    assert "now build it" in record["resumes"][0]["prompt"]
    assert answer["task_id"] in record["resumes"][0]["prompt"]  # the marker
    # The first task keeps its own outcome.
    assert front.status(first["task_id"])["result"] == first["result"]


def test_resume_of_an_active_run_is_accepted_when_the_api_accepts(
    front: Front, sim: Simulator, worker
) -> None:
    first = front.ok("new", {"repo": "acme/demo", "query": "long [sim:active=30]"})
    run_id = front.wait_state(first["task_id"], "running")["agent_run_id"]
    resumed = front.ok("resume", {"agent_run_id": run_id, "query": "also do X"})
    front.wait_state(resumed["task_id"], "running")
    assert len(sim.run(run_id)["resumes"]) == 1
    sim.transition(run_id, "COMPLETE", result="both done")
    assert front.wait_state(resumed["task_id"], "completed")["result"] == "both done"
    # The first task watched the same run: it hears the end too, not left running forever.
    assert front.wait_state(first["task_id"], "completed")["result"] == "both done"


def test_resume_refused_by_the_api_fails_with_the_reason(
    front: Front, sim: Simulator, worker
) -> None:
    first = front.ok("new", {"repo": "acme/demo", "query": "long [sim:active=30]"})
    run_id = front.wait_state(first["task_id"], "running")["agent_run_id"]
    sim.set_faults(resume_on_active="reject")
    try:
        response = front.call("resume", {"agent_run_id": run_id, "query": "interrupt"})
        body = response.json()
        assert response.status_code == 422 and body["status"] == "error"
        assert "refused to resume" in body["message"] and "ACTIVE" in body["message"]
        assert front.status(body["task_id"])["state"] == "failed"
    finally:
        sim.set_faults(resume_on_active="accept")
    # The refused resume gave the run back to its first task.
    sim.transition(run_id, "COMPLETE", result="done")
    assert front.wait_state(first["task_id"], "completed")["result"] == "done"


def test_resume_of_an_unknown_run_fails_clearly(front: Front, sim, worker) -> None:
    response = front.call("resume", {"agent_run_id": 999999, "query": "hello?"})
    body = response.json()
    assert response.status_code == 404
    assert "999999" in body["message"] and "not found" in body["message"]


def test_unknown_repository_is_an_error_and_nothing_is_created(
    front: Front, sim: Simulator, worker
) -> None:
    before = len(sim.runs())
    response = front.call("new", {"repo": "acme/nope", "query": "x"})
    body = response.json()
    assert response.status_code == 404 and body["status"] == "error"
    assert "acme/nope" in body["message"]
    assert front.status(body["task_id"])["state"] == "failed"
    assert len(sim.runs()) == before


def test_a_reopen_missed_between_two_looks_is_still_a_new_outcome(
    front: Front, sim: Simulator, worker
) -> None:
    task_id = _new(front, "ship it [sim:active=0.2] [sim:eval=0]")
    first = front.wait_state(task_id, "completed")
    sim.reopen(first["agent_run_id"])
    sim.transition(first["agent_run_id"], "COMPLETE", result="Second round, fixed CI.")
    again = wait_for(
        lambda: (s := front.status(task_id))["result"] == "Second round, fixed CI." and s,
        what="the second outcome",
    )
    assert again["state"] == "completed"
    assert front.services.store.get(task_id)["outcome_seq"] == 2


def test_a_paused_task_follows_its_run_once_a_resume_answers_it(
    front: Front, sim: Simulator, worker
) -> None:
    paused = _new(front, "needs a decision [sim:paused] [sim:active=0.2] [sim:eval=0]")
    run_id = front.wait_state(paused, "paused")["agent_run_id"]
    answer = front.ok(
        "resume", {"agent_run_id": run_id, "query": "Add an option [sim:active=0.3] [sim:eval=0]"}
    )
    done = front.wait_state(answer["task_id"], "completed")
    followed = front.wait_state(paused, "completed")
    assert followed["result"] == done["result"] and followed["codegen_status"] == "COMPLETE"
    assert "last_message" not in followed  # no question left to show
    still_paused = front.ok("list", {"status": "paused", "limit": 100})["tasks"]
    assert paused not in [row["task_id"] for row in still_paused]


def test_a_resume_belongs_to_its_runs_repository(front: Front, sim: Simulator, worker) -> None:
    first = front.wait_state(
        _new(front, "plan [sim:active=0.2] [sim:eval=0]", "acme/web"), "completed"
    )
    answer = front.ok("resume", {"agent_run_id": first["agent_run_id"], "query": "now build it"})
    assert front.status(answer["task_id"])["metadata"]["repo"] == "acme/web"
    rows = front.ok("list", {"repo": "acme/web", "limit": 100})["tasks"]
    [row] = [row for row in rows if row["task_id"] == answer["task_id"]]
    assert row["repo"] == "acme/web"


def test_a_resume_of_a_run_we_never_recorded_takes_the_repository_the_api_shows(
    front: Front, sim: Simulator, worker
) -> None:
    # A run codegen-mcp created from another data directory: only its metadata says the repo.
    run = front.services.client().create_run(
        "made elsewhere [sim:active=0.2] [sim:eval=0]",
        metadata={"source": "codegen-mcp", "repo": "acme/infra"},
        repo_id=104,
    )
    wait_for(lambda: sim.run(run.id)["status"] == "COMPLETE", what="the outside run to finish")
    answer = front.ok("resume", {"agent_run_id": run.id, "query": "one more thing"})
    status = wait_for(
        lambda: (s := front.status(answer["task_id"]))["metadata"].get("repo") and s,
        what="the resume to know its repository",
    )
    assert status["metadata"]["repo"] == "acme/infra"
    rows = front.ok("list", {"repo": "acme/infra", "limit": 100})["tasks"]
    assert answer["task_id"] in [row["task_id"] for row in rows]


def test_a_paused_task_whose_answer_was_missed_still_follows_its_run(
    front: Front, sim: Simulator, worker
) -> None:
    paused = _new(front, "needs a decision [sim:paused] [sim:active=0.2] [sim:eval=0]")
    run_id = front.wait_state(paused, "paused")["agent_run_id"]
    # Another task took the run over and saw it finish, but the worker died before the paused
    # task heard of it (or it happened before codegen-mcp made paused tasks follow their runs).
    store = front.services.store
    owner = store.create({"command": "resume", "agent_run_id": run_id, "query": "answered"})
    store.attach_run(owner, run_id)
    sim.transition(run_id, "COMPLETE", result="Answered elsewhere.")
    outcome = {"api_status": "COMPLETE", "result": "Answered elsewhere.", "seen_active": True}
    store.transition(owner, State.COMPLETED, **outcome)
    followed = front.wait_state(paused, "completed")
    assert followed["result"] == "Answered elsewhere."
