"""The command endpoint's throughput, against a bare Flask "hello" under the same server.

Three servers take turns on this machine's own Redis: the Procfile's `web` line
(`codegen-mcp web`: gunicorn, gthread, 2 workers x 8 threads) answering `new` (no worker runs,
and CODEGEN_MCP_NEW_WAIT keeps its default: once the queue holds more tasks than the create
budget can start within that wait, which the warm-up sees to, each `new` is answered `queued`
at once, after one START script that records the task, its indexes and its Celery message)
and `task_status` (one completed task with a realistic result), and a bare
Flask app returning a small JSON body through the same `run_gunicorn` with the same settings.
Load comes from wrk (Debian's `wrk` package) on loopback; each endpoint is measured in
--rounds rounds taken in turn, and the median round is reported.

    uv run python -m bench.front_throughput [--seconds 8] [--rounds 5] [--connections 16]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import common
from codegen_mcp.local.redis import free_port
from codegen_mcp.services import Services
from codegen_mcp.states import State

NAME = "front_throughput"
NEW_BODY = {"command": "new", "args": {"repo": "acme/demo", "query": "Add a README"}}
RESULT_TEXT = (
    "## Done: Add a README\n\nI made the requested change and opened a pull request "
    "(https://github.com/acme/demo/pull/101).\n\n" + "- Read the relevant code\n" * 30
)
WRK_INSTALL = "apt-get install -y wrk"
# (url, JSON body, seconds, connections, a work directory) -> rps, p99_ms, errors
LoadGenerator = Callable[[str, dict[str, Any], int, int, Path], dict[str, Any]]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m bench.{NAME}", description=__doc__)
    parser.add_argument("--seconds", type=int, default=8, help="seconds per measured round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--serve-hello", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the logs and data")
    return parser.parse_args(argv)


# -- the bare Flask app, served exactly like the web front -----------------------------------
def serve_hello(port: int) -> None:
    from flask import Flask, jsonify

    from codegen_mcp.serving import run_gunicorn
    from codegen_mcp.settings import Settings

    app = Flask("hello")

    @app.post("/")
    def hello() -> Any:
        return jsonify({"status": "success", "hello": "world"})

    # The same function and the same defaults (2 workers, 8 threads) as `codegen-mcp web`.
    run_gunicorn(app, Settings(host="127.0.0.1", port=port), 2, 8)


def _web_command() -> list[str]:
    script = Path(sys.executable).parent / "codegen-mcp"
    return [str(script), "web"] if script.exists() else [sys.executable, "-m", "codegen_mcp.cli"]


@contextlib.contextmanager
def _server(
    name: str, args: list[str], env: dict[str, str], port: int, log_dir: Path, bound: common.Bound
) -> Iterator[str]:
    process = common.Process(name, args, env, log_dir / f"{name}.log", bound).start()
    url = f"http://127.0.0.1:{port}/"
    try:
        common.wait_for(lambda: _answers(url) or not process.alive, 30, f"{name} to listen")
        if not process.alive:
            raise RuntimeError(f"{name} exited at start; see {process.log_path}")
        yield url
    finally:
        process.stop()


def _answers(url: str) -> bool:
    with contextlib.suppress(OSError):
        connection = http.client.HTTPConnection("127.0.0.1", int(url.split(":")[2][:-1]), timeout=2)
        connection.request("POST", "/", body=b"{}", headers={"Content-Type": "application/json"})
        connection.getresponse().read()
        return True
    return False


# -- load generation -------------------------------------------------------------------------
def wrk(url: str, body: dict[str, Any], seconds: int, connections: int, work: Path) -> dict:
    script = work / f"post-{abs(hash(json.dumps(body))) % 10**6}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    threads = min(2, connections)
    output = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            script,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),  # type: ignore[union-attr]
        "errors": _errors(output),
    }


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def _errors(output: str) -> int:
    found = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return (int(found.group(1)) if found else 0) + (
        sum(int(x) for x in socket.groups()) if socket else 0
    )


def python_load(url: str, body: dict[str, Any], seconds: int, connections: int, _: Path) -> dict:
    """Without wrk: keep-alive connections in threads. Its own CPU use caps what it measures."""
    port = int(url.split(":")[2][:-1])
    payload = json.dumps(body).encode()
    latencies: list[float] = []
    errors = [0]
    stop_at = time.monotonic() + seconds

    def hammer() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < stop_at:
            began = time.monotonic()
            connection.request(
                "POST", "/", body=payload, headers={"Content-Type": "application/json"}
            )
            reply = connection.getresponse()
            reply.read()
            latencies.append(time.monotonic() - began)
            errors[0] += reply.status >= 300

    threads = [threading.Thread(target=hammer) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "rps": len(latencies) / seconds,
        "p99_ms": (common.percentile(latencies, 99) or 0) * 1000,
        "errors": errors[0],
    }


# -- the run ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.serve_hello:
        serve_hello(args.serve_hello)
        return
    load: LoadGenerator = wrk
    generator = "wrk"
    if shutil.which("wrk") is None:
        load, generator = python_load, "python threads (wrk not found)"
        print(
            f"wrk not found: install it with `{WRK_INSTALL}` (Debian/Ubuntu) for these figures; "
            "falling back to a Python load generator, which shares the 2 cores and the GIL and "
            "so understates both servers",
            flush=True,
        )
    measured = 3 * args.rounds * (args.seconds + 2)
    with (
        common.Bound(NAME, measured + 120) as bound,
        common.workdir(NAME, keep=args.keep) as work,
        common.redis_server(work / "redis", bound) as redis,
    ):
        results = _measure(args, load, redis.url, work, bound)
        wall = bound.elapsed()
    rows, figures = _figures(results)
    text = common.table(HEADERS, rows)
    print(f"\n{text}\n")
    print(_targets(figures))
    print(
        f"load: {generator}, {args.connections} connections, {args.rounds} rounds of "
        f"{args.seconds} s per endpoint, on the same 2 cores as the servers"
    )
    print(f"machine: {common.machine_line()}; wall time {wall:.0f} s")
    path = common.write_results(
        NAME,
        {
            "settings": {
                "server": "gunicorn gthread, 2 workers x 8 threads (run_gunicorn defaults)",
                "load": generator,
                "connections": args.connections,
                "seconds": args.seconds,
                "rounds": args.rounds,
            },
            "endpoints": figures,
            "table": text,
        },
        bound.started,
    )
    print(f"wrote {path.relative_to(common.ROOT)}")


def _measure(
    args: argparse.Namespace,
    load: LoadGenerator,
    redis_url: str,
    work: Path,
    bound: common.Bound,
) -> dict[str, list[dict[str, Any]]]:
    web_port, hello_port = free_port(), free_port()
    settings = common.bench_settings(redis_url, "http://127.0.0.1:9", work, port=web_port)
    env = {**common.settings_env(settings), "PORT": str(web_port)}  # the default NEW_WAIT
    env["CODEGEN_MCP_HOST"] = "127.0.0.1"
    task_id = _completed_task(Services(settings, redis_url))
    status_body = {"command": "task_status", "args": {"task_id": task_id}}
    hello_args = [sys.executable, "-m", f"bench.{NAME}", "--serve-hello", str(hello_port)]
    results: dict[str, list[dict[str, Any]]] = {"hello": [], "new": [], "task_status": []}
    with (
        _server("web", _web_command(), env, web_port, work, bound) as web,
        _server("hello", hello_args, env, hello_port, work, bound) as hello,
    ):
        targets = {"hello": (hello, {}), "new": (web, NEW_BODY), "task_status": (web, status_body)}
        for url, body in targets.values():
            load(url, body, 2, args.connections, work)  # warm-up
        for _ in range(args.rounds):
            for name, (url, body) in targets.items():
                results[name].append(load(url, body, args.seconds, args.connections, work))
    return results


def _completed_task(services: Services) -> str:
    """One task as `new` + a finished run leave it: the body task_status reads."""
    store = services.store
    task_id = store.create(
        {"command": "new", "repo": "acme/demo", "query": "Add a README", "task_type": "IMPLEMENT"}
    )
    store.attach_run(task_id, 41000)
    store.transition(task_id, State.RUNNING, agent_run_id=41000, started_at="2026-11-25T12:00:00Z")
    store.transition(
        task_id,
        State.COMPLETED,
        result=RESULT_TEXT,
        api_status="COMPLETE",
        completed_at="2026-11-25T12:04:00Z",
        web_url="https://codegen.com/agent/trace/41000",
        pull_requests=[
            {
                "id": 2400000101,
                "url": "https://github.com/acme/demo/pull/101",
                "title": "Add a README",
                "head_branch_name": "codegen-bot/add-a-readme-41000",
            }
        ],
    )
    return task_id


HEADERS = (
    "endpoint",
    "req/s (median round)",
    "rounds min-max",
    "p99 ms",
    "errors",
    "vs bare Flask",
    "target",
)
TARGETS = {"new": 0.5, "task_status": 0.7}


def _figures(results: dict[str, list[dict[str, Any]]]) -> tuple[list[list[Any]], dict[str, Any]]:
    figures: dict[str, Any] = {}
    for name, rounds in results.items():
        median = statistics.median_low(sorted(r["rps"] for r in rounds))
        chosen = next(r for r in rounds if r["rps"] == median)
        figures[name] = {
            "rps": round(median, 1),
            "p99_ms": round(chosen["p99_ms"], 2),
            "errors": sum(r["errors"] for r in rounds),
            "rounds_rps": [round(r["rps"], 1) for r in rounds],
        }
    bare = figures["hello"]["rps"]
    rows = []
    for name, label in (
        ("hello", "bare Flask hello (same gunicorn)"),
        ("new", "new (answered queued: default wait)"),
        ("task_status", "task_status"),
    ):
        fig = figures[name]
        fig["ratio"] = round(fig["rps"] / bare, 3) if bare else None
        target = f"≥ {TARGETS[name]:.0%}" if name in TARGETS else "-"
        ratio = f"{fig['ratio']:.0%}" if name != "hello" else "100%"
        spread = f"{min(fig['rounds_rps']):,.0f}-{max(fig['rounds_rps']):,.0f}"
        rows.append([label, round(fig["rps"]), spread, fig["p99_ms"], fig["errors"], ratio, target])
    return rows, figures


def _targets(figures: dict[str, Any]) -> str:
    lines = ["targets:"]
    for name, share in TARGETS.items():
        ratio = figures[name]["ratio"] or 0
        lines.append(
            f"  {name}: {ratio:.0%} of bare Flask ≥ {share:.0%}: {common.verdict(ratio >= share)}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
