"""`codegen-mcp up --simulate`: one command serves a run from new to completed, Ctrl-C stops all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from codegen_mcp.embedded import free_port, reap_stale_stack
from tests.support import ROOT, pid_alive, wait_for, with_sigint

CLI = [sys.executable, "-m", "codegen_mcp.cli"]


def test_up_simulate_serves_a_run_end_to_end_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEGEN_", "REDIS_URL"))}
    env.update(CODEGEN_MCP_POLL_INTERVAL="0.5", PYTHONUNBUFFERED="1")
    log = tmp_path / "up.log"
    # Started with SIGINT ignored, as a script's background job is: Ctrl-C must still stop it.
    argv = [*CLI, "up", "--simulate", "--port", str(port), "--data-dir", str(tmp_path / "data")]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            with_sigint(argv, ignored=True),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a failed test kills the group: nothing left behind
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(lambda: _alive(url), timeout=30, what="up to serve")
        stack = json.loads((tmp_path / "data" / "stack.json").read_text())
        assert stack["simulate"] is True and stack["redis_url"].startswith("redis://127.0.0.1:")
        answer = requests.post(
            url,
            json={
                "command": "new",
                "args": {"repo": "acme/demo", "query": "Add a README [sim:active=0.5]"},
            },
            timeout=10,
        ).json()
        assert answer["status"] == "success"
        done = wait_for(
            lambda: (s := _status(url, answer["task_id"]))["state"] == "completed" and s,
            timeout=30,
            what="the run to complete",
        )
        assert done["result"] and done["agent_run_id"]
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        assert not (tmp_path / "data" / "stack.json").exists()
        redis_pid = stack["redis_pid"]
        wait_for(lambda: not pid_alive(redis_pid), timeout=10, what="embedded redis to stop")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            reap_stale_stack(tmp_path / "data")  # its redis-server runs in a session of its own
        print(log.read_text(errors="replace")[-3000:])


def _alive(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _status(url: str, task_id: str) -> dict:
    return requests.post(
        url, json={"command": "task_status", "args": {"task_id": task_id}}, timeout=10
    ).json()
