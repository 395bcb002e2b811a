"""/healthz describes the processes running now, not the traces of earlier ones.

A real Celery worker (with beat) on a Redis of its own prefix: healthy as soon as it
consumes, before its first sweep is due; unhealthy as soon as it stopped, although its
heartbeats and sweeps are only seconds old.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from codegen_mcp.settings import Settings
from codegen_mcp.simulator import Simulator
from tests.support import Front, Worker, fast_settings, wait_for


@pytest.fixture
def slow_sweep(redis_url: str, sim: Simulator, tmp_path: Path) -> Settings:
    # A sweep only every 30 s: the first one is not due while these tests look.
    return fast_settings(redis_url, sim.url, tmp_path / "data", poll_interval=30.0)


@pytest.fixture
def front(slow_sweep: Settings) -> Iterator[Front]:
    web = Front(slow_sweep)
    yield web
    web.stop()


def _health(front: Front) -> requests.Response:
    return requests.get(front.url + "/healthz", timeout=30)


def _ready(worker: Worker) -> bool:
    return " ready." in worker.log()


def test_healthz_is_healthy_as_soon_as_a_worker_consumes(
    front: Front, slow_sweep: Settings, tmp_path: Path
) -> None:
    assert _health(front).status_code == 503  # nothing runs yet
    worker = Worker(slow_sweep, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: _ready(worker), 60, "the worker to be ready")
        health = _health(front)
        assert health.status_code == 200, health.text
        assert health.json()["worker"] == "ok" and health.json()["sweep"] == "not due yet"
    finally:
        worker.stop()


def test_healthz_is_unhealthy_once_the_worker_stopped(
    front: Front, slow_sweep: Settings, tmp_path: Path
) -> None:
    worker = Worker(slow_sweep, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: _health(front).status_code == 200, 60, "a healthy stack")
    finally:
        worker.stop()
    health = _health(front)  # a restart begins: the new worker is not up yet
    assert health.status_code == 503, health.text
    assert health.json()["worker"] == "none running"
