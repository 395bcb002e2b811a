"""The sweep watches many runs with a few list calls, under the API's real read limit."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from codegen_mcp.settings import RateLimit
from codegen_mcp.simulator import SimConfig, Simulator
from tests.support import Front, Worker, fast_settings, wait_for

RUNS = 150


@pytest.fixture
def real_limits_sim() -> Iterator[Simulator]:
    """The real read limit (60 per 30 s); creates raised for the set-up only."""
    simulator = Simulator(
        SimConfig(
            read_limit=(60, 30.0),
            create_limit=(1000, 60.0),
            active_seconds=6.0,
            evaluation_seconds=0.0,
        )
    )
    simulator.start()
    yield simulator
    simulator.stop()


def test_many_runs_are_watched_by_list_sweeps_without_429s(
    real_limits_sim: Simulator, redis_url: str, tmp_path: Path
) -> None:
    sim = real_limits_sim
    settings = fast_settings(
        redis_url,
        sim.url,
        tmp_path,
        poll_interval=1.0,
        new_wait=0.0,
        read_limit=RateLimit(55, 30),
        create_limit=RateLimit(1000, 60),
    )
    web = Front(settings)
    worker = Worker(settings, tmp_path / "worker.log").start()
    try:
        ids = [
            web.ok("new", {"repo": "acme/demo", "query": f"run {i}"})["task_id"]
            for i in range(RUNS)
        ]
        wait_for(
            lambda: all(t["state"] == "completed" for t in web.services.store.get_many(ids)),
            timeout=90,
            what=f"{RUNS} runs to complete",
        )
    finally:
        worker.stop()
        web.stop()
    stats = sim.stats()
    assert stats["rate_limited"] == 0
    assert stats["requests"].get("get", 0) == 0  # the list showed every run
    sweeps = _sweeps(sorted(e["at"] for e in sim.requests_log() if e["endpoint"] == "list"))
    assert len(sweeps) >= 3, "the sweep hardly ran"
    # Each sweep's list calls cover 100 runs each: never more than ceil(N/100) + 1 per sweep.
    assert max(sweeps) <= math.ceil(RUNS / 100) + 1
    assert max(sweeps) >= 2  # 150 runs do not fit one page: the second page was read


def _sweeps(times: list[float]) -> list[int]:
    """List calls grouped into sweeps: calls less than 0.3 s apart belong to one sweep."""
    groups: list[int] = []
    last = -1.0
    for at in times:
        if groups and at - last < 0.3:
            groups[-1] += 1
        else:
            groups.append(1)
        last = at
    return groups
