"""Unknown repositories vs the sweep: how late a finished run is noticed while `new` calls
name repositories the organization does not have.

A Celery worker and beat against the simulator with the API's real read limit (60 / 30 s).
One run is started and left to work for a while; meanwhile `--misses` `new` calls name
repositories nobody has (each a different name, from as many clients). Then the run finishes
(the simulator's record says when) and we measure how long it takes the sweep to notice
(the task's `completed` state in our store). A quiet phase, without the misses, gives the
delay to compare against.

    uv run python -m bench.repo_misses [--misses 300] [--interval 2]
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import common
from codegen_mcp import commands
from codegen_mcp.errors import CodegenMCPError
from codegen_mcp.services import Services
from codegen_mcp.simulator import SimConfig, Simulator

NAME = "repo_misses"
ACTIVE = 20.0  # seconds the watched run works while the misses arrive
HEADERS = ["phase", "misses", "repo-list reads", "errors at once", "noticed after (s)"]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m bench.{NAME}", description=__doc__)
    parser.add_argument("--misses", type=int, default=300)
    parser.add_argument("--interval", type=float, default=2.0, help="sweep interval (s)")
    parser.add_argument("--keep", action="store_true", help="keep the logs and data")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    phases: dict[str, dict[str, Any]] = {}
    with (
        common.Bound(NAME, 900) as bound,
        common.workdir(NAME, keep=args.keep) as data_dir,
        common.redis_server(data_dir / "redis", bound) as redis,
    ):
        for name, misses in (("quiet", 0), ("misses", args.misses)):
            phases[name] = _phase(name, misses, redis.url, data_dir, args, bound)
            print(f"  {name}: {phases[name]}", flush=True)
    rows = [[name, *(p[k] for k in ("misses", "repo_reads", "refused", "noticed_after"))]
            for name, p in phases.items()]  # fmt: skip
    text = common.table(HEADERS, rows)
    print(f"\n{text}\n\nmachine: {common.machine_line()}")
    path = common.write_results(
        NAME, {"interval": args.interval, "phases": phases, "table": text}, bound.started
    )
    print(f"wrote {path.relative_to(common.ROOT)}")


def _phase(
    name: str,
    misses: int,
    redis_url: str,
    data_dir: Path,
    args: argparse.Namespace,
    bound: common.Bound,
) -> dict[str, Any]:
    config = SimConfig(
        read_limit=common.REAL_READ_LIMIT, create_limit=(1000, 60.0), evaluation_seconds=0.0
    )
    with Simulator(config) as sim:
        settings = common.bench_settings(
            redis_url, sim.url, data_dir, poll_interval=args.interval, new_wait=0.0
        )
        services = Services(settings, redis_url)
        processes = [
            common.celery_worker(settings, data_dir, f"{name}-w1", bound=bound),
            common.celery_beat(settings, data_dir, bound=bound),
        ]
        with common.running(*processes):
            query = f"watched run [sim:active={ACTIVE}] [sim:eval=0]"
            task_id = _new(services, "acme/demo", query, "watcher")
            common.wait_for(
                lambda: services.store.get(task_id)["state"] == "running",  # type: ignore[index]
                60,
                "the watched run to start",
            )
            refused = _flood(services, misses)
            task = common.wait_for(
                lambda: (t := services.store.get(task_id)) and t["state"] == "completed" and t,
                600,
                "the watched run to be noticed",
                pause=0.05,
            )
        finished = sim.run(int(task["agent_run_id"]))["completed_at"]
        noticed = datetime.fromisoformat(task["completed_at"].replace("Z", "+00:00")).timestamp()
        return {
            "misses": misses,
            "repo_reads": sim.stats()["requests"]["repos"],
            "refused": refused,
            "noticed_after": round(noticed - finished, 1),
        }


def _new(services: Services, repo: str, query: str, client: str) -> str:
    args = {"repo": repo, "query": query}
    return str(commands.execute(services, "new", args, client=f"bench:{client}")["task_id"])


def _flood(services: Services, misses: int) -> int:
    """`misses` calls of `new` on unknown repositories, each from its own client."""

    def one(i: int) -> int:
        try:
            _new(services, f"nobody/missing-{i}", "x", f"c{i}")
        except CodegenMCPError:
            return 1
        return 0

    with ThreadPoolExecutor(16) as pool:
        return sum(pool.map(one, range(misses)))


if __name__ == "__main__":
    main()
