"""A task keeps the organization it was started in: `config set org_id` affects new tasks only.

A real worker, Redis and the simulator over HTTP, with one token in two organizations (runs
live in the org they were created in; another org answers 404 for them, as the real API
does). Runs started in org 1 keep being read, logged, cancelled and delivered to in org 1
after the switch to org 2; a new task goes to org 2. The simulator's own records and request
log say where each call went.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from codegen_mcp.settings import Settings
from codegen_mcp.simulator import SimConfig, Simulator
from tests.support import Front, Worker, fast_settings, wait_for

QUICK = "[sim:active=0.3] [sim:eval=0]"
A_WHILE = "[sim:active=4] [sim:eval=0]"
ORG_TWO_ONLY = "token-of-org-two"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    config = SimConfig(
        tokens={"sim-token": 7, ORG_TWO_ONLY: 7},
        org_id=1,
        org_ids=(2,),
        token_orgs={ORG_TWO_ONLY: (2,)},
        active_seconds=1.0,
        evaluation_seconds=0.3,
        read_limit=(600, 30.0),
        create_limit=(600, 60.0),
        resume_limit=(600, 30.0),
        logs_limit=(600, 60.0),
    )
    with Simulator(config) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def settings(redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return fast_settings(redis_url, sim.url, tmp_path_factory.mktemp("data"), org_id=1)


@pytest.fixture
def front(settings: Settings, worker: Worker) -> Iterator[Front]:
    """The web front, with the stack back on org 1 and its own token for each test."""
    web = Front(settings)
    _config(web, "api_token", "sim-token")
    _config(web, "org_id", 1)
    yield web
    web.stop()


def _config(front: Front, key: str, value: Any) -> None:
    front.ok("config", {"action": "set", "key": key, "value": value})


def _start(front: Front, query: str, **args: Any) -> str:
    return str(front.ok("new", {"repo": "acme/demo", "query": query, **args})["task_id"])


def _calls_about(sim: Simulator, run_id: int) -> list[dict[str, Any]]:
    """The requests the simulator answered that name run `run_id` in their path."""
    return [e for e in sim.requests_log() if f"/agent/run/{run_id}" in e["path"]]


def test_runs_in_flight_finish_in_their_organization(front: Front, sim: Simulator) -> None:
    task_ids = [_start(front, f"work {n} {A_WHILE}") for n in range(3)]
    runs = [int(front.wait_state(t, "running")["agent_run_id"]) for t in task_ids]
    answer = front.ok("config", {"action": "set", "key": "org_id", "value": 2})
    assert "tasks already started finish in their own" in answer["message"]
    switched = time.time()
    for task_id in task_ids:
        assert front.wait_state(task_id, "completed", "failed", timeout=40)["state"] == "completed"
    for run_id in runs:
        assert sim.run(run_id)["organization_id"] == 1
        assert sim.run(run_id)["status"] == "COMPLETE"
        assert all(e["status"] != 404 for e in _calls_about(sim, run_id))
    # The sweep went on listing org 1 for them after the switch.
    listed = [e for e in sim.requests_log() if e["path"] == "/v1/organizations/1/agent/runs"]
    assert any(e["at"] > switched for e in listed)
    new_run = int(front.wait_state(_start(front, QUICK), "running", "completed")["agent_run_id"])
    assert sim.run(new_run)["organization_id"] == 2


def test_logs_and_cancel_of_an_old_task_go_to_its_organization(
    front: Front, sim: Simulator
) -> None:
    task_id = _start(front, f"make a pr {QUICK}")
    run_id = int(front.wait_state(task_id, "completed")["agent_run_id"])
    sim.reopen(run_id)
    sim.transition(run_id, "RUNNING")  # held in progress, with its pull request
    front.wait_state(task_id, "running")
    _config(front, "org_id", 2)
    assert front.ok("logs", {"task_id": task_id})["agent_run_id"] == run_id
    assert front.ok("logs", {"agent_run_id": run_id})["agent_run_id"] == run_id
    front.ok("cancel", {"task_id": task_id, "scope": "pull_request"})
    assert sim.run(run_id)["status"] == "CANCELLED"
    assert front.wait_state(task_id, "cancelled")["codegen_status"] == "CANCELLED"
    log = sim.requests_log()
    logs = [e for e in log if e["endpoint"] == "logs" and f"/run/{run_id}/" in e["path"]]
    assert logs and all("/organizations/1/" in e["path"] and e["status"] == 200 for e in logs)
    removed = [e for e in log if e["endpoint"] == "remove_from_pr"]
    assert removed[-1]["path"] == "/v1/organizations/1/agent/run/remove-from-pr"
    assert removed[-1]["status"] == 200


def test_an_orchestrator_hears_its_child_in_the_childs_organization(
    front: Front, sim: Simulator
) -> None:
    # An orchestrator started elsewhere (not by codegen-mcp), in org 1.
    orchestrator = front.services.client().create_run(f"orchestrate {QUICK}").id
    wait_for(lambda: sim.run(orchestrator)["status"] == "COMPLETE", what="the orchestrator")
    child = _start(front, f"child {A_WHILE}", orchestrator_run_id=orchestrator)
    front.wait_state(child, "running")
    _config(front, "org_id", 2)
    wait_for(
        lambda: front.status(child)["delivery"]["state"] == "delivered",
        40,
        f"child {child} to be delivered",
    )
    record = sim.run(orchestrator)
    assert record["organization_id"] == 1 and len(record["resumes"]) == 1
    resumes = [e for e in sim.requests_log() if e["endpoint"] == "resume"]
    assert resumes[-1]["path"] == "/v1/organizations/1/agent/run/resume"


def test_a_new_token_that_cannot_see_the_old_organization_says_so(
    front: Front, sim: Simulator, settings: Settings
) -> None:
    task_id = _start(front, "keeps working [sim:stuck]")
    run_id = int(front.wait_state(task_id, "running")["agent_run_id"])
    _config(front, "api_token", ORG_TWO_ONLY)
    _config(front, "org_id", 2)
    try:
        response = front.call("logs", {"task_id": task_id})
        body = response.json()
        assert response.status_code == 502 and body["error"] == "upstream_auth", body
        assert "organization 1" in body["message"] and "another api_token" in body["message"]
        assert ORG_TWO_ONLY not in body["message"]
        report_key = front.services.store.keys.sweep("report")

        def sweep_says() -> str | None:
            raw = front.services.redis.get(report_key)
            error = json.loads(raw).get("error") if raw else None
            return error if error and "organization 1" in error else None

        assert "403" in wait_for(sweep_says, 20, "a sweep that names organization 1")
        assert front.status(task_id)["state"] == "running"  # not failed: a token problem
        assert sim.run(run_id)["organization_id"] == 1
    finally:
        _config(front, "api_token", "sim-token")
        front.ok("cancel", {"task_id": task_id})


def test_a_resume_of_a_run_goes_to_the_runs_organization(front: Front, sim: Simulator) -> None:
    task_id = _start(front, f"first round {QUICK}")
    run_id = int(front.wait_state(task_id, "completed")["agent_run_id"])
    _config(front, "org_id", 2)
    follow_up = front.ok("resume", {"agent_run_id": run_id, "query": f"again {QUICK}"})
    assert front.wait_state(follow_up["task_id"], "completed")["agent_run_id"] == run_id
    assert len(sim.run(run_id)["resumes"]) == 1
    resumes = [e for e in sim.requests_log() if e["endpoint"] == "resume"]
    assert resumes[-1]["path"] == "/v1/organizations/1/agent/run/resume"
