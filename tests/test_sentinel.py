"""Redis behind Sentinel: one URL configures every client, and a failover loses no run.

Real processes on loopback: a primary, a replica and three sentinels (tests/sentinel_group.py),
a Celery worker (with beat) and the web front configured with the sentinel:// URL, and the
simulator, whose own records say how many runs were created and what each orchestrator got.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codegen_mcp import prompts, secret
from codegen_mcp.errors import ConfigurationError
from codegen_mcp.redis_conn import broker_options, broker_url
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import Simulator
from tests.sentinel_group import SentinelGroup
from tests.sse import Stream
from tests.support import Front, Worker, fast_settings, wait_for

QUICK = "[sim:active=0.3] [sim:eval=0]"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("sentinel://h1:26379,h2:26379", "must name the master"),
        ("sentinel://h1:26379/my master", "must name the master"),
        ("sentinel://h1:26379/mymaster/zero", "database number"),
        ("sentinel://h1:port/mymaster", "not host:port: 'h1:port'"),
        ("sentinel://h1:26379,,h2/mymaster", "not host:port: ''"),
        ("sentinel://h1:99999/mymaster", "not host:port"),
    ],
)
def test_a_malformed_sentinel_url_is_refused_at_start_naming_redis_url(
    url: str, words: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"REDIS_URL": url})
    message = caught.value.message
    assert message.startswith("REDIS_URL ") and words in message, message
    assert "sentinel://host1:26379,host2:26379,host3:26379/mymaster/0" in message


def test_a_sentinel_url_gives_celery_the_sentinels_and_the_master_name() -> None:
    url = "sentinel://:s%40cret@10.0.0.1,10.0.0.2:26380/cgm/2"
    settings = Settings.from_env(
        {"REDIS_URL": url, "CODEGEN_MCP_REDIS_SENTINEL_PASSWORD": "sentinels-own"}
    )
    assert broker_url(url) == (
        "sentinel://:s%40cret@10.0.0.1:26379/2;sentinel://:s%40cret@10.0.0.2:26380"
    )
    options = broker_options(url, timeout=2.0, sentinel_password=settings.redis_sentinel_password)
    assert options["master_name"] == "cgm"
    assert options["sentinel_kwargs"]["password"] == "sentinels-own"
    assert "sentinels-own" not in repr(settings)
    secret.install(settings)  # what every process does at start
    assert "sentinels-own" not in secret.scrub("AUTH sentinels-own refused")
    assert Settings.from_env(settings.to_env()) == settings


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    sentinels = SentinelGroup(tmp_path / "redis").start()
    yield sentinels
    sentinels.stop()


@pytest.fixture
def stack(
    group: SentinelGroup, sim: Simulator, tmp_path: Path
) -> Iterator[tuple[Front, Worker, Settings]]:
    settings = fast_settings(group.url, sim.url, tmp_path / "data")
    worker = Worker(settings, tmp_path / "worker.log").start()
    front = Front(settings)
    yield front, worker, settings
    front.stop()
    worker.stop()


def _runs_of(sim: Simulator, task_ids: list[str]) -> Counter[str]:
    """How many runs the simulator created for each of `task_ids` (by correlation id)."""
    wanted = set(task_ids)
    return Counter(
        run["metadata"][prompts.CORRELATION_KEY]
        for run in sim.runs()
        if (run.get("metadata") or {}).get(prompts.CORRELATION_KEY) in wanted
    )


def test_a_create_waits_until_its_attempt_is_on_a_replica(
    stack: tuple[Front, Worker, Settings], group: SentinelGroup, sim: Simulator
) -> None:
    """The flag that makes a later attempt look upstream before creating again must survive a
    failover: with the replica frozen, the create is held back, not sent."""
    front, worker, _ = stack
    group.pause("replica")
    try:
        task_id = front.ok("new", {"repo": "acme/demo", "query": f"held {QUICK}"})["task_id"]
        wait_for(
            lambda: "replica" in (front.services.store.get(task_id) or {}).get("last_error", ""),
            30,
            "the launch to hold the create back for want of a replica",
        )
        assert _runs_of(sim, [task_id]) == Counter(), worker.log()[-3000:]
    finally:
        group.resume("replica")
    front.wait_state(task_id, "running", "completed", timeout=40)
    assert _runs_of(sim, [task_id]) == Counter({task_id: 1})


def _new(front: Front, query: str, **args: Any) -> str:
    """A task accepted by the front; a 503 while Redis changes primary is asked again (it
    recorded nothing), as a client told to retry would."""

    def accepted() -> str | None:
        response = front.call("new", {"repo": "acme/demo", "query": query, **args})
        if response.status_code == 503:
            return None
        assert response.status_code in (200, 202), response.text
        return str(response.json()["task_id"])

    return wait_for(accepted, 30, f"the front to accept {query!r}", pause=0.2)


def test_a_failover_mid_flight_finishes_every_task_with_one_run_and_one_delivery_each(
    stack: tuple[Front, Worker, Settings], group: SentinelGroup, sim: Simulator
) -> None:
    front, worker, _ = stack
    orchestrator_task = _new(front, f"orchestrate {QUICK}")
    orchestrator = int(front.wait_state(orchestrator_task, "running", "completed")["agent_run_id"])
    wait_for(lambda: sim.run(orchestrator)["status"] == "COMPLETE", 20, "the orchestrator idle")
    sim.set_faults(latency=0.3)  # creates and reads in flight when the primary dies
    try:
        children = [
            _new(front, f"part {i} [sim:active=2] [sim:eval=0]", orchestrator_run_id=orchestrator)
            for i in range(3)
        ]
        solos = [_new(front, f"solo {i} [sim:active=1] [sim:eval=0]") for i in range(4)]
        wait_for(lambda: _runs_of(sim, solos), 20, "a first run created upstream")
        group.kill_primary()
        wait_for(lambda: group.primary() == group.replica_port, 30, "the replica promoted")
        later = [_new(front, f"after {i} {QUICK}") for i in range(2)]
    finally:
        sim.set_faults()
    tasks = [orchestrator_task, *children, *solos, *later]
    for task_id in tasks:
        front.wait_state(task_id, "completed", timeout=60)
    assert _runs_of(sim, tasks) == Counter(dict.fromkeys(tasks, 1)), group.logs()
    for child in children:
        wait_for(
            lambda c=child: front.status(c)["delivery"]["state"] == "delivered",
            60,
            f"child {child} delivered",
        )
    prompts_sent = [resume["prompt"] for resume in sim.run(orchestrator)["resumes"]]
    for child in children:
        assert sum(child in prompt for prompt in prompts_sent) == 1, prompts_sent
    assert worker.process is not None and worker.process.poll() is None, worker.log()[-3000:]
    assert "Connection to broker lost" in worker.log()  # it did lose it, and came back alone


def test_get_events_streams_behind_sentinel(stack: tuple[Front, Worker, Settings]) -> None:
    front, _, _ = stack
    stream = Stream(front.url, {"last_event_id": "0"})
    try:
        assert stream.status == 200, stream.response.text
        assert stream.next()["event"] == "stream.ready"
        task_id = front.ok("new", {"repo": "acme/demo", "query": f"streamed {QUICK}"})["task_id"]
        message = stream.next()
        while message["data"].get("task_id") != task_id:
            message = stream.next()
        assert message["event"] == "task.created"
    finally:
        stream.response.close()


def test_waits_are_woken_by_the_stream_when_the_sentinels_ask_for_a_password(
    sim: Simulator, tmp_path: Path
) -> None:
    group = SentinelGroup(tmp_path / "redis", sentinel_password="sentinels-own-pw").start()
    settings = fast_settings(
        group.url, sim.url, tmp_path / "data", redis_sentinel_password="sentinels-own-pw"
    )
    worker = Worker(settings, tmp_path / "worker.log").start()
    front = Front(settings)
    try:
        task_id = front.ok("new", {"repo": "acme/demo", "query": "[sim:stuck]"})["task_id"]
        front.wait_state(task_id, "running")
        front.ok("cancel", {"task_id": task_id})
        args = {"repo": "acme/demo", "query": f"woken {QUICK}"}
        started = front.ok("new", args)  # waits for its launch, woken by the stream
        assert started["state"] != "queued", started
        assert front.services.waits.woken > 0
    finally:
        front.stop()
        worker.stop()
        group.stop()
