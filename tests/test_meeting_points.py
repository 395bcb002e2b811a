"""Where the features merged in one go meet: a start with an idempotency key, a caller webhook,
a model and a pinned organization through the one-step START; the events and webhooks of a
task START made; the receiver's per-task secrets never shown; MCP Tasks beside the async tools
and the progress middleware.

Real Redis, a real Celery worker, the simulator over HTTP (sending its run webhooks to the web
front: CODEGEN_MCP_PUBLIC_URL points at it), a real receiver for the caller's webhooks.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from codegen_mcp.mcp_server import create_server
from codegen_mcp.notify import Outbox
from codegen_mcp.services import Services
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import SimConfig, Simulator
from tests import tasks_client
from tests.mcp_hosts import Servers
from tests.receiver import Receiver, signature_ok
from tests.sse import Stream
from tests.support import Front, Worker, fast_settings, wait_for
from tests.tasks_client import CreatedTask, TasksClient

SECRET = "whsec-meeting-points-0123456789"
QUICK = "[sim:active=0.3] [sim:eval=0]"
HIDDEN = ("hook_token", "hook_secret", "token_key")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    config = SimConfig(active_seconds=0.3, evaluation_seconds=0.0, org_ids=(2,))
    with Simulator(config) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def stack(
    redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Front, Settings]]:
    base = fast_settings(
        redis_url,
        sim.url,
        tmp_path_factory.mktemp("data"),
        notify_allow_private=("127.0.0.1/32",),
        notify_backoff=(0.3, 0.6),
        poll_interval=60.0,  # runs settle by their webhooks: the sweep comes too late for a test
    )
    front = Front(base)
    settings = base.with_(public_url=front.url)
    worker = Worker(settings, tmp_path_factory.mktemp("logs") / "worker.log").start()
    front.ok("config", {"action": "set", "key": "webhook_secret", "value": SECRET})
    yield front, settings
    worker.stop()
    front.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def secrets_of(front: Front, task_id: str) -> list[str]:
    row = front.services.store.fields([task_id], *HIDDEN)[0]
    return [value for value in row.values() if value]


def drained(front: Front, task_id: str) -> bool:
    return Outbox(front.services.store).due_at(task_id) is None


def test_a_start_with_key_webhook_and_model_records_all_delivers_once_and_replays(
    stack: tuple[Front, Settings], sim: Simulator, receiver: Receiver
) -> None:
    front, _ = stack
    key = str(uuid.uuid4())
    args = {
        "repo": "acme/demo",
        "query": f"Add a README {QUICK}",
        "idempotency_key": key,
        "notify_url": receiver.url,
        "notify_events": ["running", "completed"],
        "model": "gpt-5",
    }
    first = front.ok("new", args)
    task_id = first["task_id"]
    stored = front.services.store.get(task_id)
    assert stored is not None
    assert stored["notify_url"] == receiver.url
    assert stored["notify_events"] == "running,completed"
    assert stored["model"] == "gpt-5" and int(stored["org_id"]) == 1 and stored["token_key"]
    done = front.wait_state(task_id, "completed")
    wait_for(lambda: drained(front, task_id), 30, "the webhooks of the task")
    run = sim.run(done["agent_run_id"])
    assert run["create_body"]["model"] == "gpt-5"
    assert "/hooks/codegen/" in run["create_body"]["webhooks"][0]["url"]  # hook_token made
    mine = [b for b in receiver.bodies() if b["task"]["task_id"] == task_id]
    assert [b["type"] for b in mine] == ["task.running", "task.completed"]
    for raw in [r for r in receiver.received if task_id.encode() in r["body"]]:
        assert signature_ok(SECRET, raw["headers"].get("Codegen-MCP-Signature"), raw["body"])
    # sent again with its key: the first task, nothing started, no event sent again
    creates = sim.stats()["creates"]
    again = front.ok("new", args)
    assert again["task_id"] == task_id and again["replayed"] is True
    assert sim.stats()["creates"] == creates
    assert drained(front, task_id)
    assert len([b for b in receiver.bodies() if b["task"]["task_id"] == task_id]) == 2


def test_a_task_made_by_start_shows_created_then_moves_on_the_event_stream(
    stack: tuple[Front, Settings],
) -> None:
    front, _ = stack
    before = front.services.redis.xrevrange(front.services.store.keys.events(), count=1)
    after = before[0][0] if before else "0"
    args = {"repo": "acme/demo", "query": f"Child {QUICK}", "orchestrator_run_id": 4242}
    task_id = front.ok("new", args)["task_id"]
    front.wait_state(task_id, "completed")
    stream = Stream(front.url, {"task_id": task_id, "last_event_id": after})
    try:
        assert stream.next()["event"] == "stream.ready"
        seen = [stream.next()["data"] for _ in range(3)]
    finally:
        stream.response.close()
    created = seen[0]
    assert created["type"] == "task.created" and created["state"] == "queued"
    assert created["previous_state"] is None and created["outcome_seq"] == 0
    assert created["orchestrator_run_id"] == 4242 and created["at"]
    assert [(m["type"], m["state"]) for m in seen[1:]] == [
        ("task.state", "running"),
        ("task.state", "completed"),
    ]


def test_the_receivers_token_and_secret_appear_in_no_answer(
    stack: tuple[Front, Settings], receiver: Receiver
) -> None:
    front, _ = stack
    args = {"repo": "acme/demo", "query": f"Fix it {QUICK}", "notify_url": receiver.url}
    task_id = front.ok("new", args)["task_id"]
    done = front.wait_state(task_id, "completed")
    wait_for(lambda: drained(front, task_id), 30, "the webhooks of the task")
    hidden = secrets_of(front, task_id)
    assert len(hidden) == 3
    answers = [
        front.ok("task_status", {"task_id": task_id}),
        front.ok("list", {}),
        front.ok("tree", {"task_id": task_id}),
        front.ok("tree", {}),
    ]
    stream = Stream(front.url, {"last_event_id": "0"})
    try:
        assert stream.next()["event"] == "stream.ready"
        while (message := stream.next())["data"].get("task_id") != task_id or message["data"][
            "state"
        ] != "completed":
            answers.append(message["data"])
        answers.append(message["data"])
    finally:
        stream.response.close()
    bodies = [b for b in receiver.bodies() if b["task"]["task_id"] == task_id]
    assert bodies
    text = json.dumps([*answers, *bodies])
    for value in hidden:
        assert value not in text
    for name in HIDDEN:
        assert f'"{name}"' not in text
    assert done["state"] == "completed"


async def start_task(client: Client, args: dict[str, Any]) -> CreatedTask:
    created = await client.session.call_tool("new", args, allow_claimed=True)
    assert isinstance(created, CreatedTask), created
    return created


@pytest.mark.anyio
async def test_mcp_tasks_new_with_a_key_is_one_task_and_hides_the_receivers_secrets(
    stack: tuple[Front, Settings], sim: Simulator
) -> None:
    front, settings = stack
    services = Services(settings, settings.redis_url or "")
    args = {"repo": "acme/demo", "query": f"Add docs {QUICK}", "idempotency_key": str(uuid.uuid4())}
    async with Client(create_server(lambda: services), extensions=[TasksClient()]) as client:
        created = await start_task(client, args)
        creates = sim.stats()["creates"]
        again = await start_task(client, args)
        assert again.task_id == created.task_id
        deadline = anyio.current_time() + 30
        while (now := await tasks_client.get(client.session, created.task_id))["status"] not in (
            "completed",
            "failed",
        ):
            assert anyio.current_time() < deadline, now
            await anyio.sleep(0.2)
    assert now["status"] == "completed", now
    assert sim.stats()["creates"] == creates
    text = json.dumps(now)
    for value in secrets_of(front, created.task_id):
        assert value not in text


@pytest.mark.anyio
async def test_a_declaring_clients_task_status_wait_still_reports_progress(
    stack: tuple[Front, Settings], tmp_path: Path
) -> None:
    front, settings = stack
    task_id = front.ok("new", {"repo": "acme/demo", "query": "[sim:stuck]"})["task_id"]
    front.wait_state(task_id, "running")
    wait_for(lambda: front.status(task_id)["codegen_status"], 30, "the run's first status")
    seen: list[float] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append(done)

    servers = Servers("http", settings, tmp_path)  # progress tokens ride on the real wire
    try:
        async with servers.client(TasksClient()) as client:
            args = {"task_id": task_id, "wait": 2}
            status = await client.call_tool("task_status", args, progress_callback=progress)
    finally:
        servers.stop()
    assert not status.is_error and seen, "no progress while waiting"
    front.ok("cancel", {"task_id": task_id})


@pytest.mark.anyio
async def test_an_answer_through_tasks_update_resumes_in_the_runs_org_and_keeps_its_webhook(
    stack: tuple[Front, Settings], sim: Simulator, receiver: Receiver
) -> None:
    front, settings = stack
    services = Services(settings, settings.redis_url or "")
    query = f"Which database? [sim:paused] {QUICK}"
    args = {"repo": "acme/demo", "query": query, "notify_url": receiver.url}
    try:
        async with Client(create_server(lambda: services), extensions=[TasksClient()]) as client:
            created = await start_task(client, args)
            deadline = anyio.current_time() + 30
            while (asking := await tasks_client.get(client.session, created.task_id))[
                "status"
            ] != "input_required":
                assert anyio.current_time() < deadline, asking
                await anyio.sleep(0.2)
            front.ok("config", {"action": "set", "key": "org_id", "value": 2})
            [key] = asking["inputRequests"]
            answer = {key: {"action": "accept", "content": {"answer": f"Postgres {QUICK}"}}}
            await tasks_client.update(client.session, created.task_id, answer)
            deadline = anyio.current_time() + 30
            while (done := await tasks_client.get(client.session, created.task_id))[
                "status"
            ] not in ("completed", "failed", "cancelled"):
                assert anyio.current_time() < deadline, done
                await anyio.sleep(0.2)
    finally:
        front.ok("config", {"action": "set", "key": "org_id", "value": 1})
    assert done["status"] == "completed", done
    resumed = done["result"]["structuredContent"]["task_id"]
    assert resumed != created.task_id
    stored = front.services.store.get(resumed)
    assert stored is not None and int(stored["org_id"]) == 1  # the run's, not the new one
    resumes = [e for e in sim.requests_log() if e["endpoint"] == "resume"]
    assert resumes[-1]["path"] == "/v1/organizations/1/agent/run/resume"
    # the MCP task goes on in the resume: so do the caller's webhook events
    assert stored.get("notify_url") == receiver.url
    wait_for(lambda: drained(front, resumed), 30, "the webhooks of the resume")
    got = [b["type"] for b in receiver.bodies() if b["task"]["task_id"] == resumed]
    assert got == ["task.running", "task.completed"]


def test_a_run_webhook_after_an_org_switch_is_confirmed_in_the_tasks_org(
    stack: tuple[Front, Settings], sim: Simulator
) -> None:
    front, _ = stack
    query = "Slow work [sim:active=2] [sim:eval=0]"
    task_id = front.ok("new", {"repo": "acme/demo", "query": query})["task_id"]
    run_id = front.wait_state(task_id, "running")["agent_run_id"]
    front.ok("config", {"action": "set", "key": "org_id", "value": 2})
    try:
        done = front.wait_state(task_id, "completed", "failed", timeout=20)
    finally:
        front.ok("config", {"action": "set", "key": "org_id", "value": 1})
    assert done["state"] == "completed", done
    reads = [e["path"] for e in sim.requests_log() if e["path"].endswith(f"/agent/run/{run_id}")]
    assert reads and all(path.startswith("/v1/organizations/1/") for path in reads), reads


def test_a_model_on_resume_is_checked_in_the_runs_org(
    stack: tuple[Front, Settings], sim: Simulator
) -> None:
    """After `config set org_id`, a resume goes to its run's organization: so does the check of
    its `model` (organizations may offer different models)."""
    front, _ = stack
    task_id = front.ok("new", {"repo": "acme/demo", "query": f"Work {QUICK}"})["task_id"]
    run_id = front.wait_state(task_id, "completed")["agent_run_id"]
    for org in (1, 2):
        key = front.services.store.keys.models(org)
        front.services.redis.delete(key, f"{key}:fresh")
    front.ok("config", {"action": "set", "key": "org_id", "value": 2})
    try:
        resumed = front.ok("resume", {"agent_run_id": run_id, "query": "More", "model": "gpt-5"})
    finally:
        front.ok("config", {"action": "set", "key": "org_id", "value": 1})
    reads = [e["path"] for e in sim.requests_log() if e["endpoint"] == "models"]
    assert reads[-1:] == ["/v1/organizations/1/models"], reads
    stored = front.services.store.get(resumed["task_id"])
    assert stored is not None and int(stored["org_id"]) == 1


def test_a_delivery_resume_keeps_the_orchestrators_webhook(
    stack: tuple[Front, Settings], sim: Simulator, receiver: Receiver
) -> None:
    """A caller that gave its orchestrator a notify_url hears of the resumes that deliver the
    children's results to it: the conversation goes on there (but for `failed`: a failed
    delivery is retried, or shows in tree)."""
    front, _ = stack
    orch = front.ok(
        "new", {"repo": "acme/demo", "query": f"Plan {QUICK}", "notify_url": receiver.url}
    )["task_id"]
    orch_run = front.wait_state(orch, "completed")["agent_run_id"]
    child = front.ok(
        "new", {"repo": "acme/demo", "query": f"Child {QUICK}", "orchestrator_run_id": orch_run}
    )["task_id"]
    front.wait_state(child, "completed")
    delivery = wait_for(
        lambda: [t for t in front.services.store.tasks_for_run(orch_run) if t != orch],
        30,
        "the delivery's resume task",
    )[0]
    stored = front.services.store.get(delivery)
    assert stored is not None and stored["task_type"] == "DELIVER_RESULTS"
    events = "running,paused,completed,cancelled"  # every state but failed
    assert (stored["notify_url"], stored["notify_events"]) == (receiver.url, events)
    front.wait_state(delivery, "completed")
    wait_for(lambda: drained(front, delivery), 30, "the webhooks of the delivery")
    got = [b["type"] for b in receiver.bodies() if b["task"]["task_id"] == delivery]
    assert got == ["task.running", "task.completed"]
    assert not [b for b in receiver.bodies() if b["task"]["task_id"] == child]
