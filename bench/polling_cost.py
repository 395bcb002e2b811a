"""API cost and detection latency: our list sweep against one GET per run every 5 s.

For each N, N runs are started and held ACTIVE, then finish at random moments (the simulator
completes them on a schedule). Both designs run against the same simulator, with the Codegen
API's real read limit (60 per 30 s); only the create limit is raised, for the set-up.

- ours: `new` through the service layer, 2 Celery workers + beat (the Procfile's shape), the
  sweep every --interval seconds under our default read budget (55/30 s). Detection is the
  moment the task store's completed index holds the task (polled every 0.1 s): the moment
  task_status starts answering "completed".
- baseline: the seed's design, a per-run poller (one GET per run every 5 s, a 429 is just a
  failed poll) in its own process, on runs created directly.

    uv run python -m bench.polling_cost [--sizes 10,100,1000] [--interval 2]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
import multiprocessing
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench import common
from codegen_mcp import commands
from codegen_mcp.redis_conn import connect
from codegen_mcp.services import Services
from codegen_mcp.simulator import SimConfig, Simulator
from codegen_mcp.store_keys import Keys

NAME = "polling_cost"
BASELINE_EVERY = 5.0
FINAL = frozenset({"COMPLETE", "ERROR", "FAILED", "PAUSED", "CANCELLED", "TIMEOUT"})
OBSERVE_EVERY = 0.1


@dataclass
class Phase:
    """What one design did at one N."""

    design: str
    n: int
    completed_at: dict[int, float] = field(default_factory=dict)  # run id -> sim completion
    detected_at: dict[int, float] = field(default_factory=dict)  # run id -> seen completed
    window: tuple[float, float] = (0.0, 0.0)
    log: list[dict[str, Any]] = field(default_factory=list)
    sweeps: list[dict[str, Any]] = field(default_factory=list)
    setup_seconds: float = 0.0

    def latencies(self) -> list[float]:
        """Per run; a run never seen finished within the bound counts as infinitely late."""
        return [
            self.detected_at[run] - done if run in self.detected_at else math.inf
            for run, done in self.completed_at.items()
        ]

    def figures(self) -> dict[str, Any]:
        start, end = self.window
        reads = common.requests_between(self.log, start, end, common.READ_ENDPOINTS)
        latencies = self.latencies()
        detected = [x for x in latencies if x != math.inf]
        lists = [s["list_calls"] for s in self.sweeps]
        return {
            "design": self.design,
            "n": self.n,
            "setup_seconds": round(self.setup_seconds, 1),
            "window_seconds": round(end - start, 1),
            "reads": len(reads),
            "reads_per_minute": round(len(reads) / ((end - start) / 60), 1),
            "served_429": common.served_429(self.log),
            "detection": {
                **common.summary(detected),
                "p50_all": _finite(common.percentile(latencies, 50)),
                "p95_all": _finite(common.percentile(latencies, 95)),
                "undetected": len(latencies) - len(detected),
            },
            "sweeps": len(self.sweeps),
            "list_calls_per_sweep_max": max(lists, default=None),
            "list_calls_per_sweep_mean": common.rounded(sum(lists) / len(lists) if lists else None),
            "sweeps_stopped_early": sum(1 for s in self.sweeps if s.get("error")),
            "sweep_seconds_max": common.rounded(
                max((s["duration"] for s in self.sweeps), default=None)
            ),
            "longest_read_gap": round(_longest_gap(reads), 1),
        }


def _longest_gap(reads: list[dict[str, Any]]) -> float:
    """The longest stretch with no read at all: the budget stalling the sweep."""
    times = sorted(entry["at"] for entry in reads)
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def _finite(value: float | None) -> float | None:
    return None if value is None or value == math.inf else round(value, 2)


# -- the baseline: the seed's per-run poller -------------------------------------------------
def per_run_poller(base_url: str, run_ids: list[int], stop_at: float) -> dict[int, float]:
    """The seed's design: each run GETs its status every 5 s until it finishes (16 threads)."""
    found: dict[int, float] = {}
    auth = {"Authorization": f"Bearer {common.SIM_TOKEN}"}

    def watch(shard: list[int]) -> None:
        session = requests.Session()
        due = [(time.time() + i * BASELINE_EVERY / len(shard), run) for i, run in enumerate(shard)]
        while due and time.time() < stop_at:
            at, run = heapq.heappop(due)
            time.sleep(max(at - time.time(), 0))
            url = f"{base_url}/v1/organizations/{common.SIM_ORG}/agent/run/{run}"
            reply = session.get(url, headers=auth, timeout=30)
            if reply.status_code == 200 and reply.json().get("status") in FINAL:
                found[run] = time.time()
            else:
                heapq.heappush(due, (time.time() + BASELINE_EVERY, run))

    shards = [run_ids[i::16] for i in range(min(16, len(run_ids)))]
    threads = [threading.Thread(target=watch, args=(shard,)) for shard in shards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found


def baseline_phase(sim: Simulator, n: int, offsets: list[float], args: argparse.Namespace) -> Phase:
    sim.reset()
    phase = Phase("per-run GET every 5 s", n)
    began = time.time()
    session = requests.Session()
    create = f"{sim.url}/v1/organizations/{common.SIM_ORG}/agent/run"
    run_ids = [
        session.post(
            create,
            json={"prompt": f"bench run {i} [sim:stuck]", "repo_id": 102},
            headers={"Authorization": f"Bearer {common.SIM_TOKEN}"},
            timeout=30,
        ).json()["id"]
        for i in range(n)
    ]
    phase.setup_seconds = time.time() - began
    start = time.time()
    stop_at = start + args.hold + args.spread + args.tail
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        future = pool.submit(per_run_poller, sim.url, run_ids, stop_at)
        finisher = _finish_on_schedule(sim, run_ids, start + args.hold, offsets)
        phase.detected_at = future.result(timeout=stop_at - time.time() + 60)
        finisher.join()
    _close(phase, sim, run_ids, start)
    return phase


# -- ours: the sweep, through real workers ---------------------------------------------------
def ours_phase(
    sim: Simulator,
    redis_url: str,
    data_dir: Path,
    n: int,
    offsets: list[float],
    args: argparse.Namespace,
    bound: common.Bound,
) -> Phase:
    sim.reset()
    phase = Phase("codegen-mcp sweep", n)
    settings = common.bench_settings(
        redis_url,
        sim.url,
        data_dir,
        poll_interval=args.interval,
        new_wait=0.0,
        create_limit=common.limit("100000/60"),  # set-up only; reads keep the default 55/30
    )
    services = Services(settings, redis_url)
    processes = [common.celery_worker(settings, data_dir, f"w{i}-{n}", bound=bound) for i in (1, 2)]
    processes.append(common.celery_beat(settings, data_dir, bound=bound))
    with common.running(*processes):
        began = time.time()
        task_ids = [
            commands.execute(
                services, "new", {"repo": "acme/demo", "query": f"bench run {i} [sim:stuck]"}
            )["task_id"]
            for i in range(n)
        ]
        common.wait_for(
            lambda: services.store.counts()["running"] == n,
            30 + n * 0.1,
            f"{n} runs to start",
            pause=0.2,
        )
        phase.setup_seconds = time.time() - began
        rows = services.store.fields(task_ids, "agent_run_id")
        run_of = {
            task: int(row["agent_run_id"] or 0) for task, row in zip(task_ids, rows, strict=True)
        }
        run_ids = list(run_of.values())
        start = time.time()
        with _watching(redis_url, settings.key_prefix) as seen:
            finisher = _finish_on_schedule(sim, run_ids, start + args.hold, offsets)
            deadline = start + args.hold + args.spread + args.tail
            while time.time() < deadline and len(seen.completed) < n:
                time.sleep(0.2)
            finisher.join()
        phase.detected_at = {run_of[t]: at for t, at in seen.completed.items() if t in run_of}
        phase.sweeps = [s for s in seen.sweeps if not s.get("skipped") and s["at"] >= start]
    _close(phase, sim, run_ids, start)
    return phase


@dataclass
class _Seen:
    completed: dict[str, float] = field(default_factory=dict)
    sweeps: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def _watching(redis_url: str, prefix: str) -> Iterator[_Seen]:
    """Every 0.1 s: which tasks the store shows completed, and the sweep's own last report."""
    redis = connect(redis_url)
    seen = _Seen()
    stop = threading.Event()

    def watch() -> None:
        import json

        reports: dict[float, dict[str, Any]] = {}
        while not stop.is_set():
            now = time.time()
            for task_id in redis.zrange(Keys(prefix).state("completed"), 0, -1):
                seen.completed.setdefault(task_id, now)
            report = redis.get(Keys(prefix).sweep("report"))
            if report:
                parsed = json.loads(report)
                reports[parsed["at"]] = parsed
            stop.wait(OBSERVE_EVERY)
        seen.sweeps = sorted(reports.values(), key=lambda r: r["at"])

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


# -- shared by both designs ------------------------------------------------------------------
def _finish_on_schedule(
    sim: Simulator, run_ids: list[int], first: float, offsets: list[float]
) -> threading.Thread:
    """Complete run i at `first + offsets[i]` (the simulator stamps the real moment)."""
    schedule = sorted(zip((first + o for o in offsets), run_ids, strict=True))

    def finish() -> None:
        for at, run_id in schedule:
            time.sleep(max(at - time.time(), 0))
            sim.transition(run_id, "COMPLETE")

    thread = threading.Thread(target=finish, daemon=True)
    thread.start()
    return thread


def _close(phase: Phase, sim: Simulator, run_ids: list[int], start: float) -> None:
    wanted = set(run_ids)
    runs = [run for run in sim.runs() if run["id"] in wanted]
    phase.completed_at = {run["id"]: run["completed_at"] for run in runs}
    phase.window = (start, max(phase.completed_at.values()))
    phase.log = sim.requests_log()


# -- the run ---------------------------------------------------------------------------------
def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m bench.{NAME}", description=__doc__)
    parser.add_argument("--sizes", default="10,100,1000", help="tracked runs per phase")
    parser.add_argument("--interval", type=float, default=2.0, help="our sweep interval (s)")
    parser.add_argument("--hold", type=float, default=5.0, help="all N active this long first")
    parser.add_argument("--spread", type=float, default=20.0, help="completions spread over")
    parser.add_argument("--tail", type=float, default=20.0, help="detection wait after it")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--keep", action="store_true", help="keep the logs and data")
    args = parser.parse_args(argv)
    args.sizes = [int(size) for size in args.sizes.split(",")]
    return args


def bound_seconds(args: argparse.Namespace) -> float:
    per_phase = args.hold + args.spread + args.tail + 15
    return sum(2 * per_phase + 40 + n * 0.15 for n in args.sizes) + 30


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    rows, figures = [], []
    with (
        common.Bound(NAME, bound_seconds(args)) as bound,
        common.workdir(NAME, keep=args.keep) as data_dir,
        common.redis_server(data_dir / "redis", bound) as redis,
    ):
        config = SimConfig(read_limit=common.REAL_READ_LIMIT, create_limit=(100_000, 60.0))
        with Simulator(config) as sim:
            for n in args.sizes:
                rng = random.Random(args.seed + n)
                offsets = [rng.uniform(0, args.spread) for _ in range(n)]
                ours = ours_phase(sim, redis.url, data_dir, n, offsets, args, bound).figures()
                print(f"  N={n} ours: {_brief(ours)}", flush=True)
                base = baseline_phase(sim, n, offsets, args).figures()
                print(f"  N={n} baseline: {_brief(base)}", flush=True)
                figures.append({"n": n, "ours": ours, "baseline": base})
                rows += _rows(n, ours, base, args)
        wall = bound.elapsed()
    text = common.table(HEADERS, rows)
    print(f"\n{text}\n")
    print(_targets(figures, args))
    print(f"machine: {common.machine_line()}; wall time {wall:.0f} s")
    path = common.write_results(
        NAME,
        {
            "settings": {
                "interval": args.interval,
                "read_budget": "55/30",
                "api_read_limit": "60/30",
                "hold": args.hold,
                "spread": args.spread,
                "tail": args.tail,
            },
            "phases": figures,
            "table": text,
        },
        bound.started,
    )
    print(f"wrote {path.relative_to(common.ROOT)}")


HEADERS = (
    "N",
    "design",
    "reads/min",
    "429s",
    "detect p50 s",
    "p95 s",
    "max s",
    "undetected",
    "lists/sweep max (target)",
    "ratio base/ours",
)


def _rows(n: int, ours: dict[str, Any], base: dict[str, Any], args: argparse.Namespace) -> list:
    ratio = base["reads_per_minute"] / ours["reads_per_minute"] if ours["reads_per_minute"] else 0
    target = math.ceil(n / 100) + 2
    rows = []
    for fig, extra in ((ours, f"{ours['list_calls_per_sweep_max']} (≤{target})"), (base, "-")):
        detection = fig["detection"]
        rows.append(
            [
                n,
                fig["design"],
                round(fig["reads_per_minute"]),
                fig["served_429"],
                _late(detection["p50_all"], detection["undetected"]),
                _late(detection["p95_all"], detection["undetected"]),
                detection["max"],
                f"{detection['undetected']}/{n}",
                extra,
                f"{ratio:.1f}x" if fig is ours else "",
            ]
        )
    return rows


def _late(value: float | None, undetected: int) -> str:
    """A percentile that falls among the runs never seen finished is "never"."""
    return "never" if value is None and undetected else common.fmt(value)


def _brief(fig: dict[str, Any]) -> str:
    d = fig["detection"]
    return (
        f"setup {fig['setup_seconds']} s, {fig['reads_per_minute']} reads/min, "
        f"{fig['served_429']} 429s, p95 {d['p95_all']} s, undetected {d['undetected']}, "
        f"longest sweep {fig['sweep_seconds_max']} s, longest read gap {fig['longest_read_gap']} s"
    )


def _targets(figures: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = ["targets:"]
    for phase in figures:
        n, ours = phase["n"], phase["ours"]
        most = ours["list_calls_per_sweep_max"] or 0
        lines.append(
            f"  N={n}: list calls per sweep {most} ≤ {math.ceil(n / 100) + 2}: "
            f"{common.verdict(most <= math.ceil(n / 100) + 2)}; "
            f"429s {ours['served_429']} = 0: {common.verdict(ours['served_429'] == 0)}"
        )
        if n == 1000:
            p95 = ours["detection"]["p95_all"]
            ok = p95 is not None and p95 <= 10 and args.interval == 2.0
            lines.append(
                f"  N=1000: p95 detection {p95} s ≤ 10 s at a 2 s interval: {common.verdict(ok)}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
