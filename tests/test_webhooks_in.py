"""Codegen's run webhooks, heard by the web front and confirmed by a worker (issue #15).

Real Redis, a real Celery worker, the simulator over HTTP sending its signed webhooks to the
web front on loopback (CODEGEN_MCP_PUBLIC_URL points at it). The sweep runs every 60 s, so
only a webhook can explain a task that settles within the test's deadline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from codegen_mcp.hook_signature import sign_t_v1
from codegen_mcp.services import Services
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import Simulator
from tests.support import Front, Worker, fast_settings, wait_for
from workers import confirm, sweep

AUTH = "front-auth-token-for-webhook-tests"
QUICK = "[sim:active=0.3][sim:eval=0]"


@pytest.fixture(scope="module")
def stack(
    redis_url: str, hook_sim: Simulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Front, Settings, Worker]]:
    base = fast_settings(
        redis_url,
        hook_sim.url,
        tmp_path_factory.mktemp("data"),
        poll_interval=60.0,
        auth_token=AUTH,
    )
    front = Front(base)
    front.session.headers["Authorization"] = f"Bearer {AUTH}"
    settings = base.with_(public_url=front.url)
    worker = Worker(settings, tmp_path_factory.mktemp("logs") / "worker.log").start()
    yield front, settings, worker
    worker.stop()
    front.stop()


def counters(front: Front) -> dict[str, int]:
    services = front.services
    raw = services.redis.hgetall(services.recorder.key("hooks"))
    return {name: int(value) for name, value in raw.items()}


def run_reads(sim: Simulator, run_id: int) -> int:
    return sum(
        1
        for entry in sim.requests_log()
        if entry["method"] == "GET" and entry["path"].endswith(f"/agent/run/{run_id}")
    )


def completed_by_webhook(front: Front, query: str) -> dict[str, Any]:
    task_id = front.ok("new", {"repo": "acme/demo", "query": query})["task_id"]
    return front.wait_state(task_id, "completed", timeout=30)


def hook_url(front: Front, task_id: str) -> tuple[str, str]:
    row = front.services.store.fields([task_id], "hook_token", "hook_secret")[0]
    return f"{front.url}/hooks/codegen/{row['hook_token']}", str(row["hook_secret"])


def post_signed(url: str, secret: str, payload: dict[str, Any], **headers: str) -> Any:
    body = json.dumps(payload).encode()
    signature = sign_t_v1(secret, int(time.time()), body)
    headers = {"Content-Type": "application/json", "X-Codegen-Signature": signature, **headers}
    return requests.post(url, data=body, headers=headers, timeout=10, allow_redirects=False)


def test_a_settled_run_is_detected_by_its_webhook_not_the_sweep(
    stack: tuple[Front, Settings, Worker], hook_sim: Simulator
) -> None:
    front, _, worker = stack
    before = counters(front)
    status = completed_by_webhook(front, f"Fix the login bug {QUICK}")
    run_id = status["agent_run_id"]
    after = wait_for(
        lambda: (
            (c := counters(front)).get("first_seen|webhook", 0)
            > before.get("first_seen|webhook", 0)
            and c
        ),
        what="the webhook's count",
    )
    assert after["first_seen|webhook"] == before.get("first_seen|webhook", 0) + 1
    assert after.get("first_seen|sweep", 0) == before.get("first_seen|sweep", 0)
    assert after.get("signature|t_v1", 0) > before.get("signature|t_v1", 0)
    delivered = [d for d in hook_sim.deliveries() if d["run_id"] == run_id]
    assert delivered and delivered[0]["signed"] and delivered[0]["state"] == "delivered"
    assert "/hooks/codegen/" in delivered[0]["url"]
    _, secret = hook_url(front, status["task_id"])
    assert secret not in json.dumps(status) and secret not in worker.log()


def test_forged_webhooks_are_refused_and_read_nothing(
    stack: tuple[Front, Settings, Worker], hook_sim: Simulator
) -> None:
    front, _, _ = stack
    status = completed_by_webhook(front, f"Add a test {QUICK}")
    url, secret = hook_url(front, status["task_id"])
    run = hook_sim.run(status["agent_run_id"])
    payload = {**run, "status": "ERROR", "event_type": "agent_run.completed"}
    reads, before = run_reads(hook_sim, run["id"]), counters(front)

    unknown = post_signed(f"{front.url}/hooks/codegen/{'x' * 32}", secret, payload)
    wrong = post_signed(url, "not-the-secret", {**payload, "delivery_id": "forged-1"})
    evil_host = post_signed(url, "nope", payload, Host="evil.example")
    too_large = requests.post(url, data=b"x" * (64 * 1024 + 1), timeout=10)

    assert unknown.status_code == 404 and unknown.json()["error"] == "webhook_unknown_token"
    assert wrong.status_code == 401 and wrong.json()["error"] == "webhook_bad_signature"
    assert evil_host.status_code == 401  # the Host guard leaves the route to its token
    assert too_large.status_code == 413 and too_large.json()["error"] == "webhook_too_large"
    after = counters(front)
    assert after.get("rejected|unknown_token", 0) == before.get("rejected|unknown_token", 0) + 1
    assert after.get("rejected|bad_signature", 0) == before.get("rejected|bad_signature", 0) + 2
    assert after.get("accepted", 0) == before.get("accepted", 0)
    assert run_reads(hook_sim, run["id"]) == reads
    assert front.status(status["task_id"])["state"] == "completed"


def test_a_repeated_webhook_costs_nothing_and_a_replayed_one_one_read_at_most(
    stack: tuple[Front, Settings, Worker], hook_sim: Simulator
) -> None:
    front, _, _ = stack
    status = completed_by_webhook(front, f"Tidy the docs {QUICK}")
    url, secret = hook_url(front, status["task_id"])
    run_id = status["agent_run_id"]
    original = next(d for d in hook_sim.deliveries() if d["run_id"] == run_id)["payload"]
    reads, before = run_reads(hook_sim, run_id), counters(front)

    again = post_signed(url, secret, original)
    assert again.status_code == 202 and again.json()["duplicate"] is True
    assert counters(front).get("duplicate", 0) == before.get("duplicate", 0) + 1

    # The same news under a new delivery id: the task shows it already, nothing is read.
    post_signed(url, secret, {**original, "delivery_id": "replay-1"})
    wait_for(
        lambda: counters(front).get("coalesced", 0) > before.get("coalesced", 0),
        what="the replay to be coalesced",
    )
    assert run_reads(hook_sim, run_id) == reads

    # A late, out-of-order one (the run as it was while ACTIVE): one read, nothing moves back.
    late = {**original, "status": "ACTIVE", "result": None, "delivery_id": "late-1"}
    assert post_signed(url, secret, late).status_code == 202
    wait_for(
        lambda: counters(front).get("reads", 0) > before.get("reads", 0),
        what="the late webhook's confirming read",
    )
    assert run_reads(hook_sim, run_id) == reads + 1
    assert front.status(status["task_id"])["state"] == "completed"


def test_a_lost_webhook_is_caught_by_the_sweep_and_counted(
    stack: tuple[Front, Settings, Worker], hook_sim: Simulator
) -> None:
    front, settings, _ = stack
    hook_sim.set_webhook_faults(lose_next=1)
    task_id = front.ok("new", {"repo": "acme/demo", "query": f"Lost news {QUICK}"})["task_id"]
    wait_for(
        lambda: any(d["state"] == "lost" for d in hook_sim.deliveries()),
        what="the simulator to lose the run's webhook",
    )
    before = counters(front)
    # The sweep, run here at a fast interval (the worker's runs once a minute).
    services = Services(settings.with_(poll_interval=0.2), settings.redis_url or "")
    wait_for(
        lambda: sweep.sweep(services) and front.status(task_id)["state"] == "completed",
        timeout=30,
        what="the sweep to find the run settled",
    )
    after = counters(front)
    assert after.get("lost", 0) == before.get("lost", 0) + 1
    assert after.get("first_seen|sweep", 0) == before.get("first_seen|sweep", 0) + 1
    assert services.redis.get(services.store.keys.hooks("degraded"))
    hook_sim.set_webhook_faults(lose_next=0)


def test_hints_for_many_runs_at_once_are_confirmed_by_one_list_read(
    stack: tuple[Front, Settings, Worker], hook_sim: Simulator
) -> None:
    front, settings, _ = stack
    hook_sim.set_webhook_faults(lose_next=3)  # the test hands the hints over itself
    ids = [
        front.ok("new", {"repo": "acme/demo", "query": f"Burst {i} [sim:stuck]"})["task_id"]
        for i in range(3)
    ]
    runs = [front.wait_state(task_id, "running")["agent_run_id"] for task_id in ids]
    for run_id in runs:
        hook_sim.transition(run_id, "COMPLETE")
    wait_for(
        lambda: sum(d["state"] == "lost" for d in hook_sim.deliveries()) >= 3,
        what="the simulator to lose the three webhooks",
    )
    services = Services(settings, settings.redis_url or "")
    services.redis.sadd(services.store.keys.hooks("pending"), *runs)
    log_before = len(hook_sim.requests_log())

    assert confirm.drain(services) == "changed"

    reads = [e["endpoint"] for e in hook_sim.requests_log()[log_before:] if e["method"] == "GET"]
    assert [r for r in reads if r != "me"] == ["list"]  # me: the token's user, read once
    assert [front.status(task_id)["state"] for task_id in ids] == ["completed"] * 3
