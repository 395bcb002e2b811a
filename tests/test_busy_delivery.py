"""A busy orchestrator's inbox goes out when the webhook of its own run says it is free.

Real Redis, a real Celery worker, the simulator over HTTP sending its signed run webhooks to
the web front (CODEGEN_MCP_PUBLIC_URL points at it). The sweep runs every 60 s, so only the
orchestrator's webhook can explain a delivery within the test's deadline; each test counts
the resume calls on the simulator's own record of the orchestrator's run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from codegen_mcp.services import Services
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import Simulator
from tests.support import Front, Worker, fast_settings, wait_for
from tests.test_webhooks_in import counters, hook_url, post_signed
from workers import sweep

QUICK = "[sim:active=0.3] [sim:eval=0]"
SOON = 20.0  # well inside the 60 s sweep interval


@pytest.fixture(scope="module")
def stack(
    redis_url: str, hook_sim: Simulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Front, Worker]]:
    base = fast_settings(
        redis_url, hook_sim.url, tmp_path_factory.mktemp("data"), poll_interval=60.0
    )
    front = Front(base)
    settings: Settings = base.with_(public_url=front.url)
    worker = Worker(settings, tmp_path_factory.mktemp("logs") / "worker.log").start()
    yield front, worker
    worker.stop()
    front.stop()


def busy_orchestrator_with_a_waiting_child(
    front: Front, worker: Worker, sim: Simulator
) -> tuple[str, int, str]:
    """An orchestrator started through `new`, still working, and a child whose outcome waits in
    its inbox, the delivery its hook asked for done (it found the orchestrator busy):
    (the orchestrator's task id, its run id, the child's task id)."""
    task_id = front.ok("new", {"repo": "acme/demo", "query": "orchestrate [sim:stuck]"})["task_id"]
    run_id = int(front.wait_state(task_id, "running")["agent_run_id"])
    args = {"repo": "acme/demo", "query": f"sub-task {QUICK}", "orchestrator_run_id": run_id}
    child = front.ok("new", args)["task_id"]
    front.wait_state(child, "completed")
    wait_for(
        lambda: front.status(child)["delivery"]["state"] == "pending",
        what="the child's outcome to wait in the inbox",
    )
    wait_for(lambda: worker_quiet(front, worker), what="the worker to finish every task")
    assert sim.run(run_id)["resumes"] == []
    assert front.status(child)["delivery"]["state"] == "pending"
    return task_id, run_id, child


def delivered(front: Front, child: str) -> dict[str, Any]:
    return wait_for(
        lambda: (s := front.status(child))["delivery"]["state"] == "delivered" and s,
        SOON,
        f"child {child} to be delivered before the next sweep",
    )


def worker_quiet(front: Front, worker: Worker) -> bool:
    """Nothing waits on the broker and every task the worker received has ended."""
    if front.services.redis.llen(front.services.settings.key_prefix):
        return False
    log = worker.log()
    received = len(re.findall(r"\] received", log))
    ended = len(re.findall(r"\] (succeeded in|retry:|raised unexpected)", log))
    return received == ended


@pytest.mark.parametrize("settles_as", ["PAUSED", "COMPLETE"])
def test_a_busy_orchestrator_gets_its_inbox_when_its_own_webhook_says_it_is_free(
    stack: tuple[Front, Worker], hook_sim: Simulator, settles_as: str
) -> None:
    front, worker = stack
    _, orchestrator, child = busy_orchestrator_with_a_waiting_child(front, worker, hook_sim)
    before = counters(front)

    hook_sim.transition(orchestrator, settles_as, result="Waiting for my children")

    status = delivered(front, child)
    [resume] = hook_sim.run(orchestrator)["resumes"]
    assert child in resume["prompt"] and resume["status_before"] == settles_as
    assert status["delivery"]["resume_task_id"] in resume["prompt"]
    after = counters(front)
    assert after.get("delivery_requests", 0) == before.get("delivery_requests", 0) + 1
    assert after.get("first_seen|sweep", 0) == before.get("first_seen|sweep", 0)
    metrics = requests.get(front.url + "/metrics", timeout=10).text
    assert f"codegen_mcp_webhook_delivery_requests_total {after['delivery_requests']}.0" in metrics


def test_a_repeated_orchestrator_webhook_and_a_sweep_at_once_still_resume_it_once(
    stack: tuple[Front, Worker], hook_sim: Simulator
) -> None:
    front, worker = stack
    task_id, orchestrator, child = busy_orchestrator_with_a_waiting_child(front, worker, hook_sim)
    # A sweep of our own, run at the moment the webhooks come (the worker's runs once a minute).
    settings = front.services.settings
    sweeper = Services(settings.with_(poll_interval=0.2), settings.redis_url or "")
    url, secret = hook_url(front, task_id)
    hook_sim.set_webhook_faults(duplicate_next=1)  # the same delivery sent twice
    try:
        hook_sim.transition(orchestrator, "COMPLETE", result="Waiting for my children")
        sent = wait_for(
            lambda: [d for d in hook_sim.deliveries() if d["run_id"] == orchestrator],
            what="the orchestrator's webhook",
        )
    finally:
        hook_sim.set_webhook_faults(duplicate_next=0)
    # The same news again under new delivery ids (a result the task does not show, so each
    # asks for a read), and the sweep, all at once.
    replays = [
        {**sent[0]["payload"], "delivery_id": f"replay-{n}", "result": f"replayed {n}"}
        for n in range(4)
    ]
    with ThreadPoolExecutor(len(replays) + 1) as pool:
        swept = pool.submit(sweep.sweep, sweeper)
        answers = list(pool.map(lambda body: post_signed(url, secret, body), replays))
    assert [a.status_code for a in answers] == [202] * len(replays)
    assert swept.result().error is None

    status = delivered(front, child)
    front.wait_state(status["delivery"]["resume_task_id"], "completed")
    wait_for(lambda: worker_quiet(front, worker), what="the worker to finish every task")
    assert len(hook_sim.run(orchestrator)["resumes"]) == 1
    assert [d["duplicate"] for d in hook_sim.deliveries() if d["run_id"] == orchestrator][:2] == [
        False,
        True,
    ]
