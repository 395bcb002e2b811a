"""Redis bytes per tracked task, and the sweep's CPU per cycle at 10,000 tracked runs.

Memory: 10,000 tasks written by the real code path (the `new` fields, the launch's notes,
`attach_run`, `observe.start`, then for finished tasks `observe.apply` of a COMPLETE run and
the finished-hook), measured as the growth of Redis `used_memory` (the task hashes and every
index; the Celery messages a worker would have consumed are removed first). Three cases:
running, completed without result text, completed with a --result-chars result.

Sweep: 10,000 running tasks tracking 10,000 simulator runs. A separate process runs the real
`sweep()` (so its CPU is counted alone, without the simulator's) with the read budget raised,
so a cycle is never waiting for budget: CPU seconds per cycle (user + system). Then the same
10,000 under our default read budget (55/30 s, the real API's pace) for --probe seconds:
100 runs finish at its start and 100 more a third of the way in; how many of each are
detected, and how many sweeps finish.

    uv run python -m bench.store_footprint [--tasks 10000] [--probe 120]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import common, footprint_months
from codegen_mcp.api.models import Run
from codegen_mcp.local.redis import redis_binary
from codegen_mcp.services import Services
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import SimConfig, Simulator
from workers import hooks, observe, sweep

NAME = "store_footprint"
QUERY = (
    "Refactor the payment retry logic in billing/retry.py so that transient gateway errors "
    "are retried with exponential backoff and jitter, permanent declines are not retried, "
    "and every attempt is logged with the invoice id. Add unit tests for both paths and "
    "update the README section on billing."
)
RESULT_LINE = "- Implemented the change, ran the test suite and pushed to the pull request\n"
SAMPLE_FINISHED = 100  # runs finished at the start of the probe, and again a third in


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m bench.{NAME}", description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--result-chars", type=int, default=2000)
    parser.add_argument("--cycles", type=int, default=3, help="sweep cycles to time")
    parser.add_argument("--probe", type=float, default=120.0, help="seconds at the real budget")
    parser.add_argument(
        "--redis-server",
        default=redis_binary(),
        help="the redis-server binary to measure (default: the embedded one `up` uses)",
    )
    parser.add_argument(
        "--part",
        choices=["all", "tasks", "months"],
        default="all",
        help="tasks: bytes per task and the sweep; months: memory under retention",
    )
    footprint_months.add_arguments(parser)
    parser.add_argument("--sweep-child", choices=["cycles", "probe"], help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the logs and data")
    return parser.parse_args(argv)


# -- writing tasks through the real code path ------------------------------------------------
def _run(run_id: int, status: str, result: str | None = None) -> Run:
    body: dict[str, Any] = {
        "id": run_id,
        "organization_id": common.SIM_ORG,
        "status": status,
        "created_at": "2026-11-25 12:00:00.000000",
        "web_url": f"https://codegen.com/agent/trace/{run_id}",
        "result": result,
        "summary": None,
        "source_type": "API",
        "github_pull_requests": [],
    }
    if status == "COMPLETE":
        body["summary"] = "Completed: refactor the payment retry logic" if result else None
        body["github_pull_requests"] = [
            {
                "id": 2400000000 + run_id,
                "url": f"https://github.com/acme/demo/pull/{run_id}",
                "title": "Refactor the payment retry logic",
                "head_branch_name": f"codegen-bot/payment-retry-{run_id}",
                "created_at": "2026-11-25 12:03:00.000000",
            }
        ]
    return Run.from_api(body)


def track(services: Services, run_id: int) -> str:
    """One task as `new` and its launch leave it: running, watched, owning `run_id`."""
    store = services.store
    task_id = store.create(
        {
            "command": "new",
            "repo": "acme/demo",
            "query": QUERY,
            "branch": "main",
            "pr": 9,
            "task_type": "IMPLEMENT",
        }
    )
    store.update(task_id, attempts=1)
    store.update(task_id, create_attempted=True, repo_id=102)
    store.attach_run(task_id, run_id)
    task = store.get(task_id)
    assert task is not None
    observe.start(services, task, _run(run_id, "ACTIVE"))
    return task_id


def finish(services: Services, task_id: str, run_id: int, result: str | None) -> None:
    observe.apply(services, task_id, _run(run_id, "COMPLETE", result))
    task = services.store.get(task_id)
    assert task is not None and task["state"] == "completed"
    hooks.on_task_finished(services, task_id, int(task["outcome_seq"]))


LISTPACK_VALUE = 1024  # the proposed hash-max-listpack-value (Redis's default is 64)
# The 6.2 name, which Redis 7 still accepts for hash-max-listpack-value.


def footprint(
    services: Services, n: int, result: str | None, listpack: int = 64
) -> list[dict[str, Any]]:
    """Bytes per task with n tasks running, then with the same n completed."""
    redis = services.redis
    redis.flushall()
    redis.config_set("hash-max-ziplist-value", listpack)
    before = int(redis.info("memory")["used_memory"])
    with ThreadPoolExecutor(4) as pool:
        task_ids = list(pool.map(lambda i: track(services, 41000 + i), range(n)))
    running = _measure(services, "running", task_ids[0], before, n, listpack)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: finish(services, task_ids[i], 41000 + i, result), range(n)))
    case = "with_result" if result else "without_result"
    completed = _measure(services, case, task_ids[0], before, n, listpack)
    redis.config_set("hash-max-ziplist-value", 64)
    return [running, completed]


def _measure(
    services: Services, case: str, task_id: str, before: int, n: int, listpack: int
) -> dict[str, Any]:
    redis = services.redis
    redis.delete(services.settings.key_prefix)  # the Celery messages no worker consumed here
    after = int(redis.info("memory")["used_memory"])
    key = services.store.keys.task(task_id)
    return {
        "case": case,
        "listpack_value": listpack,
        "tasks": n,
        "bytes_per_task": round((after - before) / n),
        "hash_bytes": int(redis.memory_usage(key, samples=0) or 0),
        "hash_encoding": redis.object("encoding", key),
        "hash_fields": int(redis.hlen(key)),
        "longest_value": max(len(v) for v in redis.hgetall(key).values()),
    }


# -- the sweep, in a process of its own ------------------------------------------------------
def sweep_child(mode: str, cycles: int, seconds: float) -> None:
    settings = Settings.from_env()
    services = Services(settings, settings.redis_url or "")
    reports = []
    if mode == "cycles":
        for _ in range(cycles):
            services.redis.delete(services.store.keys.sweep("last"))
            cpu, wall = time.process_time(), time.monotonic()
            report = sweep.sweep(services)
            reports.append(
                {
                    **asdict(report),
                    "cpu": time.process_time() - cpu,
                    "wall": time.monotonic() - wall,
                }
            )
    else:
        stop_at = time.monotonic() + seconds
        while time.monotonic() < stop_at:
            report = sweep.sweep(services)
            if report.skipped is None:
                reports.append(asdict(report))
            time.sleep(0.2)
    print(json.dumps(reports))


def run_child(
    settings: Settings,
    mode: str,
    args: argparse.Namespace,
    midway: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """The sweep child's reports; `midway` runs in this process a third of the way through."""
    command = [sys.executable, "-m", f"bench.{NAME}", "--sweep-child", mode]
    command += ["--cycles", str(args.cycles), "--probe", str(args.probe)]
    child = subprocess.Popen(
        command,
        cwd=common.ROOT,
        env=common.settings_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if midway is not None:
        time.sleep(args.probe / 3)
        midway()
    out, err = child.communicate(timeout=args.probe + 600)
    if child.returncode != 0:
        raise RuntimeError(f"sweep child failed:\n{err[-3000:]}")
    return list(json.loads(out.strip().splitlines()[-1]))


def sweep_cost(
    sim: Simulator, redis_url: str, work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    n = args.tasks
    fast = common.bench_settings(
        redis_url, sim.url, work, read_limit=common.limit("100000/30"), poll_interval=2.0
    )
    services = Services(fast, redis_url)
    services.redis.flushall()
    run_ids = []
    for index in range(n):
        run = sim.state.create_run(
            common.SIM_USER, f"tracked {index} [sim:stuck]", 102, {"prompt": "tracked"}
        )
        run_ids.append(int(run["id"]))
    with ThreadPoolExecutor(4) as pool:
        tasks = dict(zip(run_ids, pool.map(lambda r: track(services, r), run_ids), strict=True))
    redis = services.redis
    cpu_before = redis.info("cpu")
    cycles = run_child(fast, "cycles", args)
    cpu_after = redis.info("cpu")
    redis_cpu = sum(
        float(cpu_after[k]) - float(cpu_before[k]) for k in ("used_cpu_user", "used_cpu_sys")
    )
    timed = cycles[1:] or cycles  # the first cycle also warms caches (user id, connections)
    cost = {
        "tracked_runs": n,
        "cycles": [
            {key: _round(c[key]) for key in ("cpu", "wall", "list_calls", "get_calls", "error")}
            for c in cycles
        ],
        "cpu_per_cycle": round(sum(c["cpu"] for c in timed) / len(timed), 3),
        "wall_per_cycle": round(sum(c["wall"] for c in timed) / len(timed), 2),
        "redis_cpu_per_cycle": round(redis_cpu / len(cycles), 3),
    }
    cost["probe"] = _probe(sim, services, tasks, args)
    return cost


def _probe(
    sim: Simulator, services: Services, tasks: dict[int, str], args: argparse.Namespace
) -> dict[str, Any]:
    """The same runs at our default read budget: 100 finish at the start, 100 a third in."""
    real = services.settings.with_(read_limit=Settings().read_limit)
    early, late = _halves(random.Random(6).sample(sorted(tasks), 2 * SAMPLE_FINISHED))
    for run_id in early:
        sim.transition(run_id, "COMPLETE")
    start = time.time()

    def finish_late() -> None:
        for run_id in late:
            sim.transition(run_id, "COMPLETE")

    reports = run_child(real, "probe", args, midway=finish_late)
    store = services.store
    failed = [r for r in reports if r.get("error")]
    return {
        "seconds": args.probe,
        "read_budget": str(real.read_limit),
        "sweeps": len(reports),
        "sweeps_stopped_early": len(failed),
        "list_calls": sum(r["list_calls"] for r in reports),
        "list_calls_discarded": sum(r["list_calls"] for r in failed),
        "still_watched": len(store.watched()),
        "watched_checked": sum(1 for _, score in store.watched() if score >= start),
        "detected_early": _completed(store, [tasks[r] for r in early]),
        "detected_late": _completed(store, [tasks[r] for r in late]),
        "finished_each": SAMPLE_FINISHED,
        "reports": [
            {k: _round(r[k]) for k in ("duration", "list_calls", "get_calls", "changed", "error")}
            for r in reports
        ],
    }


def _halves(items: list[int]) -> tuple[list[int], list[int]]:
    return items[: len(items) // 2], items[len(items) // 2 :]


def _completed(store: Any, task_ids: list[str]) -> int:
    return sum(1 for row in store.fields(task_ids, "state") if row["state"] == "completed")


def _round(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


# -- the run ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.sweep_child:
        sweep_child(args.sweep_child, args.cycles, args.probe)
        return
    if args.part in ("all", "months"):
        run_months(args)
    if args.part == "months":
        return
    with (
        common.Bound(NAME, 300 + args.probe + args.tasks * 0.02) as bound,
        common.workdir(NAME, keep=args.keep) as work,
        common.redis_server(work / "redis", bound, args.redis_server) as redis,
    ):
        settings = common.bench_settings(redis.url, "http://127.0.0.1:9", work)
        services = Services(settings, redis.url)
        info = services.redis.info("server")
        server = f"Redis {info['redis_version']}, {args.redis_server}"
        memory = []
        result = (RESULT_LINE * (args.result_chars // len(RESULT_LINE) + 1))[: args.result_chars]
        memory += footprint(services, args.tasks, None)
        memory += footprint(services, args.tasks, result)[1:]
        memory += footprint(services, args.tasks, None, LISTPACK_VALUE)  # the proposed setting
        for m in memory:
            print(
                f"  {m['case']} ({m['listpack_value']}): {m['bytes_per_task']} B/task", flush=True
            )
        config = SimConfig(read_limit=(100_000, 30.0), create_limit=(100_000, 60.0))
        with Simulator(config) as sim:
            cost = sweep_cost(sim, redis.url, work, args)
        wall = bound.elapsed()
    _report(memory, cost, args, wall, bound.started, server)


def run_months(args: argparse.Namespace) -> None:
    """Memory over simulated months under retention (bench/footprint_months.py)."""
    name = f"{NAME}_months"
    with (
        common.Bound(name, 120 + args.days * args.day_seconds * 3) as bound,
        common.workdir(name, keep=args.keep) as work,
        common.redis_server(work / "redis", bound, args.redis_server) as redis,
    ):
        services = Services(common.bench_settings(redis.url, "http://127.0.0.1:9", work), redis.url)
        result = (RESULT_LINE * (args.result_chars // len(RESULT_LINE) + 1))[: args.result_chars]
        figures = footprint_months.months(services, args, track, finish, result)
        server = f"Redis {services.redis.info('server')['redis_version']}, {args.redis_server}"
        wall = bound.elapsed()
    print(f"\nmemory under retention on {server}:\n{figures['table']}\n")
    print(f"machine: {common.machine_line()}; wall time {wall:.0f} s")
    path = common.write_results(
        name,
        {"redis_server": server, **figures, "tables": {"months": figures.pop("table")}},
        bound.started,
    )
    print(f"wrote {path.relative_to(common.ROOT)}")


def _report(
    memory: list[dict[str, Any]],
    cost: dict[str, Any],
    args: argparse.Namespace,
    wall: float,
    started: float,
    server: str,
) -> None:
    labels = {
        "running": "running (watched, no result yet)",
        "without_result": "completed, result text excluded",
        "with_result": f"completed, {args.result_chars}-char result included",
    }
    memory_table = common.table(
        ("tasks", "case", "hash-max-*-value", "bytes/task", "task hash", "encoding",
         "target"),
        [
            [
                m["tasks"],
                labels[m["case"]],
                m["listpack_value"] if m["listpack_value"] == 64 else
                f"{m['listpack_value']} (proposed)",
                m["bytes_per_task"],
                m["hash_bytes"],
                m["hash_encoding"],
                "≤ 2,048" if m["case"] != "with_result" else "-",
            ]
            for m in memory
        ],
    )  # fmt: skip
    probe = cost["probe"]
    sweep_table = common.table(
        ("tracked runs", "read budget", "what", "figure", "target"),
        [
            [cost["tracked_runs"], "raised", "CPU s per sweep cycle (sweep process)",
             cost["cpu_per_cycle"], "≤ 1 s"],
            [cost["tracked_runs"], "raised", "wall s per cycle (simulator included)",
             cost["wall_per_cycle"], "-"],
            [cost["tracked_runs"], "raised", "Redis CPU s per cycle", cost["redis_cpu_per_cycle"],
             "-"],
            [cost["tracked_runs"], probe["read_budget"],
             f"sweeps done / stopped early in {probe['seconds']:g} s",
             f"{probe['sweeps'] - probe['sweeps_stopped_early']} / {probe['sweeps_stopped_early']}",
             "-"],
            [cost["tracked_runs"], probe["read_budget"],
             "list calls made / thrown away by sweeps that stopped early",
             f"{probe['list_calls']} / {probe['list_calls_discarded']}", "-"],
            [cost["tracked_runs"], probe["read_budget"], "runs finished at the start, detected",
             f"{probe['detected_early']} of {probe['finished_each']}", "-"],
            [cost["tracked_runs"], probe["read_budget"],
             f"runs finished at {probe['seconds'] / 3:.0f} s, detected by {probe['seconds']:g} s",
             f"{probe['detected_late']} of {probe['finished_each']}", "-"],
        ],
    )  # fmt: skip
    print(f"\nmemory on {server}:\n{memory_table}\n\n{sweep_table}\n")
    as_is = [m for m in memory if m["listpack_value"] == 64]
    without = next(m for m in as_is if m["case"] == "without_result")["bytes_per_task"]
    running = next(m for m in as_is if m["case"] == "running")["bytes_per_task"]
    print("targets:")
    worst = max(without, running)
    print(f"  bytes per task without result text {worst} ≤ 2,048: {common.verdict(worst <= 2048)}")
    cpu = cost["cpu_per_cycle"]
    runs = cost["tracked_runs"]
    print(f"  CPU per sweep cycle at {runs:,}: {cpu} s ≤ 1 s: {common.verdict(cpu <= 1)}")
    errors = [r["error"] for r in probe["reports"] if r["error"]]
    if errors:
        print(f"  at the real budget, {len(errors)} sweeps stopped early, e.g.: {errors[0]}")
    print(f"machine: {common.machine_line()}; wall time {wall:.0f} s")
    path = common.write_results(
        NAME,
        {
            "redis_server": server,
            "memory": memory,
            "sweep": cost,
            "tables": {"memory": memory_table, "sweep": sweep_table},
        },
        started,
    )
    print(f"wrote {path.relative_to(common.ROOT)}")


if __name__ == "__main__":
    main()
