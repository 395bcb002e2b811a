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

from codegen_mcp import prompts
from codegen_mcp.errors import ConfigurationError
from codegen_mcp.redis_conn import broker_options, broker_url
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import Simulator
from tests.sentinel_group import SentinelGroup
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
