"""Months of use in minutes: Redis memory under retention, and the cost of each cleanup.

Tasks are written by the real code path (store_footprint.track, then finish: the task
completes with a result and its finished-hook runs) at a steady rate, `--per-day` per
simulated day, and retention (`retention.remove_expired`, the function the beat task calls)
runs once per simulated day. A simulated day lasts `--day-seconds` real seconds, and tasks
are kept `--keep-days` simulated days: retention is given that as seconds, through the
function's argument. That is an internal knob of the bench, not a setting: the product takes
CODEGEN_MCP_RETENTION_DAYS in days, and the memory a day of tasks costs does not depend on
how long a day lasts; only the number of tasks kept does. The Celery messages no worker
consumes here are dropped each day.

    uv run python -m bench.store_footprint --part months [--days 90] [--per-day 150]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import common
from codegen_mcp import retention
from codegen_mcp.services import Services


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=90, help="simulated days")
    parser.add_argument("--per-day", type=int, default=150, help="tasks settled per day")
    parser.add_argument("--keep-days", type=int, default=30, help="retention, in days")
    parser.add_argument("--day-seconds", type=float, default=2.0, help="real seconds per day")


def months(
    services: Services, args: argparse.Namespace, track: Any, finish: Any, result: str
) -> dict[str, Any]:
    """Run the simulation with store_footprint's `track` and `finish` (each task completes
    with `result`); one sample per simulated day."""
    redis = services.redis
    redis.flushall()
    baseline = int(redis.info("memory")["used_memory"])
    keep = args.keep_days * args.day_seconds
    samples: list[dict[str, Any]] = []
    run_id = 900_000
    for day in range(1, args.days + 1):
        day_ends = time.monotonic() + args.day_seconds
        ids = list(range(run_id, run_id + args.per_day))
        run_id += args.per_day
        with ThreadPoolExecutor(4) as pool:
            tasks = list(pool.map(lambda r: (track(services, r), r), ids))
            list(pool.map(lambda t: finish(services, t[0], t[1], result), tasks))
        redis.delete(services.settings.key_prefix)  # the Celery messages no worker consumed
        lua_before = _lua_usec(redis)
        sweep = retention.remove_expired(services.store, keep, passes=1000)
        lua_ms = (_lua_usec(redis) - lua_before) / 1000
        memory = redis.info("memory")
        samples.append(
            {
                "day": day,
                "tasks_kept": int(redis.zcard(services.store.keys.tasks())),
                "used_memory": int(memory["used_memory"]) - baseline,
                "keys": int(redis.dbsize()),
                "removed": sweep.removed,
                "batches": sweep.batches,
                "cleanup_ms": round(sweep.seconds * 1000, 2),
                "ms_per_batch": round(sweep.seconds * 1000 / sweep.batches, 2)
                if sweep.batches
                else None,
                "redis_ms_per_batch": round(lua_ms / sweep.batches, 2) if sweep.batches else None,
                "late_seconds": round(max(time.monotonic() - day_ends, 0.0), 2),
            }
        )
        time.sleep(max(day_ends - time.monotonic(), 0.0))
    return {"settings": vars_of(args), "samples": samples, "table": table(samples, args)}


def _lua_usec(redis: Any) -> int:
    """Microseconds Redis spent in EVALSHA so far (only retention's script runs meanwhile)."""
    stats = redis.info("commandstats")
    return sum(int(v["usec"]) for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))


def vars_of(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in ("days", "per_day", "keep_days", "day_seconds")}


def table(samples: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """Every tenth day: memory, tasks kept, what that day's cleanup cost; then the cleanup
    over every day past the retention."""
    picked = [s for s in samples if s["day"] % 10 == 0]
    rows = [
        [s["day"], s["tasks_kept"], f"{s['used_memory'] / 1048576:.1f}", s["keys"], s["removed"],
         s["cleanup_ms"], common.fmt(s["ms_per_batch"]), common.fmt(s["redis_ms_per_batch"])]
        for s in picked
    ]  # fmt: skip
    steady = [s for s in samples if s["day"] > args.keep_days and s["batches"]]
    if steady:
        batch = [s["ms_per_batch"] for s in steady]
        lua = [s["redis_ms_per_batch"] for s in steady]
        rows.append(
            [f"{args.keep_days + 1}-{args.days}", "-", "-", "-",
             f"{sum(s['removed'] for s in steady)} in {len(steady)} runs", "-",
             f"mean {common.fmt(sum(batch) / len(batch))}, max {common.fmt(max(batch))}",
             f"mean {common.fmt(sum(lua) / len(lua))}, max {common.fmt(max(lua))}"]
        )  # fmt: skip
    return common.table(
        (
            "day",
            "tasks kept",
            "used_memory (MiB)",
            "keys",
            "removed that day",
            "cleanup ms",
            "ms per batch (client)",
            "ms per batch (in Redis)",
        ),
        rows,
    )
