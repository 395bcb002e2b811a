"""A run from `new` to `completed` through the HTTP front, a real worker and the simulator."""

from __future__ import annotations

from tests.support import Front, wait_for


def test_new_run_completes_with_its_result(front: Front, sim, worker) -> None:
    answer = front.ok(
        "new",
        {
            "repo": "acme/demo",
            "query": "Add a README",
            "task": "CREATE_PLAN",
            "branch": "main",
            "pr": 3,
        },
    )
    assert answer["state"] in ("running", "queued")
    task_id = answer["task_id"]
    done = front.wait_state(task_id, "completed")
    assert done["agent_run_id"]
    assert done["result"]
    assert done["codegen_status"] == "COMPLETE"
    assert done["completed_at"].endswith("Z")
    assert done["metadata"]["repo"] == "acme/demo"
    assert done["metadata"]["task_type"] == "CREATE_PLAN"
    assert done["pull_requests"] and done["pull_requests"][0]["url"]
    run = sim.run(done["agent_run_id"])
    assert "- Repository: acme/demo" in run["prompt"]
    assert "- Task type: CREATE_PLAN" in run["prompt"]
    assert run["create_body"]["repo_id"] == 102
    assert run["create_body"]["metadata"]["codegen_mcp_task_id"] == task_id
    _ = wait_for
