"""Webhooks + sweep against the sweep alone, side by side in one run (issue #15).

For each N, N runs are started and held ACTIVE, then finish at random moments; the Codegen
API's real read limit (60 per 30 s) holds, only creates are raised for the set-up. Both
designs use 2 Celery workers + beat, the sweep every --interval seconds, our default read
budget (55/30 s):

- sweep alone: CODEGEN_MCP_PUBLIC_URL unset (today's design);
- webhooks + sweep: PUBLIC_URL points at the web front on loopback; the simulator POSTs a
  signed webhook when a run settles and loses --lose of them (10% by default); the sweep
  looks at covered runs every 10 intervals and goes back to every interval after a loss.

Detection: the moment the task store's completed index holds the task (polled every 0.1 s).
The bound for a run whose webhook was lost is the covered runs' sweep period
(10 intervals) plus one interval.

    uv run python -m bench.webhooks [--sizes 100,1000] [--interval 5] [--lose 0.1]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.polling_cost import Phase, _close, _finish_on_schedule, _watching
from codegen_mcp import commands
from codegen_mcp.metrics_recorder import Recorder
from codegen_mcp.services import Services
from codegen_mcp.serving import ThreadedServer
from codegen_mcp.simulator import SimConfig, Simulator
from codegen_mcp.web import create_app
from workers.sweep_cover import SLOW_INTERVALS

NAME = "webhooks"
DESIGNS = ("sweep alone", "webhooks + sweep")


def phase(
    sim: Simulator,
    redis_url: str,
    data_dir: Path,
    n: int,
    design: str,
    args: argparse.Namespace,
    bound: common.Bound,
) -> tuple[Phase, dict[str, int], set[int]]:
    """One design at one N: its Phase, the webhook counters it left in Redis, and the runs
    whose webhook the simulator lost."""
    sim.reset()
    hooked = design == DESIGNS[1]
    sim.set_webhook_faults(lose_rate=args.lose if hooked else 0.0)
    settings = common.bench_settings(
        redis_url,
        sim.url,
        data_dir,
        poll_interval=args.interval,
        new_wait=0.0,
        create_limit=common.limit("100000/60"),  # set-up only; reads keep the default 55/30
    )
    front_services = Services(settings, redis_url)
    server = ThreadedServer(create_app(front_services), "127.0.0.1", 0)
    url = server.start()
    if hooked:
        settings = settings.with_(public_url=url)
    services = Services(settings, redis_url)
    tag = f"{n}-{'h' if hooked else 's'}"
    processes = [
        common.celery_worker(settings, data_dir, f"w{i}-{tag}", bound=bound) for i in (1, 2)
    ]
    processes.append(common.celery_beat(settings, data_dir, bound=bound))
    result = Phase(design, n)
    try:
        with common.running(*processes):
            result = _measure(sim, services, redis_url, n, design, args)
    finally:
        server.stop()
    recorder = Recorder(services.redis, settings.key_prefix)
    raw = services.redis.hgetall(recorder.key("hooks"))
    lost = {d["run_id"] for d in sim.deliveries() if d["state"] == "lost"}
    return result, {name: int(value) for name, value in raw.items()}, lost


def _measure(
    sim: Simulator,
    services: Services,
    redis_url: str,
    n: int,
    design: str,
    args: argparse.Namespace,
) -> Phase:
    result = Phase(design, n)
    began = time.time()
    task_ids = [
        commands.execute(
            services, "new", {"repo": "acme/demo", "query": f"bench run {i} [sim:stuck]"}
        )["task_id"]
        for i in range(n)
    ]
    common.wait_for(
        lambda: services.store.counts()["running"] == n,
        30 + n * 0.2,
        f"{n} runs to start",
        pause=0.2,
    )
    result.setup_seconds = time.time() - began
    rows = services.store.fields(task_ids, "agent_run_id")
    run_of = {task: int(row["agent_run_id"] or 0) for task, row in zip(task_ids, rows, strict=True)}
    run_ids = list(run_of.values())
    rng = random.Random(args.seed + n)
    offsets = [rng.uniform(0, args.spread) for _ in range(n)]
    start = time.time()
    with _watching(redis_url, services.settings.key_prefix) as seen:
        finisher = _finish_on_schedule(sim, run_ids, start + args.hold, offsets)
        deadline = start + args.hold + args.spread + args.tail
        while time.time() < deadline and len(seen.completed) < n:
            time.sleep(0.2)
        finisher.join()
    result.detected_at = {run_of[t]: at for t, at in seen.completed.items() if t in run_of}
    result.sweeps = [s for s in seen.sweeps if not s.get("skipped") and s["at"] >= start]
    _close(result, sim, run_ids, start)
    return result


def figures(
    result: Phase, hooks: dict[str, int], lost: set[int], args: argparse.Namespace
) -> dict[str, Any]:
    """The phase's figures, plus reads per completed run, what the webhooks did, and the
    detection of runs whose webhook came apart from those whose webhook was lost."""
    found = result.figures()
    for name, runs in (("delivered", set(result.completed_at) - lost), ("lost", lost)):
        latencies = [
            result.detected_at[run] - result.completed_at[run]
            for run in runs
            if run in result.detected_at and run in result.completed_at
        ]
        found[f"detection_webhook_{name}"] = common.summary(latencies)
    # Reads until every run was seen settled (the table's window ends at the last completion).
    start = result.window[0]
    end = max([*result.detected_at.values(), result.window[1]])
    reads = common.requests_between(result.log, start, end, common.READ_ENDPOINTS)
    found["reads_until_all_detected"] = len(reads)
    found["reads_per_completion"] = round(len(reads) / max(result.n, 1), 2)
    found["webhooks"] = {
        "accepted": hooks.get("accepted", 0),
        "confirming_reads": hooks.get("reads", 0),
        "coalesced": hooks.get("coalesced", 0),
        "duplicates": hooks.get("duplicate", 0),
        "first_seen_by_webhook": hooks.get("first_seen|webhook", 0),
        "first_seen_by_sweep": hooks.get("first_seen|sweep", 0),
        "lost_counted": hooks.get("lost", 0),
    }
    found["bound_seconds"] = (SLOW_INTERVALS + 1) * args.interval
    return found


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m bench.{NAME}", description=__doc__)
    parser.add_argument("--sizes", default="100", help="tracked runs per phase")
    parser.add_argument("--interval", type=float, default=5.0, help="sweep interval (s)")
    parser.add_argument("--lose", type=float, default=0.1, help="share of webhooks lost")
    parser.add_argument("--hold", type=float, default=5.0, help="all N active this long first")
    parser.add_argument("--spread", type=float, default=20.0, help="completions spread over")
    parser.add_argument("--tail", type=float, default=0.0, help="wait after (0: 12 intervals)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the logs and data")
    args = parser.parse_args(argv)
    args.sizes = [int(size) for size in args.sizes.split(",")]
    args.tail = args.tail or (SLOW_INTERVALS + 2) * args.interval
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    per_phase = args.hold + args.spread + args.tail + 30
    seconds = sum(2 * (per_phase + n * 0.3) for n in args.sizes) + 60
    rows, found = [], []
    with (
        common.Bound(NAME, seconds) as bound,
        common.workdir(NAME, keep=args.keep) as data_dir,
        common.redis_server(data_dir / "redis", bound) as redis,
    ):
        config = SimConfig(read_limit=common.REAL_READ_LIMIT, create_limit=(100_000, 60.0))
        with Simulator(config) as sim:
            for n in args.sizes:
                for design in DESIGNS:
                    result, hooks, lost = phase(sim, redis.url, data_dir, n, design, args, bound)
                    fig = figures(result, hooks, lost, args)
                    print(f"  N={n} {design}: {_brief(fig)}", flush=True)
                    found.append(fig)
                    rows.append(_row(fig))
        wall = bound.elapsed()
    text = common.table(HEADERS, rows)
    print(f"\n{text}\n")
    print(f"machine: {common.machine_line()}; wall time {wall:.0f} s")
    settings = {
        "interval": args.interval,
        "lose": args.lose,
        "read_budget": "55/30",
        "api_read_limit": "60/30",
        "hold": args.hold,
        "spread": args.spread,
        "tail": args.tail,
    }
    path = common.write_results(
        NAME, {"settings": settings, "phases": found, "table": text}, bound.started
    )
    print(f"wrote {path.relative_to(common.ROOT)}")


HEADERS = (
    "N",
    "design",
    "reads/min",
    "reads/completion",
    "429s",
    "detect p50 s",
    "p95 s",
    "max s",
    "undetected",
    "webhook came: p95 / max s",
    "webhook lost: n, max s (bound)",
    "first seen by webhook / sweep",
    "lost counted",
)


def _row(fig: dict[str, Any]) -> list[Any]:
    det, hooks = fig["detection"], fig["webhooks"]
    hooked = fig["design"] == DESIGNS[1]
    came = fig["detection_webhook_delivered"] if hooked else {"n": 0}
    gone = fig["detection_webhook_lost"] if hooked else {"n": 0}
    return [
        fig["n"],
        fig["design"],
        fig["reads_per_minute"],
        fig["reads_per_completion"],
        fig["served_429"],
        common.fmt(det.get("p50")),
        common.fmt(det.get("p95")),
        common.fmt(det.get("max")),
        det["undetected"],
        f"{common.fmt(came.get('p95'))} / {common.fmt(came.get('max'))}" if came["n"] else "-",
        f"{gone['n']}, {common.fmt(gone.get('max'))} ({fig['bound_seconds']:g})"
        if gone["n"]
        else "-",
        f"{hooks['first_seen_by_webhook']} / {hooks['first_seen_by_sweep']}",
        hooks["lost_counted"],
    ]


def _brief(fig: dict[str, Any]) -> str:
    det = fig["detection"]
    return (
        f"{fig['reads_per_minute']} reads/min, {fig['reads_per_completion']} reads/completion, "
        f"p50 {common.fmt(det.get('p50'))} s, p95 {common.fmt(det.get('p95'))} s, "
        f"max {common.fmt(det.get('max'))} s, undetected {det['undetected']}"
    )


if __name__ == "__main__":
    main()
