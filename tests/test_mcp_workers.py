"""`codegen-mcp mcp --transport http --workers 2`: several processes serve one port, and any of
them answers any request of a session, through the official SDK client in both protocol eras.

Each client here opens a new connection per request (no keep-alive), so the kernel hands its
requests to either process; and midway every worker process is killed and replaced, so the
rest of the session can only be served by processes that never saw its start. A stateful
(session-affine) server would answer those with 404 (session not found).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from codegen_mcp.cli.parser import build_parser
from codegen_mcp.settings import Settings
from tests import tasks_client
from tests.mcp_hosts import Servers
from tests.support import STOP_DEADLINE, Worker, pid_alive, wait_for
from tests.tasks_client import TasksClient
from tests.test_mcp import ERAS
from tests.test_mcp_tasks import plain, start_task, until

WORKERS = 2
FAST = "[sim:active=0.3] [sim:eval=0]"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def servers(settings: Settings, worker: Worker, tmp_path: Path) -> Iterator[Servers]:
    running = Servers("http", settings, tmp_path, workers=WORKERS)
    try:
        yield running
    finally:
        running.stop()


def worker_pids(servers: Servers) -> set[int]:
    """The server's worker processes (spawned by multiprocessing), by pid."""
    assert servers.process is not None
    parent = servers.process.pid
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return {int(pid) for pid in children if _is_spawned_worker(int(pid))}


def _is_spawned_worker(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    return b"spawn_main" in command and pid_alive(pid)


def started(servers: Servers) -> int:
    """How many worker processes have started serving so far (each says so in the log)."""
    return servers.log.read_text(errors="replace").count("Application startup complete.")


def replace_every_worker(servers: Servers) -> None:
    """Kill every worker process at once, once all have started; return when as many new
    ones have started serving in their place."""
    wait_for(lambda: started(servers) >= WORKERS, 120, "every worker to start serving")
    old = worker_pids(servers)
    assert len(old) == WORKERS, old
    for pid in old:
        os.kill(pid, signal.SIGKILL)

    def replaced() -> bool:
        now = worker_pids(servers)
        return len(now) == WORKERS and not now & old and started(servers) >= 2 * WORKERS

    # Slow on a busy machine: each new worker imports the app before it serves.
    wait_for(replaced, 120, "new worker processes to replace the killed ones")


async def progress_of_a_wait(client: Client, task_id: str) -> list[float]:
    """task_status with wait and a progress token: the progress seen while it waited."""
    seen: list[float] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append(done)

    args = {"task_id": task_id, "wait": 2}
    status = await client.call_tool("task_status", args, progress_callback=progress)
    assert not status.is_error and status.structured_content, status
    assert status.structured_content["state"] == "running"
    return seen


@pytest.mark.anyio
@pytest.mark.parametrize("era", list(ERAS))
async def test_a_session_is_served_by_whichever_process_and_outlives_them_all(
    servers: Servers, era: str
) -> None:
    async with servers.client(mode=ERAS[era], keep_alive=False) as client:
        assert client.protocol_version == era
        assert worker_pids(servers) and len(worker_pids(servers)) == WORKERS
        started = await plain(client, "new", {"repo": "acme/demo", "query": "Wait [sim:stuck]"})
        assert started["task_id"] and started["state"] in ("queued", "running"), started
        await plain(client, "task_status", {"task_id": started["task_id"], "wait": 20})
        assert await progress_of_a_wait(client, started["task_id"]), "no progress while waiting"

        replace_every_worker(servers)

        assert await progress_of_a_wait(client, started["task_id"]), "no progress after"
        listed = await plain(client, "list", {"limit": 100})
        assert started["task_id"] in {row["task_id"] for row in listed["tasks"]}
        done = await plain(client, "new", {"repo": "acme/demo", "query": FAST})
        settled = await plain(client, "task_status", {"task_id": done["task_id"], "wait": 20})
        assert settled["state"] in ("running", "completed"), settled
        cancelled = await plain(client, "cancel", {"task_id": started["task_id"]})
        assert cancelled["state"] == "cancelled"


@pytest.mark.anyio
async def test_mcp_tasks_are_answered_by_every_process(servers: Servers) -> None:
    async with servers.client(TasksClient(), keep_alive=False) as client:
        created = await start_task(client, "new", {"repo": "acme/demo", "query": "[sim:stuck]"})
        await until(client, created.task_id, "working")
        answers: list[dict[str, Any]] = []

        async def look() -> None:
            answers.append(await tasks_client.get(client.session, created.task_id))

        async with anyio.create_task_group() as group:
            for _ in range(40):  # forty connections, spread over the processes by the kernel
                group.start_soon(look)
        assert len(answers) == 40
        assert {(now["taskId"], now["status"]) for now in answers} == {(created.task_id, "working")}

        replace_every_worker(servers)

        assert (await tasks_client.get(client.session, created.task_id))["status"] == "working"
        cancelled = await tasks_client.cancel(client.session, created.task_id)
        assert cancelled["resultType"] == "complete"
        assert (await until(client, created.task_id, "cancelled"))["taskId"] == created.task_id
        finished = await client.call_tool("new", {"repo": "acme/demo", "query": FAST})
        assert finished.structured_content and finished.structured_content["state"] == "completed"


def test_stopping_the_server_stops_its_workers(servers: Servers) -> None:
    workers = worker_pids(servers)
    assert len(workers) == WORKERS
    servers.stop()  # SIGTERM; exits 0
    wait_for(
        lambda: not any(pid_alive(pid) for pid in workers), STOP_DEADLINE, "the workers to stop"
    )


def test_workers_default_to_one_and_must_be_at_least_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "3")  # gunicorn's, for `web`: not the MCP front's
    assert build_parser().parse_args(["mcp", "--transport", "http"]).workers == 1
    assert build_parser().parse_args(["mcp", "--transport", "http", "--workers", "3"]).workers == 3
    for wrong in ("0", "two"):
        with pytest.raises(SystemExit) as refused:
            build_parser().parse_args(["mcp", "--transport", "http", "--workers", wrong])
        assert refused.value.code == 2
        assert "must be a whole number of at least 1" in capsys.readouterr().err
