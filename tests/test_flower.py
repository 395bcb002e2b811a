"""Flower, as the Procfile runs it, sees the launch and sweep tasks through its API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

from codegen_mcp.local.processes import settings_env
from codegen_mcp.local.redis import free_port
from codegen_mcp.settings import Settings
from tests.support import ROOT, Front, Worker, wait_for


def test_flower_api_lists_launch_and_sweep_tasks(
    front: Front, worker: Worker, settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    env = settings_env(settings)
    env["FLOWER_UNAUTHENTICATED_API"] = "true"  # the flag alone is not honoured (Flower 2.2)
    with open(tmp_path / "flower.log", "wb") as log:
        flower = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers.celery_app",
                "flower",
                "--address=127.0.0.1",
                f"--port={port}",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: _get(f"http://127.0.0.1:{port}/api/workers") is not None,
            timeout=60,
            what="Flower to answer",
        )

        def names() -> set[str]:
            tasks = _get(f"http://127.0.0.1:{port}/api/tasks") or {}
            return {task.get("name") for task in tasks.values()}

        # Events flow once Flower shows a sweep; a task started before that could be missed.
        wait_for(lambda: "codegen_mcp.sweep" in names(), timeout=60, what="Flower to see a sweep")
        task_id = front.ok(
            "new", {"repo": "acme/demo", "query": "watched by flower [sim:active=0.3]"}
        )["task_id"]
        front.wait_state(task_id, "running", "completed")
        wait_for(
            lambda: "codegen_mcp.launch" in names(), timeout=60, what="Flower to see the launch"
        )
    finally:
        flower.terminate()
        flower.wait(10)
        print((tmp_path / "flower.log").read_text(errors="replace")[-2000:])


def _get(url: str) -> dict | None:
    try:
        response = requests.get(url, timeout=2)
    except requests.RequestException:
        return None
    return response.json() if response.status_code == 200 else None
