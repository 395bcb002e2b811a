"""Nothing lost, nothing twice: 200 tasks through workers that keep being killed.

200 tasks (10 orchestrators, 100 children of theirs, 60 plain `new`, 30 `resume` of finished
runs) go through 2 Celery workers and beat while, for a bounded time, a random worker is
SIGKILLed (its whole process group, at a random moment of its life) and restarted at once,
at least --kills times; Redis (AOF on) is restarted twice; and the simulator serves 20% 5xx,
drops 5% of create and resume answers after acting, and throttles 5% of requests with 429s.
Then the chaos stops (faults off) and the run drains, bounded. Everything is counted from the
simulator's own record: runs created per task, resume calls per child outcome and per resume
task, tasks that never finish, and tasks whose final state disagrees with the simulator.

Every kill, restart and submission is written to events.jsonl, next to the worker logs, in a
directory that is kept (its path is printed).

    uv run python -m bench.chaos [--kills 100] [--chaos-seconds 150] [--drain 180]
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import common
from codegen_mcp import commands
from codegen_mcp.api.status import state_for
from codegen_mcp.local.redis import EmbeddedRedis
from codegen_mcp.services import Services
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import SimConfig, Simulator
from codegen_mcp.states import SETTLED, State

NAME = "chaos"
ORCHESTRATORS = 10
CHILDREN = 100
PLAIN = 60
RESUMES = 30
ERROR_RATE, DROP_RATE, THROTTLE_RATE = 0.2, 0.05, 0.05
FAULTS = {
    "error_rate": ERROR_RATE,
    "drop_after_act_rate": DROP_RATE,
    "throttle_rate": THROTTLE_RATE,
}
SETTLED_NAMES = {state.value for state in SETTLED}


@dataclass
class Events:
    """What the bench did, in order, for reconstructing any anomaly afterwards."""

    path: Path
    started: float = field(default_factory=time.time)
    kills: int = 0
    redis_restarts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, event: str, **details: Any) -> None:
        with self._lock, open(self.path, "a") as out:
            entry = {"t": round(time.time() - self.started, 3), "at": time.time(), "event": event}
            out.write(json.dumps({**entry, **details}) + "\n")


@dataclass
class Workload:
    """The tasks the bench submitted, by kind."""

    tasks: dict[str, str] = field(default_factory=dict)  # task id -> kind
    orchestrator_runs: list[int] = field(default_factory=list)


class Chaos:
    def __init__(
        self, args: argparse.Namespace, work: Path, bound: common.Bound, sim: Simulator
    ) -> None:
        self.args = args
        self.work = work
        self.bound = bound
        self.sim = sim
        self.rng = random.Random(args.seed)
        self.events = Events(work / "events.jsonl")
        self.redis = EmbeddedRedis(work / "redis")
        self.redis_up = threading.Event()
        self.stop = threading.Event()  # stops the kills
        self.quiet = threading.Lock()  # held by a Redis restart and by each bench request
        self.settings: Settings
        self.services: Services
        self.workers: list[common.Process] = []
        self.beat: common.Process
        self.workload = Workload()
        self.errors: list[BaseException] = []

    # -- processes -------------------------------------------------------------------------
    def start(self) -> None:
        url = self.redis.start()
        self._watch_redis()
        self.redis_up.set()
        self.settings = common.bench_settings(
            url,
            self.sim.url,
            self.work,
            poll_interval=1.0,
            new_wait=0.0,
            requeue_after=3.0,
            request_timeout=5.0,
            read_limit=common.limit("500/30"),
            create_limit=common.limit("500/60"),
            resume_limit=common.limit("500/30"),
            logs_limit=common.limit("500/60"),
        )
        self.services = Services(self.settings, url)
        self.workers = [
            common.celery_worker(self.settings, self.work, f"w{i}", bound=self.bound)
            for i in (1, 2)
        ]
        self.beat = common.celery_beat(self.settings, self.work, bound=self.bound)
        for process in [*self.workers, self.beat]:
            self._start(process)
        for process in [*self.workers, self.beat]:
            process.wait_ready()

    def _start(self, process: common.Process) -> None:
        with open(process.log_path, "a") as log:
            log.write(f"\n=== bench: start at {time.time():.3f} ===\n")
        process.start()
        assert process.process is not None
        self.events.add("start", process=process.name, pid=process.process.pid)

    def _watch_redis(self) -> None:
        if self.redis.process is not None:
            self.bound.watch(self.redis.process)

    def shut_down(self) -> None:
        for process in [*self.workers, self.beat]:
            process.stop()
        self.redis.stop()

    # -- the chaos ---------------------------------------------------------------------------
    def kill_loop(self, until: float) -> None:
        """Each worker, once ready, is SIGKILLed at a random moment of its next 2 s, then
        restarted at once; a process that died by itself (a Redis restart) is restarted too."""
        planned: dict[str, float] = {}
        while not self.stop.is_set():
            if time.time() >= until and self.events.kills >= self.args.kills:
                return
            self.stop.wait(0.1)
            for process in [*self.workers, self.beat]:
                if not process.alive and self.redis_up.is_set():
                    self.events.add("died", process=process.name)
                    self._start(process)
            for worker in self.workers:
                if worker.name not in planned:
                    if worker.alive and " ready." in worker.new_log():
                        planned[worker.name] = time.time() + self.rng.uniform(0, 2.0)
                elif time.time() >= planned[worker.name]:
                    del planned[worker.name]
                    self._kill(worker)

    def _kill(self, worker: common.Process) -> None:
        assert worker.process is not None
        self.events.add("kill", process=worker.name, pid=worker.process.pid)
        worker.kill()
        self.events.kills += 1
        self._start(worker)

    def restart_redis(self) -> None:
        with self.quiet:  # no submission half done while Redis is away
            self.redis_up.clear()
            self.events.add("redis_stop")
            self.redis.stop()
            self.redis = EmbeddedRedis(self.work / "redis")
            self.redis.start()
            self._watch_redis()
            self.events.redis_restarts += 1
            self.events.add("redis_start")
            self.redis_up.set()

    # -- the workload ------------------------------------------------------------------------
    def submit(self, kind: str, command: str, args: dict[str, Any]) -> str:
        with self.quiet:
            task_id = str(commands.execute(self.services, command, args)["task_id"])
        self.workload.tasks[task_id] = kind
        self.events.add("submit", kind=kind, task_id=task_id, command=command)
        return task_id

    def _active(self, low: float, high: float) -> str:
        return f"[sim:active={self.rng.uniform(low, high):.1f}] [sim:eval=0.5]"

    def run_workload(self, spread: float) -> None:
        try:
            self._workload(spread)
        except BaseException as exc:  # the main thread reports it: a bench bug, not a finding
            self.errors.append(exc)
            raise

    def _workload(self, spread: float) -> None:
        """Orchestrators first, then plain news and children over `spread` s, then resumes."""
        started = time.time()
        orchestrators = [
            self.submit("orchestrator", "new", _new(f"orchestrate {i} {self._active(10, 60)}"))
            for i in range(ORCHESTRATORS)
        ]
        runs = [self._run_id_of(task_id) for task_id in orchestrators]
        self.workload.orchestrator_runs = runs
        plan = [("plain", i) for i in range(PLAIN)] + [("child", i) for i in range(CHILDREN)]
        self.rng.shuffle(plan)
        bases: list[str] = []
        for index, (kind, i) in enumerate(plan):
            time.sleep(max(started + spread * (index + 1) / len(plan) - time.time(), 0))
            if kind == "plain":
                bases.append(self.submit("plain", "new", _new(f"plain {i} {self._active(1, 15)}")))
            else:
                outcome = self.rng.choices(["", " [sim:error]", " [sim:paused]"], [8, 1, 1])[0]
                query = f"child {i} {self._active(1, 20)}{outcome}"
                self.submit("child", "new", _new(query, runs[i % ORCHESTRATORS]))
        self._resumes(bases[:RESUMES])

    def _resumes(self, bases: list[str]) -> None:
        """A resume of each base once its task has completed (the user's normal order)."""
        waiting = list(bases)
        while waiting:
            for task_id in list(waiting):
                task = self._get(task_id)
                if task and task["state"] in SETTLED_NAMES and task.get("agent_run_id"):
                    query = f"follow up on {task_id[:8]} {self._active(1, 10)}"
                    args = {"agent_run_id": int(task["agent_run_id"]), "query": query}
                    self.submit("resume", "resume", args)
                    waiting.remove(task_id)
            time.sleep(0.5)

    def _run_id_of(self, task_id: str) -> int:
        def started() -> int | None:
            task = self._get(task_id)
            return int(task["agent_run_id"]) if task and task.get("agent_run_id") else None

        run_id = common.wait_for(started, 120, f"orchestrator {task_id} to start", pause=0.2)
        assert run_id is not None
        return run_id

    def _get(self, task_id: str) -> dict[str, Any] | None:
        with self.quiet:
            return self.services.store.get(task_id)


def _new(query: str, orchestrator: int | None = None) -> dict[str, Any]:
    args: dict[str, Any] = {"repo": "acme/demo", "query": query}
    if orchestrator is not None:
        args["orchestrator_run_id"] = orchestrator
    return args


def _sleep_until(moment: float, stop: threading.Event) -> None:
    stop.wait(max(moment - time.time(), 0))


# -- counting, from the simulator's record ---------------------------------------------------
def count(chaos: Chaos) -> dict[str, Any]:
    store = chaos.services.store
    sim_runs = chaos.sim.runs()
    runs_by_task = Counter(common.task_id_of(run) for run in sim_runs)
    by_id = {run["id"]: run for run in sim_runs}
    tasks = {t["task_id"]: t for t in store.get_many(list(store.iter_newest())) if t}
    submitted = chaos.workload.tasks
    deliveries = [t for t in tasks.values() if t.get("delivers")]
    anomalies: list[dict[str, Any]] = []

    created = Counter(runs_by_task[t] for t, kind in submitted.items() if kind != "resume")
    for task_id, kind in submitted.items():
        if kind != "resume" and runs_by_task[task_id] != 1:
            anomalies.append(_anomaly("runs created", task_id, tasks, runs=runs_by_task[task_id]))

    child_resumes: Counter[int] = Counter()
    for task_id, kind in submitted.items():
        if kind == "child":
            task = tasks.get(task_id) or {}
            orchestrator = by_id.get(int(task.get("orchestrator_run_id") or 0), {})
            carrying = [r for r in orchestrator.get("resumes", []) if task_id in r["prompt"]]
            expected = int(task.get("outcome_seq") or 0)
            child_resumes[len(carrying) - expected] += 1
            if len(carrying) != expected:
                details = {"calls": len(carrying), "outcomes": expected}
                anomalies.append(_anomaly("child deliveries", task_id, tasks, **details))

    resume_calls: Counter[int] = Counter()
    for task in [*(tasks.get(t) or {} for t, k in submitted.items() if k == "resume"), *deliveries]:
        run = by_id.get(int(task.get("agent_run_id") or 0), {})
        marker = f"[codegen-mcp task {task.get('task_id')}]"
        calls = sum(1 for r in run.get("resumes", []) if marker in r["prompt"])
        resume_calls[calls] += 1
        if calls != (1 if task.get("started_at") else 0):
            anomalies.append(_anomaly("resume calls", task["task_id"], tasks, calls=calls))

    unfinished = [t for t in tasks.values() if t["state"] not in SETTLED_NAMES]
    for task in unfinished:
        anomalies.append(_anomaly("never finished", task["task_id"], tasks))
    mismatched = _mismatches(store, tasks, by_id)
    for task_id, kind in submitted.items():
        task = tasks.get(task_id) or {}
        if kind != "resume" and runs_by_task[task_id] and not task.get("agent_run_id"):
            mismatched[task_id] = {"sim": "a run exists", "ours": task.get("state")}
    anomalies += [_anomaly("final state", t, tasks, **why) for t, why in mismatched.items()]
    for anomaly in anomalies:
        anomaly["story"] = _story(int(anomaly.get("agent_run_id") or 0), tasks, by_id, store)
    return {
        "tasks_submitted": Counter(submitted.values()),
        "delivery_tasks": len(deliveries),
        "runs_created_per_task": dict(created),
        "resume_calls_per_child_outcome": {f"{k:+d}": v for k, v in child_resumes.items()},
        "resume_calls_per_resume_task": dict(resume_calls),
        "never_finished": len(unfinished),
        "final_state_mismatches": len(mismatched),
        "failed_tasks": sum(1 for t in tasks.values() if t["state"] == "failed"),
        "anomalies": anomalies,
    }


def _mismatches(
    store: Any, tasks: dict[str, dict[str, Any]], runs: dict[int, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The run's owner must show the run's status; older tasks one of the run's outcomes."""
    out: dict[str, dict[str, Any]] = {}
    owners = store.owners(list(runs))
    for task_id, task in tasks.items():
        run = runs.get(int(task.get("agent_run_id") or 0))
        if run is None:
            if task["state"] != "failed" and task.get("started_at"):
                out[task_id] = {"sim": "no run", "ours": task["state"]}
            continue
        if owners.get(run["id"]) == task_id:
            if state_for(run["status"]).value != task["state"]:
                out[task_id] = {"sim": run["status"], "ours": task["state"]}
        elif task["state"] in SETTLED_NAMES:
            outcomes = {state_for(s["status"]).value for s in run["history"]}
            if task["state"] not in outcomes | {State.FAILED.value}:
                out[task_id] = {"sim": sorted(outcomes), "ours": task["state"]}
    return out


def _anomaly(what: str, task_id: str, tasks: dict[str, dict[str, Any]], **details: Any) -> dict:
    task = tasks.get(task_id) or {}
    keep = ("command", "state", "agent_run_id", "orchestrator_run_id", "error", "attempts")
    return {"what": what, "task_id": task_id, **{k: task.get(k) for k in keep}, **details}


def _story(
    run_id: int, tasks: dict[str, dict[str, Any]], runs: dict[int, dict[str, Any]], store: Any
) -> list[str]:
    """The run's life as the simulator saw it and its tasks as the store has them, in order."""
    run = runs.get(run_id)
    if run is None:
        return []
    lines = [(c["at"], f"sim: run {run_id} {c['status']}") for c in run["history"]]
    for resume in run["resumes"]:
        marker = resume["prompt"].rsplit("[codegen-mcp task ", 1)[-1][:8]
        lines.append(
            (resume["at"], f"sim: resume by task {marker} (was {resume['status_before']})")
        )
    for task_id in store.tasks_for_run(run_id):
        task = tasks.get(task_id) or {}
        for stamp in ("created_ts", "started_ts"):
            if task.get(stamp):
                lines.append((float(task[stamp]), f"store: task {task_id[:8]} {stamp[:-3]}"))
        lines.append(
            (
                float(task.get("updated_at") or 0),
                f"store: task {task_id[:8]} last "
                f"change, now {task.get('state')} ({task.get('api_status')})",
            )
        )
    return [
        f"{datetime.fromtimestamp(at):%H:%M:%S.%f}"[:-3] + f" {text}" for at, text in sorted(lines)
    ]


def _unsettled(chaos: Chaos) -> int | None:
    """Work left: unsettled tasks, finished-hooks not run, results waiting for an orchestrator.

    None until the whole workload has been submitted."""
    if len(chaos.workload.tasks) < ORCHESTRATORS + CHILDREN + PLAIN + RESUMES:
        return None
    store = chaos.services.store
    counts = store.counts()
    waiting = store.redis.zcard(store.keys.pending())
    return counts["queued"] + counts["running"] + waiting + len(store.outbox())


def _drain(chaos: Chaos, until: float, stall: float) -> str:
    """Wait until nothing is left, or nothing has moved for `stall` s, or `until`."""
    last, moved = None, time.time()
    while time.time() < until:
        left = _unsettled(chaos)
        if left == 0:
            return "drained"
        if left != last:
            last, moved = left, time.time()
        elif time.time() - moved > stall:
            return f"stalled: {left} left, unchanged for {stall:.0f} s"
        time.sleep(1.0)
    return f"bound reached: {last} left"


# -- the run ---------------------------------------------------------------------------------
def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m bench.{NAME}", description=__doc__)
    parser.add_argument("--kills", type=int, default=100, help="at least this many SIGKILLs")
    parser.add_argument("--chaos-seconds", type=float, default=150.0, help="at least this long")
    parser.add_argument("--max-chaos", type=float, default=300.0, help="chaos never past this")
    parser.add_argument("--drain", type=float, default=180.0, help="after the chaos, at most")
    parser.add_argument("--seed", type=int, default=6)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    config = SimConfig(
        active_seconds=3.0,
        evaluation_seconds=0.5,
        read_limit=(600, 30.0),
        create_limit=(600, 60.0),
        resume_limit=(600, 30.0),
        logs_limit=(600, 60.0),
        seed=args.seed,
    )
    with (
        common.Bound(NAME, 90 + args.max_chaos + args.drain + 60) as bound,
        common.workdir(NAME, keep=True) as work,
        Simulator(config) as sim,
    ):
        chaos = Chaos(args, work, bound, sim)
        chaos.start()
        try:
            figures = _run(chaos, args)
        finally:
            chaos.stop.set()
            chaos.shut_down()
        wall = bound.elapsed()
    _report(figures, args, wall, bound.started, work)


def _run(chaos: Chaos, args: argparse.Namespace) -> dict[str, Any]:
    began = time.time()
    chaos.sim.set_faults(
        error_rate=ERROR_RATE, drop_after_act_rate=DROP_RATE, throttle_rate=THROTTLE_RATE
    )
    chaos.events.add("faults", **FAULTS)
    until = began + args.chaos_seconds
    killer = threading.Thread(target=chaos.kill_loop, args=(until,), daemon=True)
    killer.start()
    feeder = threading.Thread(
        target=chaos.run_workload, args=(args.chaos_seconds * 0.6,), daemon=True
    )
    feeder.start()
    for share in (1 / 3, 2 / 3):
        _sleep_until(began + args.chaos_seconds * share, chaos.stop)
        chaos.restart_redis()
    killer.join(timeout=max(began + args.max_chaos - time.time(), 0))
    chaos.stop.set()  # past --max-chaos, the kill loop stops here too
    killer.join()
    chaos_seconds = time.time() - began
    chaos.sim.set_faults()
    chaos.events.add("calm")
    calm = time.time()
    feeder.join(timeout=args.drain)
    drained = _drain(chaos, calm + args.drain, stall=60.0)
    if chaos.errors:
        raise RuntimeError("the bench's own workload thread failed") from chaos.errors[0]
    stats = chaos.sim.stats()
    return {
        **count(chaos),
        "kills": chaos.events.kills,
        "redis_restarts": chaos.events.redis_restarts,
        "chaos_seconds": round(chaos_seconds, 1),
        "drain_seconds": round(time.time() - began - chaos_seconds, 1),
        "drained": drained,
        "injected": stats["injected"],
        "sim_requests": stats["total_requests"],
    }


def _report(
    figures: dict[str, Any], args: argparse.Namespace, wall: float, started: float, work: Path
) -> None:
    submitted = figures["tasks_submitted"]
    created = figures["runs_created_per_task"]
    per_child = figures["resume_calls_per_child_outcome"]
    per_resume = figures["resume_calls_per_resume_task"]
    rows = [
        ["tasks (orchestrators/children/plain new/resume)",
         f"{submitted['orchestrator']}/{submitted['child']}/{submitted['plain']}/"
         f"{submitted['resume']} + {figures['delivery_tasks']} delivery resumes", "200"],
        ["SIGKILLs (each followed by a restart)", figures["kills"], f"≥ {args.kills}"],
        ["Redis restarts (AOF on)", figures["redis_restarts"], "2"],
        ["faults injected (5xx / 429 / dropped answers)",
         "/".join(str(figures["injected"][k]) for k in ("error", "throttle", "drop")), "-"],
        ["runs created per new task", _dist(created), "all exactly 1"],
        ["resume calls per child outcome (calls - outcomes)", _dist(per_child), "all +0"],
        ["resume calls per resume task", _dist(per_resume), "all exactly 1"],
        ["tasks that never finished", figures["never_finished"], "0"],
        ["final state ≠ simulator", figures["final_state_mismatches"], "0"],
        ["chaos / drain / wall seconds",
         f"{figures['chaos_seconds']:.0f} / {figures['drain_seconds']:.0f} / {wall:.0f}", "-"],
    ]  # fmt: skip
    text = common.table(("what", "count", "must be"), rows)
    print(f"\n{text}\n")
    ok = (
        set(created) == {1}
        and set(per_child) == {"+0"}
        and set(per_resume) <= {1}
        and figures["never_finished"] == 0
        and figures["final_state_mismatches"] == 0
    )
    print(f"nothing lost, nothing twice: {common.verdict(ok)}; the drain {figures['drained']}")
    (work / "anomalies.json").write_text(json.dumps(figures["anomalies"], indent=1))
    for anomaly in figures["anomalies"][:10]:
        story = anomaly.pop("story")
        print(f"  anomaly: {json.dumps(anomaly)}")
        print("".join(f"      {line}\n" for line in story), end="")
    print(f"events and worker logs: {work}")
    print(f"machine: {common.machine_line()}; wall time {wall:.0f} s")
    figures = {**figures, "anomalies": figures["anomalies"][:10], "workdir": str(work)}
    path = common.write_results(NAME, {**figures, "table": text}, started)
    print(f"wrote {path.relative_to(common.ROOT)}")


def _dist(counter: dict[Any, int]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in sorted(counter.items())) or "-"


if __name__ == "__main__":
    main()
