"""A fan-out burst in the production shape: is it answered at once, and are readers starved?

For each front (the web front, `codegen-mcp web`: gunicorn, 2 workers x 8 threads; and the MCP
front, `codegen-mcp mcp --transport http`: uvicorn, --mcp-workers processes, 1 by default),
a fresh stack on loopback: its own Redis keys, a Celery worker (threads, concurrency 8) and beat
as the Procfile runs them, and the built-in simulator with the API's real limits (10 creates /
60 s, 60 reads / 30 s) under our default budgets (9 creates / 60 s, 55 reads / 30 s)
and default waits (CODEGEN_MCP_NEW_WAIT 2 s). The per-client run limit and the queue bound are
lifted (bench/common.py): the 64 clients share one address, and their limits are not what is
measured.

One client reads `task_status` 20 times a second for --idle seconds (the idle figures), then 100
`new` (--calls) come from 64 clients at once (--clients: threads with a keep-alive connection
each, opened by its first call, or MCP SDK sessions opened before the burst, in a process of
their own) while it goes on
reading (the burst figures, up to the last `new` answered).

Exactly once: every `new` task must end with exactly one run on the simulator. At the real
create limit 100 runs take about 11 minutes, so by default (--exactly-once fast) the check runs
on a second burst with the create window ten times shorter (the simulator 10 / 6 s, our budget
9 / 6 s: the same counts, the same code path); --exactly-once real drains the measured burst
itself at the real pace instead (about 11 min per front); skip leaves it out.

    uv run python -m bench.burst [--fronts http mcp] [--exactly-once fast|real|skip]
        [--mcp-workers 1] [--out burst]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import http.client
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.burst_report import report
from codegen_mcp.local.redis import free_port
from codegen_mcp.services import Services
from codegen_mcp.settings import RateLimit
from codegen_mcp.simulator import SimConfig, Simulator
from codegen_mcp.states import State

NAME = "burst"
READS_PER_SECOND = 20.0
REAL_WINDOW = 60.0  # the API's create window: 10 runs a minute
SETTLE = 12.0  # seconds after the last run appears in which a second one would show (2 sweeps)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m bench.{NAME}", description=__doc__)
    parser.add_argument("--fronts", nargs="+", choices=["http", "mcp"], default=["http", "mcp"])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle reads")
    parser.add_argument(
        "--exactly-once", choices=["fast", "real", "skip"], default="fast", dest="once"
    )
    parser.add_argument("--fast-window", type=float, default=6.0, help="create window (s), fast")
    parser.add_argument(
        "--mcp-workers",
        type=int,
        default=1,
        help="the MCP front's --workers (1, its own default)",
    )
    parser.add_argument("--out", default=NAME, help="results file: bench/results/<out>.json")
    parser.add_argument("--keep", action="store_true", help="keep the logs and data")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    drain = {"fast": args.fast_window, "real": REAL_WINDOW, "skip": 0.0}[args.once]
    per_front = 120 + 3 * args.idle + (args.calls / 9 * drain + 120 if drain else 0)
    results: dict[str, dict[str, Any]] = {}
    with (
        common.Bound(NAME, 120 + per_front * len(args.fronts) * 2) as bound,
        common.workdir(NAME, keep=args.keep) as work,
        common.redis_server(work / "redis", bound) as redis,
    ):
        for front in args.fronts:
            stack = Stack(front, redis.url, work, bound, args)
            measured = stack.burst(REAL_WINDOW, drain=args.once == "real")
            if args.once == "fast":
                fast = stack.burst(args.fast_window, drain=True)
                measured["exactly_once"] = fast.pop("created")
                measured["exactly_once_burst"] = fast  # its latencies, at the shorter window
            elif args.once == "real":
                measured["exactly_once"] = measured["created"]
            results[front] = measured
        wall = bound.elapsed()
    text = report(results, args)
    print(f"machine: {common.machine_line()}; wall time {wall:.0f} s", flush=True)
    settings = {
        "calls": args.calls,
        "clients": args.clients,
        "reads_per_second": READS_PER_SECOND,
        "exactly_once": args.once,
        "fast_window": args.fast_window,
        "lifted": "client_run_limit and max_queued (bench/common.py)",
        "mcp_workers": args.mcp_workers,
    }
    figures = {"settings": settings, "fronts": results, "table": text}
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    path = common.write_results(NAME, figures, bound.started, out=args.out, argv=argv_text)
    print(f"wrote {path.relative_to(common.ROOT)}")


class Stack:
    """One front with its worker, beat and simulator, for one burst at a time."""

    def __init__(
        self, front: str, redis_url: str, work: Path, bound: common.Bound, args: argparse.Namespace
    ) -> None:
        self.front, self.redis_url, self.work, self.bound, self.args = (
            front, redis_url, work, bound, args
        )  # fmt: skip

    def burst(self, window: float, *, drain: bool) -> dict[str, Any]:
        """Idle reads, then the burst under a create limit of 10 per `window` seconds."""
        label = f"{self.front}-{window:g}s"
        print(f"{label}: starting the stack", flush=True)
        config = SimConfig(read_limit=common.REAL_READ_LIMIT, create_limit=(10, window))
        with Simulator(config) as sim:
            port = free_port()
            settings = common.bench_settings(
                self.redis_url, sim.url, self.work, port=port, create_limit=RateLimit(9, window)
            )
            watched = _completed_task(Services(settings, self.redis_url))
            processes = [
                common.celery_worker(settings, self.work, f"{label}-worker", bound=self.bound),
                common.celery_beat(settings, self.work, bound=self.bound),
                self._front_process(settings, port, label),
            ]
            with common.running(*processes):
                url = self._wait_listening(port, processes[-1])
                figures = self._measure(url, watched, label)
                figures["created"] = _runs_created(sim, figures.pop("task_ids"), drain, window)
        figures["create_limit"] = f"10/{window:g} s (ours 9/{window:g} s)"
        print(f"{label}: {json.dumps({k: v for k, v in figures.items() if k != 'new'})}")
        return figures

    def _front_process(self, settings: Any, port: int, label: str) -> common.Process:
        script = Path(sys.executable).parent / "codegen-mcp"
        command = [str(script)] if script.exists() else [sys.executable, "-m", "codegen_mcp.cli"]
        if self.front == "http":
            command += ["web", "--workers", "2", "--threads", "8"]
        else:
            workers = ["--workers", str(self.args.mcp_workers)]
            command += ["mcp", "--transport", "http", "--port", str(port), *workers]
        env = {**common.settings_env(settings), "PORT": str(port), "CODEGEN_MCP_HOST": "127.0.0.1"}
        return common.Process(
            self.front, command, env, self.work / f"{label}-front.log", self.bound
        )

    def _wait_listening(self, port: int, process: common.Process) -> str:
        path = "/" if self.front == "http" else "/mcp"
        common.wait_for(
            lambda: _answers(port, path) or not process.alive, 60, f"the {self.front} front"
        )
        if self.front == "mcp":  # every worker serving before the measure: each logs it
            workers = self.args.mcp_workers
            common.wait_for(
                lambda: (
                    process.new_log().count("Application startup complete.") >= workers
                    or not process.alive
                ),
                120,
                f"the {workers} MCP worker processes",
            )
        if not process.alive:
            raise RuntimeError(f"the {self.front} front exited at start; see {process.log_path}")
        return f"http://127.0.0.1:{port}{path}"

    def _measure(self, url: str, watched: str, label: str) -> dict[str, Any]:
        reader = Reader(self.front, url, watched)
        reader.start()
        load = _start_load(self.front, url, self.args, label, self.work)
        try:
            common.wait_for(lambda: reader.reads, 60, "the reader's first answer")
            idle_from = time.monotonic()
            time.sleep(self.args.idle)  # the idle figures: the reader alone
            burst_from = time.monotonic()
            assert load.stdin is not None and load.stdout is not None
            load.stdin.write("go\n")
            load.stdin.flush()
            line = load.stdout.readline()
            time.sleep(0.5)  # reads that began during the burst finish
        finally:
            reader.halt.set()
            common.kill_group(load)  # type: ignore[arg-type]  # text mode, same process
        reader.join(30)
        records = json.loads(line)
        burst_to = max(r["end"] for r in records)
        return {
            "idle": _reads(reader.reads, idle_from, burst_from),
            "burst": _reads(reader.reads, burst_from, burst_to),
            "new": _new_figures(self.front, records, burst_from, burst_to),
            "task_ids": [r["task_id"] for r in records if r["task_id"]],
        }


def _answers(port: int, path: str) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("POST", path, body=b"{}", headers={"Content-Type": "application/json"})
        connection.getresponse().read()
        connection.close()
    except OSError:
        return False
    return True


def _start_load(
    front: str, url: str, args: argparse.Namespace, label: str, work: Path
) -> subprocess.Popen[str]:
    """The burst's clients in a child; back once every connection or session is open."""
    command = [sys.executable, "-m", "bench.burst_load", front, url, "--tag", label]
    command += ["--calls", str(args.calls), "--clients", str(args.clients)]
    with open(work / f"{label}-load.log", "ab") as log:
        load = subprocess.Popen(
            command,
            cwd=common.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
    assert load.stdout is not None
    if load.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the burst's clients did not start; see {work / f'{label}-load.log'}")
    return load


class Reader(threading.Thread):
    """Another client: `task_status` of one task, 20 times a second, each read timed."""

    def __init__(self, front: str, url: str, task_id: str) -> None:
        super().__init__(daemon=True)
        self.front, self.url, self.task_id = front, url, task_id
        self.halt = threading.Event()
        self.reads: list[tuple[float, float, bool]] = []  # (start, seconds, answered well)

    def run(self) -> None:
        if self.front == "http":
            self._http()
        else:
            asyncio.run(self._mcp())

    def _http(self) -> None:
        port = int(self.url.split(":")[2].split("/")[0])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = json.dumps({"command": "task_status", "args": {"task_id": self.task_id}})
        headers = {"Content-Type": "application/json"}
        due = time.monotonic()
        while not self.halt.wait(max(0.0, due - time.monotonic())):
            started = time.monotonic()
            connection.request("POST", "/", body=body, headers=headers)
            reply = connection.getresponse()
            ok = reply.status == 200 and b'"state"' in reply.read()
            self.reads.append((started, time.monotonic() - started, ok))
            due = max(due + 1 / READS_PER_SECOND, time.monotonic())

    async def _mcp(self) -> None:
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        async with (
            httpx2.AsyncClient(timeout=60.0) as http,
            Client(streamable_http_client(self.url, http_client=http)) as client,
        ):
            due = time.monotonic()
            while not self.halt.is_set():
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                started = time.monotonic()
                result = await client.call_tool("task_status", {"task_id": self.task_id})
                ok = not result.is_error and "state" in (result.structured_content or {})
                self.reads.append((started, time.monotonic() - started, ok))
                due = max(due + 1 / READS_PER_SECOND, time.monotonic())


def _reads(reads: list[tuple[float, float, bool]], start: float, end: float) -> dict[str, Any]:
    chosen = [r for r in reads if start <= r[0] <= end]
    figures = common.summary([r[1] * 1000 for r in chosen])
    return {**figures, "errors": sum(1 for r in chosen if not r[2])}


def _new_figures(
    front: str, records: list[dict[str, Any]], start: float, end: float
) -> dict[str, Any]:
    accepted = 202 if front == "http" else "ok"
    good = [r for r in records if r["status"] == accepted and r["task_id"]]
    return {
        "calls": len(records),
        "accepted": len(good),
        "accept_seconds": round(end - start, 2),
        "latency_ms": common.summary([(r["end"] - r["start"]) * 1000 for r in records]),
        "answer_states": collections.Counter(str(r["state"]) for r in good),
        "errors": collections.Counter(
            str(r["error"] or r["status"]) for r in records if r not in good
        ),
    }


def _runs_created(sim: Simulator, task_ids: list[str], drain: bool, window: float) -> dict:
    """Runs per burst task on the simulator's record: now, or (`drain`) once all have one."""

    def counts() -> collections.Counter[str]:
        made = collections.Counter(common.task_id_of(run) for run in sim.runs())
        return collections.Counter({task_id: made[task_id] for task_id in task_ids})

    if drain:
        print(f"waiting for {len(task_ids)} runs at 10 per {window:g} s", flush=True)
        common.wait_for(
            lambda: all(counts().values()), len(task_ids) / 9 * window + 120, "every run", 0.5
        )
        time.sleep(SETTLE)  # a second run for any task would appear by now
    per_task = counts()
    return {
        "tasks": len(task_ids),
        "drained": drain,
        "once": sum(1 for n in per_task.values() if n == 1),
        "twice_or_more": sum(1 for n in per_task.values() if n > 1),
        "none_yet": sum(1 for n in per_task.values() if n == 0),
    }


def _completed_task(services: Services) -> str:
    """The task the reader reads: one whose run finished (what a watcher reads last)."""
    store = services.store
    task_id = store.create({"command": "new", "repo": "acme/demo", "query": "Add a README"})
    store.attach_run(task_id, 990001)  # far from the simulator's ids (41000 up)
    store.transition(task_id, State.RUNNING, agent_run_id=990001)
    store.transition(
        task_id,
        State.COMPLETED,
        result="## Done\n\n" + "- Read the relevant code\n" * 30,
        api_status="COMPLETE",
        web_url="https://codegen.com/agent/trace/990001",
    )
    return task_id


if __name__ == "__main__":
    main()
