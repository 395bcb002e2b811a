"""Results to the caller: a `task_status` poller, an MCP Tasks client, a webhook receiver and an
SSE client, side by side on the same 50 runs, at the same time, on one stack.

The stack is the production shape on loopback: its own Redis, a Celery worker and beat (the
sweep at the default interval, 5 s, under the default read budget, 55 / 30 s), `codegen-mcp
web` (gunicorn) and `codegen-mcp mcp --transport http` (uvicorn), and the simulator with the
API's real read limit (the create limit is raised for the set-up). Each run works for a random
--active time (5-30 s by default) and then completes.

The MCP Tasks client starts all the runs: `new` as a task, over Streamable HTTP, with a
`notify_url` (so the same tasks post their settled events to the webhook receiver). Once every
task is created, the poller (HTTP `task_status` of each task every 5 s) and the SSE client (one
`GET /events?task_id=...&state=...`) follow the same task ids. For each caller: the requests it
made after the start, and the time from the run settling (the simulator's record of the moment
its status became final) to the caller knowing (the caller's clock when the answer, event or
message arrived; everything runs on this machine's one clock).

    uv run python -m bench.push [--runs 50] [--active 5 30] [--poll-every 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from bench import common
from bench.push_callers import Caller, Poller, Receiver, Streamer, TasksCaller
from codegen_mcp.local.redis import free_port
from codegen_mcp.simulator import SimConfig, Simulator

NAME = "push"
SECRET = "whsec-bench-0123456789abcdef"
SETTLED_EVENTS = ["completed", "failed", "cancelled", "paused"]
TAIL = 60.0  # seconds after the last run's settling in which every caller may still learn


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m bench.{NAME}", description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--active", type=float, nargs=2, default=(5.0, 30.0), metavar=("MIN", "MAX")
    )
    parser.add_argument("--poll-every", type=float, default=5.0, help="the poller's interval (s)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--keep", action="store_true", help="keep the logs and data")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    with (
        common.Bound(NAME, 240 + args.active[1] + TAIL) as bound,
        common.workdir(NAME, keep=args.keep) as work,
        common.redis_server(work / "redis", bound) as redis,
    ):
        figures = _measure(args, redis.url, work, bound)
        wall = bound.elapsed()
    text = common.table(HEADERS, _rows(figures))
    print(f"\n{text}\n")
    print(f"machine: {common.machine_line()}; wall time {wall:.0f} s")
    settings = {
        "runs": args.runs,
        "active_seconds": list(args.active),
        "poll_every": args.poll_every,
        "sweep_interval": 5.0,
        "read_budget": "55/30 (default)",
        "api_read_limit": "60/30 (real)",
        "mode": "concurrent: the four callers on the same runs at the same time",
    }
    path = common.write_results(
        NAME, {"settings": settings, **figures, "table": text}, bound.started
    )
    print(f"wrote {path.relative_to(common.ROOT)}")


def _measure(
    args: argparse.Namespace, redis_url: str, work: Path, bound: common.Bound
) -> dict[str, Any]:
    config = SimConfig(
        read_limit=common.REAL_READ_LIMIT, create_limit=(1000, 60.0), evaluation_seconds=0.0
    )
    receiver = Receiver()
    with Simulator(config) as sim:
        web_port, mcp_port = free_port(), free_port()
        settings = common.bench_settings(
            redis_url,
            sim.url,
            work,
            port=web_port,
            create_limit=common.limit("1000/60"),
            webhook_secret=SECRET,
            notify_allow_private=("127.0.0.1/32",),  # the receiver, on loopback
        )
        processes = [
            common.celery_worker(settings, work, "worker", bound=bound),
            common.celery_beat(settings, work, bound=bound),
            _front(["web", "--workers", "2", "--threads", "8"], settings, web_port, work, bound),
            _front(["mcp", "--transport", "http", "--port", str(mcp_port)], settings, mcp_port,
                   work, bound),
        ]  # fmt: skip
        with common.running(*processes):
            web = f"http://127.0.0.1:{web_port}"
            mcp = f"http://127.0.0.1:{mcp_port}/mcp"
            _wait_listening(web + "/", processes[2])
            _wait_listening(mcp, processes[3])
            callers, start = _follow(args, web, mcp, receiver.url, receiver)
            figures = _figures(sim, callers, start, web)
    receiver.close()
    return figures


def _front(
    command: list[str], settings: Any, port: int, work: Path, bound: common.Bound
) -> common.Process:
    script = Path(sys.executable).parent / "codegen-mcp"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "codegen_mcp.cli"]
    env = {**common.settings_env(settings), "PORT": str(port), "CODEGEN_MCP_HOST": "127.0.0.1"}
    return common.Process(command[0], argv + command, env, work / f"{command[0]}.log", bound)


def _wait_listening(url: str, process: common.Process) -> None:
    def answers() -> bool:
        try:
            requests.post(url, json={}, timeout=2)
        except requests.ConnectionError:
            return not process.alive
        return True

    common.wait_for(answers, 60, f"{url} to listen")
    if not process.alive:
        raise RuntimeError(f"{process.name} exited at start; see {process.log_path}")


def _follow(
    args: argparse.Namespace, web: str, mcp: str, hook_url: str, receiver: Receiver
) -> tuple[dict[str, Caller], float]:
    """Start the runs (MCP Tasks client), then follow them with the other three."""
    rng = random.Random(args.seed)
    queries = [
        {
            "repo": "acme/demo",
            "query": f"Task {i} [sim:active={rng.uniform(*args.active):.2f}] [sim:eval=0]",
            "notify_url": hook_url,
            "notify_events": SETTLED_EVENTS,
        }
        for i in range(args.runs)
    ]
    start = time.time()
    stop_at = start + 60 + args.active[1] + TAIL
    tasks = TasksCaller(stop_at)
    thread = tasks.start(mcp, queries)
    if not tasks.all_created.wait(120):
        raise RuntimeError(f"only {len(tasks.created)} of {args.runs} tasks were created")
    created = time.time()
    print(f"{NAME}: {args.runs} tasks created in {created - start:.1f} s", flush=True)
    poller = Poller(web + "/", tasks.created, args.poll_every, stop_at)
    streamer = Streamer(web, tasks.created, stop_at)
    streamer.start()
    if not streamer.ready.wait(30):
        raise RuntimeError("the event stream did not open")
    poller.start()
    callers: dict[str, Caller] = {
        "poller": poller, "tasks": tasks, "webhook": receiver, "sse": streamer
    }  # fmt: skip

    def everyone_knows() -> bool:
        return all(len(c.known) == args.runs for c in callers.values()) or time.time() > stop_at

    common.wait_for(everyone_knows, stop_at - time.time() + 5, "every caller to know", pause=0.5)
    thread.join(10)
    return callers, start


# -- figures ------------------------------------------------------------------------------
def _figures(sim: Simulator, callers: dict[str, Caller], start: float, web: str) -> dict[str, Any]:
    settled: dict[str, float] = {}
    for run in sim.runs():
        task_id = common.task_id_of(run)
        record = sim.run(run["id"])
        if task_id and record["completed_at"]:
            settled[task_id] = record["completed_at"]
    first_settle = min(settled.values())
    streamer = callers["sse"]
    assert isinstance(streamer, Streamer) and streamer.ready_at is not None
    seen = _seen_by_ours(settled, web)
    kinds: dict[str, Any] = {}
    for kind, caller in callers.items():
        lags = [caller.known[t] - at for t, at in settled.items() if t in caller.known]
        after = [(caller.known[t] - seen[t]) * 1000 for t in seen if t in caller.known]
        kinds[kind] = {
            "calls": caller.calls,
            "learned": len(lags),
            **common.summary(lags),
            "after_ours": common.summary(after),
        }
    receiver = callers["webhook"]
    assert isinstance(receiver, Receiver)
    kinds["webhook"]["posts_received"] = receiver.posts
    ours = [seen[t] - at for t, at in settled.items() if t in seen]
    kinds["ours"] = {"calls": None, "learned": len(ours), **common.summary(ours)}
    return {
        "runs": len(settled),
        "settled_between_s": [
            round(first_settle - start, 1), round(max(settled.values()) - start, 1)
        ],
        "stream_open_before_first_settle_s": round(first_settle - streamer.ready_at, 1),
        "callers": kinds,
    }  # fmt: skip


def _seen_by_ours(settled: dict[str, float], web: str) -> dict[str, float]:
    """When our worker saw each run settle: the task's `completed_at`, read once at the end,
    outside the callers' counts."""
    seen = {}
    session = requests.Session()
    for task_id in settled:
        body = {"command": "task_status", "args": {"task_id": task_id}}
        stamp = session.post(web + "/", json=body, timeout=30).json().get("completed_at")
        if stamp:
            seen[task_id] = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    return seen


HEADERS = ("caller", "calls after the start", "learned of", "settled → knows p50 s", "p99 s",
           "max s", "after our sweep saw it p50 / p99 ms")  # fmt: skip
LABELS = {
    "poller": "HTTP `task_status` every 5 s",
    "tasks": "MCP Tasks client (`tasks/get` at pollIntervalMs)",
    "webhook": "webhook receiver (notify_url)",
    "sse": "SSE client (one `GET /events`)",
    "ours": "(reference) our sweep saw it: `completed_at`",
}
UNITS = {"poller": "task_status", "tasks": "tasks/get", "webhook": "", "sse": "stream"}


def _rows(figures: dict[str, Any]) -> list[list[Any]]:
    rows = []
    runs = figures["runs"]
    for kind, label in LABELS.items():
        fig = figures["callers"][kind]
        calls = "-" if fig["calls"] is None else f"{fig['calls']} {UNITS[kind]}".strip()
        after = fig.get("after_ours")
        delivery = f"{after['p50']:.0f} / {after['p99']:.0f}" if after else "-"
        learned = f"{fig['learned']}/{runs}"
        rows.append([label, calls, learned, fig["p50"], fig["p99"], fig["max"], delivery])
    return rows


if __name__ == "__main__":
    main()
