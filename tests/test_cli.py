"""The command line against a real front, worker and simulator: `codegen-mcp new|status|...`.

Each test runs the real CLI as a subprocess, as a user's shell would, and reads what the user
reads: stdout, stderr and the exit code.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from codegen_mcp.local.record import write_stack
from codegen_mcp.local.redis import free_port
from codegen_mcp.settings import RateLimit, Settings
from codegen_mcp.simulator import Simulator
from tests.support import ROOT, Front, Worker, wait_for, with_sigint

QUICK = "[sim:active=0.3] [sim:eval=0]"
CLI = [sys.executable, "-m", "codegen_mcp.cli"]
DEADLINE = 60.0
AUTH_TOKEN = "cli-test-token-0123456789"


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CODEGEN_MCP_URL", "CODEGEN_MCP_AUTH_TOKEN", "CODEGEN_MCP_DATA_DIR")
    }
    # Off a terminal, tables fit COLUMNS: a fixed width keeps the output the same everywhere.
    env.update({"COLUMNS": "200", "PYTHONUNBUFFERED": "1"}, **extra)
    return env


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        cwd=ROOT,
        env=env or _env(CODEGEN_MCP_DATA_DIR="/nonexistent"),
    )


def cli(front: Front, *args: str) -> subprocess.CompletedProcess[str]:
    return run(*args, "--url", front.url)


def started_task(front: Front, query: str, *extra: str) -> str:
    done = cli(front, "new", "acme/demo", query, "--json", *extra)
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["task_id"])


def field(output: str, name: str) -> str:
    """The value of a `name: value` line of a readable block."""
    for line in output.splitlines():
        key, sep, value = line.partition(":")
        if sep and key == name:
            return value.strip()
    raise AssertionError(f"no {name!r} line in:\n{output}")


@pytest.fixture
def stuck_task(front: Front, worker: Worker) -> Iterator[str]:
    task_id = started_task(front, "Stay busy [sim:stuck]")
    front.wait_state(task_id, "running")
    yield task_id
    if front.status(task_id)["state"] == "running":
        front.ok("cancel", {"task_id": task_id})  # stop watching a run that never ends


# -- new, status, resume -----------------------------------------------------------------------
def test_new_prints_the_task_and_status_shows_where_it_is(front: Front, worker: Worker) -> None:
    done = cli(
        front,
        "new",
        "acme/demo",
        f"Add a README {QUICK}",
        *("--task", "CREATE_PLAN", "--branch", "main", "--pr", "9"),
    )
    assert done.returncode == 0, done.stderr
    # "started successfully", or "queued" while the worker is still starting up
    assert done.stdout.splitlines()[-1].startswith("Agent run ")
    task_id = field(done.stdout, "task_id")
    front.wait_state(task_id, "completed")

    status = cli(front, "status", task_id)
    assert status.returncode == 0, status.stderr
    assert field(status.stdout, "state") == "completed (COMPLETE)"
    assert field(status.stdout, "repo") == "acme/demo"
    assert field(status.stdout, "task") == "CREATE_PLAN"
    assert (field(status.stdout, "branch"), field(status.stdout, "pr")) == ("main", "9")
    assert "result:\n  ## Done: Add a README" in status.stdout


def test_new_with_bad_arguments_prints_the_servers_message_and_exits_2(front: Front) -> None:
    blank = cli(front, "new", "acme/demo", "   ")
    assert blank.returncode == 2
    assert "query: Must not be blank." in blank.stderr and blank.stdout == ""
    unknown = cli(front, "status", "no-such-task")
    assert unknown.returncode == 2
    assert "no task with id 'no-such-task'" in unknown.stderr
    # a number the command line reads itself is refused in the fronts' words ("pr: Not a
    # valid integer." over HTTP and MCP), naming the option
    for args, option in (
        (("new", "acme/demo", "q", "--pr", "abc"), "--pr"),
        (("resume", "abc", "q"), "AGENT_RUN_ID"),
        (("logs", "--run", "x"), "--run"),
    ):
        wrong = cli(front, *args)
        assert wrong.returncode == 2
        assert f"error: argument {option}: Not a valid integer." in wrong.stderr


def test_new_in_a_repository_codegen_does_not_have_exits_2(front: Front, worker: Worker) -> None:
    done = cli(front, "new", "acme/nope", f"x {QUICK}")
    assert done.returncode == 2
    assert "acme/nope" in done.stderr


def test_wait_exits_0_and_prints_one_plain_line_per_change(front: Front, worker: Worker) -> None:
    done = cli(front, "new", "acme/demo", "Finish [sim:active=1] [sim:eval=1.5]", "--wait")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\r" not in done.stdout  # not a terminal: plain text
    head, progress, final = done.stdout.split("\n\n", 2)
    assert "Agent run started successfully." in head
    lines = progress.splitlines()
    states = [line.split("  ")[1] for line in lines]
    assert states[0] == "running (ACTIVE)" and states[-1] == "completed (COMPLETE)"
    assert "running (EVALUATION)" in states
    assert len(states) == len(set(states)), lines  # a line per change, never a repeat
    assert all(line.endswith(f"run {field(head, 'agent_run_id')}") for line in lines)
    assert field(final, "state") == "completed (COMPLETE)"


def test_wait_exits_1_when_the_run_fails(front: Front, worker: Worker) -> None:
    done = cli(front, "new", "acme/demo", f"Break it [sim:error] {QUICK}", "--wait")
    assert done.returncode == 1, done.stdout + done.stderr
    assert field(done.stdout.split("\n\n", 2)[2], "state") == "failed (ERROR)"
    assert "error:\n  " in done.stdout


def test_wait_exits_2_and_prints_the_agents_question_when_paused(
    front: Front, worker: Worker
) -> None:
    done = cli(front, "new", "acme/demo", f"Ask me [sim:paused] {QUICK}", "--wait")
    assert done.returncode == 2, done.stdout + done.stderr
    run_id = field(done.stdout, "agent_run_id")
    assert "the agent asks:\n  Before I continue with" in done.stdout
    assert "Reply to resume me." in done.stdout
    assert f'codegen-mcp resume {run_id} "..."' in done.stdout


def test_wait_timeout_exits_124_and_the_run_goes_on(front: Front, stuck_task: str) -> None:
    asked = time.monotonic()
    done = cli(front, "status", stuck_task, "--timeout", "1")
    took = time.monotonic() - asked
    assert done.returncode == 124, done.stdout + done.stderr
    assert "gave up waiting after 1s" in done.stderr and "goes on" in done.stderr
    assert took < 15
    assert front.status(stuck_task)["state"] == "running"


def test_a_reader_that_leaves_the_pipe_ends_the_command_quietly(front: Front) -> None:
    """`codegen-mcp status ID | head -1`: head leaves before the rest is printed."""
    task_id = started_task(front, f"Add a README {QUICK}")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is printed
    try:
        done = subprocess.run(
            [*CLI, "status", task_id, "--url", front.url],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=DEADLINE,
            cwd=ROOT,
            env=_env(CODEGEN_MCP_DATA_DIR="/nonexistent"),
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr  # as for a tool that SIGPIPE ends
    assert done.stderr == ""  # no traceback, no "Exception ignored"


@pytest.mark.parametrize("inherited", ["default", "ignored"])
def test_ctrl_c_stops_waiting_and_never_the_run(
    front: Front, stuck_task: str, inherited: str
) -> None:
    # "ignored": started as a background job of a script, which ignores SIGINT for its children
    # (kill -INT still means "stop", and a script's own Ctrl-C should reach its commands)
    argv = with_sigint(
        [*CLI, "status", stuck_task, "--wait", "--url", front.url], ignored=inherited == "ignored"
    )
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_env(),
    ) as process:
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], DEADLINE)
            assert ready, "no progress line"
            assert "running (ACTIVE)" in process.stdout.readline()
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=DEADLINE)
        finally:
            if process.poll() is None:
                process.kill()  # then leaving `with` reaps it and closes its pipes
    assert process.returncode == 130
    assert f"task {stuck_task} goes on" in stderr and "never stops the run" in stderr
    assert front.status(stuck_task)["state"] == "running"


def test_resume_waits_for_the_follow_up(front: Front, worker: Worker) -> None:
    task_id = started_task(front, f"Plan {QUICK}")
    run_id = front.wait_state(task_id, "completed")["agent_run_id"]
    done = cli(
        front, "resume", str(run_id), f"Now implement {QUICK}", "--task", "IMPLEMENT", "--wait"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Resume of agent run" in done.stdout
    final = done.stdout.split("\n\n", 2)[-1]
    assert field(final, "command") == "resume" and field(final, "task") == "IMPLEMENT"
    refused = cli(front, "resume", "0", "x")
    assert refused.returncode == 2 and "agent_run_id" in refused.stderr


def test_json_prints_the_servers_answer(front: Front, worker: Worker) -> None:
    done = cli(front, "new", "acme/demo", f"Script me {QUICK}", "--wait", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)  # stdout is one JSON document; progress went to stderr
    assert answer["status"] == "success" and answer["state"] == "completed"
    assert "completed (COMPLETE)" in done.stderr
    status = cli(front, "status", answer["task_id"], "--json")
    assert json.loads(status.stdout) == front.status(answer["task_id"])
    error = cli(front, "status", "nope", "--json")
    assert error.returncode == 2
    assert json.loads(error.stdout)["error"] == "not_found"


# -- list, tree, cancel, logs, config ------------------------------------------------------------
def test_list_prints_a_table_newest_first(front: Front, worker: Worker) -> None:
    older = started_task(front, f"Older {QUICK}")
    newer = started_task(front, f"Newer {QUICK}")
    done = cli(front, "list", "--repo", "acme/demo", "--limit", "2")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["TASK", "ID", "STATE", "RUN", "REPO", "TYPE", "AGE", "QUERY"]
    assert [row.split()[0] for row in rows] == [newer, older]
    assert rows[0].split()[3] == "acme/demo" and rows[0].endswith(f"Newer {QUICK}")
    bad = cli(front, "list", "--limit", "0")
    assert bad.returncode == 2 and "limit" in bad.stderr


def test_tree_draws_the_orchestrator_and_its_delivered_child(front: Front, worker: Worker) -> None:
    parent = started_task(front, f"Orchestrate {QUICK}")
    run_id = str(front.wait_state(parent, "completed")["agent_run_id"])
    child = started_task(front, f"Extract billing {QUICK}", "--orchestrator", run_id)
    wait_for(
        lambda: front.status(child)["delivery"]["state"] == "delivered",
        DEADLINE,
        "the child's outcome to reach the orchestrator",
    )
    child_status = front.status(child)
    front.wait_state(child_status["delivery"]["resume_task_id"], "completed")
    child_run = child_status["agent_run_id"]
    done = cli(front, "tree", "--run", run_id)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"run {run_id}  completed (COMPLETE)"
    assert f"└── run {child_run}  completed (COMPLETE)  delivery: delivered" in lines
    assert any("## Done: Extract billing" in line for line in lines)
    assert cli(front, "tree", parent).stdout == done.stdout  # by task id: the same hierarchy
    every = cli(front, "tree", "--limit", "1")  # no run named: the newest hierarchies
    assert every.returncode == 0, every.stderr
    assert every.stdout == done.stdout
    unknown = cli(front, "tree", "--run", "987654")
    assert unknown.returncode == 2 and "tracks nothing" in unknown.stderr


def test_cancel_says_what_happened_and_refuses_twice(front: Front, stuck_task: str) -> None:
    bad = cli(front, "cancel", stuck_task, "--scope", "everything")
    assert bad.returncode == 2 and "The only scope is 'pull_request'" in bad.stderr
    done = cli(front, "cancel", stuck_task)
    assert done.returncode == 0, done.stderr
    assert field(done.stdout, "state") == "cancelled"
    assert "goes on upstream" in done.stdout
    again = cli(front, "cancel", stuck_task)
    assert again.returncode == 2 and "already cancelled" in again.stderr


def test_logs_print_the_newest_entries_last(front: Front, worker: Worker) -> None:
    task_id = started_task(front, "Log me [sim:active=1.5] [sim:eval=0.3]")
    run_id = front.wait_state(task_id, "completed")["agent_run_id"]
    done = cli(front, "logs", task_id, "--limit", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    assert [line.split("  ")[1] for line in lines[-2:]] == ["PLAN_EVALUATION", "FINAL_ANSWER"]
    oldest = cli(front, "logs", "--run", str(run_id), "--oldest-first", "--limit", "1")
    assert oldest.stdout.split("  ")[1:3] == ["ACTION", "ripgrep_search"]
    neither = cli(front, "logs")
    assert neither.returncode == 2 and "Give exactly one" in neither.stderr
    unknown = cli(front, "logs", "--run", "987654")
    assert unknown.returncode == 2


def test_logs_follow_streams_new_entries_until_the_run_finishes(
    front: Front, worker: Worker, sim: Simulator
) -> None:
    # A stuck run acts once a second until told to finish: the follower always has entries
    # to stream, however late it starts, and the run ends only when the test says so.
    task_id = started_task(front, "Follow me [sim:stuck]")
    follower = subprocess.Popen(
        [*CLI, "logs", task_id, "--follow", "--limit", "1", "--url", front.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_env(),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(follower.stdout.readline, "")))
    reader.start()
    try:
        # It starts with one entry (--limit 1): a second ACTION was streamed as it appeared.
        wait_for(lambda: _kinds(lines).count("ACTION") >= 2, DEADLINE, "a streamed ACTION")
        assert follower.poll() is None, "the follower left while the run was still going"
        sim.transition(int(front.status(task_id)["agent_run_id"]), "EVALUATION")
        assert follower.wait(DEADLINE) == 0, follower.stderr.read()
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
        reader.join()
        follower.stdout.close()
        follower.stderr.close()
    lines = [line.rstrip("\n") for line in lines]
    assert _kinds(lines)[-2:] == ["PLAN_EVALUATION", "FINAL_ANSWER"]
    assert len(lines) == len(set(lines)), "an entry printed twice"
    assert front.status(task_id)["state"] == "completed"

    # By run id, the run's own Codegen status says when it is over: here, at once.
    run_id = str(front.status(task_id)["agent_run_id"])
    by_run = cli(front, "logs", "--run", run_id, "--follow", "--limit", "2")
    assert by_run.returncode == 0, by_run.stderr
    assert by_run.stdout.splitlines() == lines[-2:]


def test_logs_follow_waits_out_the_logs_allowance_instead_of_quitting(
    settings: Settings, worker: Worker
) -> None:
    # One read per 8 s for this client, no cache to hide it: the follower's second read is
    # refused (429), as when the dashboard and a follower share one loopback client.
    tight = Front(replace(settings, client_logs_limit=RateLimit(1, 8), logs_cache_seconds=0.0))
    try:
        task_id = started_task(tight, "Follow me slowly [sim:active=6] [sim:eval=0.5]")
        done = cli(tight, "logs", task_id, "--follow", "--limit", "1")
    finally:
        tight.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split("  ")[1] == "FINAL_ANSWER"
    assert "CODEGEN_MCP_CLIENT_LOGS_LIMIT" in done.stderr  # it said why it paused


def _kinds(lines: list[str]) -> list[str]:
    """The entry kind of each printed log line (`time  KIND  text`)."""
    return [line.split("  ")[1] for line in lines]


def test_config_shows_and_sets_and_never_shows_the_token(front: Front) -> None:
    shown = cli(front, "config", "get")
    assert shown.returncode == 0, shown.stderr
    assert field(shown.stdout, "api_token").startswith("…")
    assert "sim-token" not in shown.stdout
    done = cli(front, "config", "set", "org_id", "1")
    assert done.returncode == 0, done.stderr
    assert "org_id: 1 (runtime)" in done.stdout
    assert "None" not in shown.stdout  # a value not set shows as "-", never Python's None
    bad = cli(front, "config", "set", "org_id", "abc")
    assert bad.returncode == 2 and "org_id must be a positive integer" in bad.stderr


# -- finding the front ------------------------------------------------------------------------
def test_an_unreachable_front_exits_3_and_says_how_to_start_one() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = run("list", "--url", url)
    assert done.returncode == 3
    assert f"cannot reach the codegen-mcp front at {url}" in done.stderr
    assert "codegen-mcp up" in done.stderr and "CODEGEN_MCP_URL" in done.stderr


def test_the_front_is_found_from_the_environment_and_the_running_stack(
    front: Front, tmp_path: Path
) -> None:
    by_env = run("list", "--json", env=_env(CODEGEN_MCP_URL=front.url, CODEGEN_MCP_DATA_DIR="/x"))
    assert by_env.returncode == 0, by_env.stderr
    write_stack(tmp_path, web_url=front.url)  # as `codegen-mcp up` does, with a live pid
    by_stack = run("list", "--json", env=_env(CODEGEN_MCP_DATA_DIR=str(tmp_path)))
    assert by_stack.returncode == 0, by_stack.stderr
    assert json.loads(by_stack.stdout)["status"] == "success"


def test_url_and_token_work_before_the_command_too(settings: Settings) -> None:
    guarded = Front(replace(settings, auth_token=AUTH_TOKEN))
    try:
        before = run("--url", guarded.url, "--token", AUTH_TOKEN, "list")
        inline = run(f"--url={guarded.url}", "--json", "config", "get", f"--token={AUTH_TOKEN}")
        after_wins = run("--url", "http://127.0.0.1:9", "list", "--url", guarded.url)
    finally:
        guarded.stop()
    assert before.returncode == 0, before.stderr  # the token reached the front: not a 401
    assert inline.returncode == 0, inline.stderr
    assert json.loads(inline.stdout)["status"] == "success"
    assert after_wins.returncode == 2 and "bearer token" in after_wins.stderr  # reached it
    misplaced = run("--token", "x", "simulate")
    assert misplaced.returncode == 2
    assert "--url, --token and --json before the command" in misplaced.stderr


def test_a_front_with_auth_needs_the_token_and_the_cli_never_prints_it(
    settings: Settings,
) -> None:
    guarded = Front(replace(settings, auth_token=AUTH_TOKEN))
    try:
        denied = run("list", "--url", guarded.url)
        assert denied.returncode == 2
        assert "bearer token" in denied.stderr and "--token" in denied.stderr
        by_flag = run("list", "--url", guarded.url, "--token", AUTH_TOKEN)
        by_env = run("list", "--url", guarded.url, env=_env(CODEGEN_MCP_AUTH_TOKEN=AUTH_TOKEN))
        wrong = run("list", "--url", guarded.url, "--token", "wrong", "--json")
    finally:
        guarded.stop()
    assert (by_flag.returncode, by_env.returncode, wrong.returncode) == (0, 0, 2)
    for done in (denied, by_flag, by_env, wrong):
        assert AUTH_TOKEN not in done.stdout + done.stderr


# -- on a terminal ------------------------------------------------------------------------------
def test_on_a_terminal_wait_redraws_one_live_line(front: Front, worker: Worker) -> None:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [
            *CLI,
            "new",
            "acme/demo",
            "Live [sim:active=1.5] [sim:eval=0]",
            "--wait",
            "--url",
            front.url,
        ],
        stdout=terminal,
        stderr=terminal,
        cwd=ROOT,
        env=_env(),
    )
    os.close(terminal)
    try:
        screen = _read_until_closed(controller, time.monotonic() + DEADLINE)
        assert process.wait(DEADLINE) == 0, screen
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "\r" in screen and "\x1b[K" in screen  # redrawn in place
    assert screen.count("running (ACTIVE)") > 1  # the clock ticks between changes
    assert "\x1b[?25h" in screen  # the cursor is given back
    final = screen.rsplit("\x1b[?25h", 1)[1]
    assert field(final.replace("\r\n", "\n"), "state") == "completed (COMPLETE)"


def _read_until_closed(fd: int, deadline: float) -> str:
    chunks: list[bytes] = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    else:
        raise AssertionError("the CLI did not finish on the terminal")
    return b"".join(chunks).decode("utf-8", "replace")
