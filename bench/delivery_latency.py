"""Child done to orchestrator resumed: how long a child's outcome takes to reach its orchestrator.

10 orchestrators (5 idle, 5 busy) and 50 children (5 each), all tracked by codegen-mcp through
2 Celery workers + beat, against the simulator with the API's real read limit. The simulator
completes each child on a schedule; for an idle orchestrator the latency is from the child's
completion to the resume call that carries it (both from the simulator's own record); for a
busy one, from the moment the orchestrator turned free (the simulator's history) to that call.
Idle orchestrators get their children one at a time, a few seconds apart; busy ones get all
five while busy, then turn free at staggered moments (one resume carries all five: fan-in).

Each budget runs with Codegen's run webhooks off (the sweep alone, today's default) and on
(CODEGEN_MCP_PUBLIC_URL points at the web front on loopback; the simulator POSTs a signed
webhook when a run settles, none lost; the sweep stays, as reconciler), side by side.

    uv run python -m bench.delivery_latency [--interval 2] [--webhooks off|on|both]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import random
import threading
import time
from pathlib import Path
from typing import Any

from bench import common
from codegen_mcp import commands
from codegen_mcp.metrics_recorder import Recorder
from codegen_mcp.services import Services
from codegen_mcp.serving import ThreadedServer
from codegen_mcp.simulator import SimConfig, Simulator
from codegen_mcp.web import create_app

NAME = "delivery_latency"
ORCHESTRATORS = 10
CHILDREN_EACH = 5
IDLE_SPACING = 8.0  # seconds between two children of one idle orchestrator
BUSY_CHILDREN_WITHIN = 20.0
BUSY_FREE_FROM = 25.0
TAIL = 20.0
FINAL = frozenset({"COMPLETE", "ERROR", "FAILED", "PAUSED", "CANCELLED", "TIMEOUT"})
WEBHOOKS = {"off": ["off"], "on": ["on"], "both": ["off", "on"]}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m bench.{NAME}", description=__doc__)
    parser.add_argument("--interval", type=float, default=2.0, help="sweep interval (s)")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument(
        "--webhooks",
        choices=sorted(WEBHOOKS),
        default="both",
        help="Codegen run webhooks off (sweep alone), on, or both side by side (default)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs and data")
    args = parser.parse_args(argv)
    args.webhooks = WEBHOOKS[args.webhooks]
    return args


PHASES = {
    # name: (our read budget, the simulator's read limit)
    "real": ("55/30", common.REAL_READ_LIMIT),
    "unconstrained": ("5000/30", (10_000, 30.0)),
}


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    span = max(CHILDREN_EACH * IDLE_SPACING + 5, BUSY_FREE_FROM + 3 * 5 + 2) + TAIL
    phases: dict[str, dict[str, Any]] = {}
    with (
        common.Bound(NAME, len(PHASES) * len(args.webhooks) * (90 + span)) as bound,
        common.workdir(NAME, keep=args.keep) as data_dir,
        common.redis_server(data_dir / "redis", bound) as redis,
    ):
        for name, (budget, sim_limit) in PHASES.items():
            for hooks in args.webhooks:
                key = f"{name}, webhooks {hooks}"
                phases[key] = _phase(key, budget, sim_limit, redis.url, data_dir, args, bound, span)
                print(f"  {key}: {_brief(phases[key])}", flush=True)
        wall = bound.elapsed()
    text = common.table(HEADERS, _rows(phases, args.interval))
    print(f"\n{text}\n")
    print(_targets(phases, args.interval))
    print(f"machine: {common.machine_line()}; wall time {wall:.0f} s")
    path = common.write_results(
        NAME,
        {
            "settings": {
                "interval": args.interval,
                "webhooks": args.webhooks,
                "webhooks_lost": 0.0,
                "orchestrators": ORCHESTRATORS,
                "children": ORCHESTRATORS * CHILDREN_EACH,
                "phases": {name: {"read_budget": b, "api_read_limit": f"{s[0]}/{s[1]:g}"}
                           for name, (b, s) in PHASES.items()},
            },
            "phases": phases,
            "table": text,
        },
        bound.started,
    )  # fmt: skip
    print(f"wrote {path.relative_to(common.ROOT)}")


def _phase(
    name: str,
    budget: str,
    sim_limit: tuple[int, float],
    redis_url: str,
    data_dir: Path,
    args: argparse.Namespace,
    bound: common.Bound,
    span: float,
) -> dict[str, Any]:
    config = SimConfig(
        read_limit=sim_limit,
        create_limit=(1000, 60.0),  # set-up only
        active_seconds=1.0,  # how long a resumed orchestrator works before it is free again
        evaluation_seconds=0.0,
    )
    hooked = name.endswith("webhooks on")
    tag = name.replace(", webhooks ", "-hooks-")
    with Simulator(config) as sim:
        settings = common.bench_settings(
            redis_url,
            sim.url,
            data_dir,
            poll_interval=args.interval,
            new_wait=0.0,
            read_limit=common.limit(budget),
            create_limit=common.limit("1000/60"),
        )
        # The web front, where the simulator's webhooks land (started in both modes, the same
        # load; only with webhooks on does PUBLIC_URL point at it).
        server = ThreadedServer(create_app(Services(settings, redis_url)), "127.0.0.1", 0)
        url = server.start()
        if hooked:
            settings = settings.with_(public_url=url)
        services = Services(settings, redis_url)
        processes = [
            common.celery_worker(settings, data_dir, f"{tag}-w{i}", bound=bound) for i in (1, 2)
        ]
        processes.append(common.celery_beat(settings, data_dir, bound=bound))
        with contextlib.ExitStack() as stack:
            stack.callback(server.stop)
            stack.enter_context(common.running(*processes))
            idle, busy, children = _set_up(services, sim)
            start = time.time()
            plan = _plan(idle, busy, children, start, random.Random(args.seed))
            driver = threading.Thread(target=_drive, args=(sim, plan), daemon=True)
            driver.start()
            deadline = start + span
            common.wait_for(
                lambda: _all_delivered(sim, children) or time.time() > deadline,
                span + 5,
                "deliveries",
                pause=0.5,
            )
            driver.join()
        return {
            "read_budget": budget,
            "webhooks": "on" if hooked else "off",
            **_figures(sim, children, start),
            "webhook_counters": _counters(services),
        }


def _counters(services: Services) -> dict[str, int]:
    """What the webhook receiver and its confirming worker counted (empty with webhooks off)."""
    recorder = Recorder(services.redis, services.settings.key_prefix)
    raw = services.redis.hgetall(recorder.key("hooks"))
    return {name: int(value) for name, value in raw.items()}


# -- set-up and schedule ---------------------------------------------------------------------
def _new(services: Services, query: str, orchestrator: int | None = None) -> str:
    args: dict[str, Any] = {"repo": "acme/demo", "query": query}
    if orchestrator is not None:
        args["orchestrator_run_id"] = orchestrator
    return str(commands.execute(services, "new", args)["task_id"])


def _set_up(
    services: Services, sim: Simulator
) -> tuple[list[int], list[int], dict[int, list[tuple[str, int]]]]:
    """Idle orchestrators (finished, and seen finished), busy ones, and their running children."""
    half = ORCHESTRATORS // 2
    idle_tasks = [_new(services, f"orchestrate idle {i} [sim:active=0.5]") for i in range(half)]
    busy_tasks = [_new(services, f"orchestrate busy {i} [sim:stuck]") for i in range(half)]
    store = services.store
    common.wait_for(
        lambda: (
            all(t and t["state"] == "completed" for t in store.get_many(idle_tasks))
            and all(t and t["state"] == "running" for t in store.get_many(busy_tasks))
        ),
        60,
        "orchestrators to be idle and busy",
        pause=0.2,
    )
    idle = [int(t["agent_run_id"]) for t in store.get_many(idle_tasks) if t]
    busy = [int(t["agent_run_id"]) for t in store.get_many(busy_tasks) if t]
    children: dict[int, list[tuple[str, int]]] = {}
    for orchestrator in idle + busy:
        ids = [
            _new(services, f"child {k} of {orchestrator} [sim:stuck]", orchestrator)
            for k in range(CHILDREN_EACH)
        ]
        children[orchestrator] = [(task_id, 0) for task_id in ids]
    every = [task_id for pairs in children.values() for task_id, _ in pairs]
    common.wait_for(
        lambda: all(t and t["state"] == "running" for t in store.get_many(every)),
        60,
        "children to start",
        pause=0.2,
    )
    for orchestrator, pairs in children.items():
        tasks = store.get_many([task_id for task_id, _ in pairs])
        children[orchestrator] = [(t["task_id"], int(t["agent_run_id"])) for t in tasks if t]
    return idle, busy, children


def _plan(
    idle: list[int],
    busy: list[int],
    children: dict[int, list[tuple[str, int]]],
    start: float,
    rng: random.Random,
) -> list[tuple[float, int]]:
    """(moment, run id) pairs: children complete; busy orchestrators turn free afterwards."""
    plan = []
    for index, orchestrator in enumerate(idle):
        offset = index * IDLE_SPACING / len(idle)
        for k, (_, run_id) in enumerate(children[orchestrator]):
            plan.append((start + offset + k * IDLE_SPACING + rng.uniform(0, 1), run_id))
    for index, orchestrator in enumerate(busy):
        for _, run_id in children[orchestrator]:
            plan.append((start + rng.uniform(0, BUSY_CHILDREN_WITHIN), run_id))
        plan.append((start + BUSY_FREE_FROM + index * 3 + rng.uniform(0, 2), orchestrator))
    return sorted(plan)


def _drive(sim: Simulator, plan: list[tuple[float, int]]) -> None:
    for at, run_id in plan:
        time.sleep(max(at - time.time(), 0))
        sim.transition(run_id, "COMPLETE")


def _all_delivered(sim: Simulator, children: dict[int, list[tuple[str, int]]]) -> bool:
    for orchestrator, pairs in children.items():
        prompts = [r["prompt"] for r in sim.run(orchestrator)["resumes"]]
        if not all(any(task_id in p for p in prompts) for task_id, _ in pairs):
            return False
    return True


# -- figures from the simulator's record -----------------------------------------------------
def _status_at(history: list[dict[str, Any]], moment: float) -> str:
    status = ""
    for change in history:
        if change["at"] > moment:
            break
        status = change["status"]
    return status


def _free_from(history: list[dict[str, Any]], moment: float) -> float | None:
    """The first moment at or after `moment` when the run was finished (free for a resume)."""
    if _status_at(history, moment) in FINAL:
        return moment
    return next((c["at"] for c in history if c["at"] > moment and c["status"] in FINAL), None)


def _figures(
    sim: Simulator, children: dict[int, list[tuple[str, int]]], start: float
) -> dict[str, Any]:
    latencies: dict[str, list[float]] = {"idle": [], "busy": []}
    resumes_per_child: list[int] = []
    fan_in: list[int] = []
    for orchestrator, pairs in children.items():
        record = sim.run(orchestrator)
        fan_in += [sum(1 for t, _ in pairs if t in r["prompt"]) for r in record["resumes"]]
        for task_id, run_id in pairs:
            done = sim.run(run_id)["completed_at"]
            carrying = [r for r in record["resumes"] if task_id in r["prompt"]]
            resumes_per_child.append(len(carrying))
            if carrying:
                free = _free_from(record["history"], done)
                kind = "idle" if free == done else "busy"
                latencies[kind].append(carrying[0]["at"] - (free or done))
    log = common.requests_between(sim.requests_log(), start, time.time())
    return {
        "idle": common.summary(latencies["idle"]),
        "busy": common.summary(latencies["busy"]),
        "resumes_per_child": {
            str(n): resumes_per_child.count(n) for n in sorted(set(resumes_per_child))
        },
        "fan_in_max": max(fan_in, default=0),
        "resume_calls": len(fan_in),
        "get_calls": sum(1 for e in log if e["endpoint"] == "get"),
        "list_calls": sum(1 for e in log if e["endpoint"] == "list"),
        "longest_read_gap": round(_longest_gap(log), 1),
        "served_429": common.served_429(log),
    }


def _longest_gap(log: list[dict[str, Any]]) -> float:
    """The longest stretch without a read: the budget stalling everyone."""
    times = sorted(e["at"] for e in log if e["endpoint"] in common.READ_ENDPOINTS)
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


HEADERS = (
    "read budget",
    "webhooks",
    "orchestrators",
    "children",
    "p50 s",
    "p95 s",
    "p99 s",
    "max s",
    "target p50/p99",
    "GETs",
    "lists",
    "longest read gap s",
    "settled first seen by webhook / sweep",
)
LABELS = {"idle": "idle: child done → resume", "busy": "busy: free → resume"}


def _rows(phases: dict[str, dict[str, Any]], interval: float) -> list[list[Any]]:
    rows = []
    for name, phase in phases.items():
        budget = f"{phase['read_budget']} ({name.split(',')[0]})"
        hooks = phase["webhook_counters"]
        seen = f"{hooks.get('first_seen|webhook', 0)} / {hooks.get('first_seen|sweep', 0)}"
        for kind, label in LABELS.items():
            fig = phase[kind]
            first = kind == "idle"
            rows.append(
                [
                    budget,
                    phase["webhooks"],
                    label,
                    fig["n"],
                    fig["p50"],
                    fig["p95"],
                    fig["p99"],
                    fig["max"],
                    f"≤ {interval / 2 + 0.5:g} / ≤ {interval + 1:g}",
                    phase["get_calls"] if first else "",
                    phase["list_calls"] if first else "",
                    phase["longest_read_gap"] if first else "",
                    (seen if phase["webhooks"] == "on" else "-") if first else "",
                ]
            )
    return rows


def _brief(phase: dict[str, Any]) -> str:
    return (
        f"idle p50 {phase['idle']['p50']} s p95 {phase['idle']['p95']} s, "
        f"busy p50 {phase['busy']['p50']} s p95 {phase['busy']['p95']} s, "
        f"{phase['get_calls']} GETs, resumes per child {phase['resumes_per_child']}"
    )


def _targets(phases: dict[str, dict[str, Any]], interval: float) -> str:
    lines = ["targets:"]
    for name, phase in phases.items():
        for kind in LABELS:
            fig = phase[kind]
            p50_ok = fig["p50"] is not None and fig["p50"] <= interval / 2 + 0.5
            p99_ok = fig["p99"] is not None and fig["p99"] <= interval + 1
            lines.append(
                f"  {name}, {kind}: p50 {fig['p50']} s ≤ {interval / 2 + 0.5:g}: "
                f"{common.verdict(p50_ok)}; p99 {fig['p99']} s ≤ {interval + 1:g}: "
                f"{common.verdict(p99_ok)}"
            )
        once = phase["resumes_per_child"] == {"1": ORCHESTRATORS * CHILDREN_EACH}
        lines.append(
            f"  {name}: resume calls per child {phase['resumes_per_child']} (each exactly "
            f"1): {common.verdict(once)}; {phase['resume_calls']} resume calls, largest fan-in "
            f"{phase['fan_in_max']}; 429s served {phase['served_429']}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
