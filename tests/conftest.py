from __future__ import annotations

from collections.abc import Iterator

import pytest

from codegen_mcp.local.redis import EmbeddedRedis
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import SimConfig, Simulator
from tests.support import Front, Worker, fast_settings

pytest_plugins = ["tests.browser"]  # the dashboard tests' Chromium fixtures


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server of our own on a free port (never the machine's 6379)."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.start()
    server.stop()


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    simulator = Simulator(
        SimConfig(
            active_seconds=1.0,
            evaluation_seconds=0.3,
            read_limit=(600, 30.0),
            create_limit=(600, 60.0),
            resume_limit=(600, 30.0),
            logs_limit=(600, 60.0),
        )
    )
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def settings(redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return fast_settings(redis_url, sim.url, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def worker(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    # Ready before the module's first test: its own waits are for what it does, not for a
    # worker still booting on a machine busy with the other test workers.
    process = Worker(settings, tmp_path_factory.mktemp("logs") / "worker.log").start().wait_ready()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def front(settings: Settings) -> Iterator[Front]:
    web = Front(settings)
    yield web
    web.stop()


@pytest.fixture(scope="module")
def hook_sim() -> Iterator[Simulator]:
    """A simulator of quick runs for a module that hears run webhooks (one per module)."""
    with Simulator(SimConfig(active_seconds=0.3, evaluation_seconds=0.0)) as simulator:
        yield simulator
