"""`codegen-mcp up`: one command serves a run from new to completed, Ctrl-C stops all, a
restart goes on where it stopped, and what it prints works as printed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from codegen_mcp.local.record import reap_stale_stack
from codegen_mcp.local.redis import free_port
from tests.support import ROOT, START_DEADLINE, pid_alive, wait_for, with_sigint

AUTH_TOKEN = "up-test-auth-token-0123456789abcdef"


class Up:
    """`codegen-mcp up` as a user runs it, in its own process, with its output in a file."""

    def __init__(self, tmp_path: Path, *args: str, name: str = "up", **env: str) -> None:
        self.data_dir = tmp_path / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = tmp_path / f"{name}.log"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("CODEGEN_", "REDIS_"))}
        clean.update(CODEGEN_MCP_POLL_INTERVAL="0.5", PYTHONUNBUFFERED="1", **env)
        self.headers = (
            {"Authorization": f"Bearer {env['CODEGEN_MCP_AUTH_TOKEN']}"}
            if ("CODEGEN_MCP_AUTH_TOKEN" in env)
            else {}
        )
        command = [sys.executable, "-m", "codegen_mcp.cli", "up", *args]
        command += ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        with open(self.log, "wb") as out:
            # Started with SIGINT ignored, as a script's background job is: Ctrl-C must still
            # stop it. In a session of its own, so a failed test kills the whole group.
            self.process = subprocess.Popen(
                with_sigint(command, ignored=True),
                cwd=ROOT,
                env=clean,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def __enter__(self) -> Up:
        try:
            wait_for(self.serving, timeout=START_DEADLINE, what="up to serve")
            # Ctrl-C before the worker is ready is an interrupted start (exit 130), not a stop.
            wait_for(
                lambda: " ready." in self.output(),
                timeout=START_DEADLINE,
                what="the worker to be ready",
            )
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            reap_stale_stack(self.data_dir)  # its redis-server runs in a session of its own
        print(self.output()[-3000:])

    def serving(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"up exited ({self.process.returncode}):\n{self.output()}")
        try:
            requests.get(self.url, timeout=1)  # any answer (401 with auth on) will do
        except requests.RequestException:
            return False
        return True

    def stack(self) -> dict[str, Any]:
        info: dict[str, Any] = json.loads((self.data_dir / "stack.json").read_text())
        return info

    def call(self, command: str, **args: Any) -> dict[str, Any]:
        body = {"command": command, "args": args}
        answer: dict[str, Any] = requests.post(
            self.url, json=body, headers=self.headers, timeout=30
        ).json()
        return answer

    def new(self, query: str) -> dict[str, Any]:
        answer = self.call("new", repo="acme/demo", query=query)
        assert answer["status"] == "success", answer
        return answer

    def wait_state(self, task_id: str, *states: str, timeout: float = 30) -> dict[str, Any]:
        return wait_for(
            lambda: (s := self.call("task_status", task_id=task_id))["state"] in states and s,
            timeout=timeout,
            what=f"task {task_id} to reach {states}",
        )

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it; the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def test_up_simulate_serves_a_run_end_to_end_and_stops_cleanly(tmp_path: Path) -> None:
    with Up(tmp_path, "--simulate") as up:
        stack = up.stack()
        assert stack["simulate"] is True and stack["redis_url"].startswith("unix://")
        task_id = up.new("Add a README [sim:active=0.5]")["task_id"]
        done = up.wait_state(task_id, "completed")
        assert done["result"] and done["agent_run_id"]
        assert up.interrupt() == 0
        assert not (up.data_dir / "stack.json").exists()
        wait_for(lambda: not pid_alive(stack["redis_pid"]), timeout=10, what="redis to stop")


def test_ctrl_c_with_a_run_in_progress_ends_with_one_clean_line(tmp_path: Path) -> None:
    """No "cold shutdown, terminating all running tasks!", no "Requeuing undeliverable"."""
    with Up(tmp_path, "--simulate") as up:
        task_id = up.new("a long one [sim:active=60]")["task_id"]
        up.wait_state(task_id, "running")
        assert up.interrupt() == 0
        output = up.output()
        for alarming in ("cold shutdown", "terminating all running tasks", "Requeuing"):
            assert alarming not in output
        assert output.rstrip().splitlines()[-1].startswith("codegen-mcp stopped cleanly")


def test_a_restarted_up_simulate_goes_on_where_it_stopped(tmp_path: Path) -> None:
    """The simulator's runs outlive `up`: the running task completes after the restart, new
    runs get new ids, and the logs of an old run are still there."""
    with Up(tmp_path, "--simulate", name="first") as up:
        finished = up.new("first [sim:active=0.3] [sim:eval=0]")
        up.wait_state(finished["task_id"], "completed")
        running = up.new("second [sim:active=6] [sim:eval=0]")
        up.wait_state(running["task_id"], "running")
        assert up.interrupt() == 0
    with Up(tmp_path, "--simulate", name="second") as up:
        done = up.wait_state(running["task_id"], "completed", "failed", timeout=40)
        assert done["state"] == "completed", done
        third = up.new("third [sim:active=0.3] [sim:eval=0]")
        assert third["agent_run_id"] not in (finished["agent_run_id"], running["agent_run_id"])
        logs = up.call("logs", agent_run_id=finished["agent_run_id"])
        assert logs["status"] == "success", logs
        assert up.interrupt() == 0


def test_up_restarts_its_redis_when_it_dies(tmp_path: Path) -> None:
    with Up(tmp_path, "--simulate") as up:
        first = up.stack()
        os.kill(first["redis_pid"], signal.SIGKILL)
        wait_for(
            lambda: up.stack()["redis_pid"] != first["redis_pid"],
            timeout=20,
            what="up to start its Redis again",
        )
        task_id = up.new("after the crash [sim:active=0.3] [sim:eval=0]")["task_id"]
        assert up.wait_state(task_id, "completed", timeout=40)["result"]
        assert "restarting it" in up.output()
        assert up.interrupt() == 0


def test_up_leaves_alone_a_process_that_reused_a_stale_redis_pid(tmp_path: Path) -> None:
    """stack.json of a stack killed hard names a redis_pid that now belongs to someone else."""
    bystander = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        gone = subprocess.Popen(["true"])
        gone.wait()
        stale = {
            "pid": gone.pid,
            "started": 1.0,
            "redis_url": "unix:///nowhere/redis.sock?db=0",
            "redis_pid": bystander.pid,
            "redis_started": 1.0,  # the recorded Redis started long before the bystander
        }
        (data_dir / "stack.json").write_text(json.dumps(stale))
        with Up(tmp_path, "--simulate") as up:
            assert up.stack()["redis_pid"] != bystander.pid
            assert bystander.poll() is None, "up signalled a process that was not its Redis"
            assert up.interrupt() == 0
    finally:
        bystander.kill()
        bystander.wait()


def test_the_banner_shows_the_dashboard_and_commands_that_work_as_printed(
    tmp_path: Path,
) -> None:
    """Real mode without credentials, auth on: the first commands set the token, each curl
    carries the Authorization header (naming the variable, never the token)."""
    with Up(tmp_path, CODEGEN_MCP_AUTH_TOKEN=AUTH_TOKEN) as up:
        output = up.output()
        assert f"dashboard: {up.url}dashboard" in output
        curls = [line.strip() for line in output.splitlines() if line.strip().startswith("curl")]
        assert len(curls) == 3, output
        assert '"key": "api_token"' in curls[0] and '"key": "org_id"' in curls[1]
        assert '"command": "new"' in curls[2]
        for line in curls:
            assert "Authorization: Bearer $CODEGEN_MCP_AUTH_TOKEN" in line
        assert AUTH_TOKEN not in output
        # Run as printed (the shell expands the variable): the first one is accepted.
        env = {**os.environ, "CODEGEN_MCP_AUTH_TOKEN": AUTH_TOKEN}
        ran = subprocess.run(
            ["sh", "-c", curls[0].replace("YOUR_TOKEN", "sk-test-0000")],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert json.loads(ran.stdout)["status"] == "success", ran.stdout
        assert up.interrupt() == 0


def test_up_on_a_taken_port_names_the_option_to_change_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEGEN_", "REDIS_"))}
        up = [sys.executable, "-m", "codegen_mcp.cli", "up", "--simulate"]
        ran = subprocess.run(
            [*up, "--port", str(port), "--data-dir", str(tmp_path / "data")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert ran.returncode == 2
    assert "--port" in ran.stderr and str(port) in ran.stderr


def test_up_whose_redis_keeps_dying_stops_and_says_why(tmp_path: Path) -> None:
    with Up(tmp_path, "--simulate") as up:
        killed: set[int] = set()

        def kill_the_next_redis() -> bool:
            if up.process.poll() is not None:
                return True
            try:
                pid = up.stack()["redis_pid"]
            except FileNotFoundError:
                return False  # being rewritten
            if pid not in killed:
                killed.add(pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            return False

        wait_for(kill_the_next_redis, timeout=60, what="up to give up on its Redis")
        assert up.process.wait(30) == 2
        assert len(killed) == 4
        last = up.output().rstrip().splitlines()[-1]
        assert last.startswith("codegen-mcp: the embedded Redis died 4 times"), last
        assert "redis.log" in last
