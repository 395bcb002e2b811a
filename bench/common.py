"""What every benchmark shares: its own Redis, worker processes, a time bound, tables, JSON.

Each script starts everything it measures on loopback (an embedded redis-server on a free
port, the simulator in-process, Celery workers and beat as subprocesses configured by
environment exactly like production), stops by itself within the bound it prints, and writes
its figures to bench/results/<name>.json.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codegen_mcp.local.processes import celery_argv, settings_env, start_process, wait_for
from codegen_mcp.local.redis import EmbeddedRedis
from codegen_mcp.settings import RateLimit, Settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SIM_TOKEN = "sim-token"
SIM_USER = 7
SIM_ORG = 1
READ_ENDPOINTS = frozenset({"get", "list", "me", "orgs", "repos"})
REAL_READ_LIMIT = (60, 30.0)  # what the Codegen API documents, and what the simulator enforces


# -- the machine and the time bound -------------------------------------------------------
def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        # Anything else running on the machine skews every figure: say how busy it was.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def machine_line() -> str:
    info = machine()
    return (
        f"{info['cores']} cores ({info['cpu']}), Python {info['python']}, {info['os']}; "
        f"load average {info['load_average_1m']} at the end"
    )


class Bound:
    """A hard wall-clock bound: past it, every registered process is killed and we exit 3."""

    def __init__(self, name: str, seconds: float) -> None:
        self.name = name
        self.seconds = seconds
        self.started = time.monotonic()
        self._processes: list[subprocess.Popen[bytes]] = []
        self._timer = threading.Timer(seconds, self._expired)
        self._timer.daemon = True

    def __enter__(self) -> Bound:
        print(f"{self.name}: stops by itself within {self.seconds:.0f} s", flush=True)
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def watch(self, process: subprocess.Popen[bytes]) -> None:
        self._processes.append(process)

    def _expired(self) -> None:
        print(f"\n{self.name}: bound of {self.seconds:.0f} s exceeded; stopping", flush=True)
        for process in self._processes:
            kill_group(process)
        os._exit(3)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def workdir(name: str, *, keep: bool = False) -> Iterator[Path]:
    """A temporary directory for Redis data and logs, removed afterwards unless `keep`."""
    path = Path(tempfile.mkdtemp(prefix=f"cgm-bench-{name}-"))
    ok = False
    try:
        yield path
        ok = True
    finally:
        if ok and not keep:
            shutil.rmtree(path, ignore_errors=True)
        else:
            print(f"{name}: logs and data kept in {path}", flush=True)


@contextlib.contextmanager
def redis_server(
    data_dir: Path, bound: Bound | None = None, binary: str | None = None
) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(data_dir, binary=binary)
    server.start()
    if bound is not None and server.process is not None:
        bound.watch(server.process)
    try:
        yield server
    finally:
        server.stop()


# -- settings and processes ------------------------------------------------------------------
def bench_settings(redis_url: str, sim_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Production defaults, pointed at our Redis and simulator, with `overrides`."""
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "api_base_url": sim_url,
        "api_token": SIM_TOKEN,
        "org_id": SIM_ORG,
        "key_prefix": f"b{int(time.time() * 1000) % 10**8:x}",
        "data_dir": data_dir,
        # A bench stands in for many clients with one: the per-client run limit and the queue
        # bound (docs/configuration.md) are lifted, though every command still pays the check.
        "client_run_limit": RateLimit(1_000_000, 1.0),
        "max_queued": 1_000_000,
    }
    values.update(overrides)
    return Settings(**values)


def limit(text: str) -> RateLimit:
    return RateLimit.parse(text, "limit")


@dataclass
class Process:
    """A subprocess in its own process group, logging to a file (SIGKILL takes the group)."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    bound: Bound | None = None
    ready_text: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> Process:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process = start_process(self.args, self.env, self.log_path, cwd=ROOT)
        if self.bound is not None:
            self.bound.watch(self.process)
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float = 60.0) -> None:
        if self.ready_text is None:
            return
        text = self.ready_text
        wait_for(
            lambda: text in self.new_log() or not self.alive,
            timeout,
            f"{self.name} to be ready",
        )
        if not self.alive:
            raise RuntimeError(f"{self.name} exited at start; see {self.log_path}")

    def new_log(self) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    def kill(self) -> None:
        if self.process is not None:
            kill_group(self.process)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the main process (a warm shutdown), SIGKILL past `timeout`."""
        if not self.alive:
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def celery_worker(
    settings: Settings,
    log_dir: Path,
    name: str,
    *,
    concurrency: int = 8,
    bound: Bound | None = None,
) -> Process:
    """The Procfile's worker line, on this run's queue."""
    hostname = f"{name}-{settings.key_prefix}@%h"
    args = celery_argv("worker", settings, hostname=hostname, concurrency=concurrency)
    return Process(
        name, args, settings_env(settings), log_dir / f"{name}.log", bound, ready_text=" ready."
    )


def celery_beat(settings: Settings, log_dir: Path, *, bound: Bound | None = None) -> Process:
    """The Procfile's beat line: the one process that schedules the sweep."""
    schedule = settings.data_dir / f"beat-{settings.key_prefix}"
    args = celery_argv("beat", settings, schedule=schedule)
    return Process(
        "beat", args, settings_env(settings), log_dir / "beat.log", bound, ready_text="beat: Start"
    )


@contextlib.contextmanager
def running(*processes: Process) -> Iterator[tuple[Process, ...]]:
    """Start the processes, wait until each is ready, stop them all on the way out."""
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.wait_ready()
        yield processes
    finally:
        for process in processes:
            process.stop()


# -- statistics, output ------------------------------------------------------------------
def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(pct / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    return {
        "n": len(values),
        "p50": rounded(percentile(values, 50)),
        "p95": rounded(percentile(values, 95)),
        "p99": rounded(percentile(values, 99)),
        "max": rounded(max(values) if values else None),
    }


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table, so the printed figures paste straight into the README."""
    text_rows = [[fmt(cell) for cell in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text_rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), separator, *(line(r) for r in text_rows)])


def write_results(
    name: str, figures: dict[str, Any], started: float, *, out: str | None = None, argv: str = ""
) -> Path:
    """bench/results/<out or name>.json: the figures, with what was run, where and when."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{out or name}.json"
    record = {
        "benchmark": name,
        "command": f"uv run python -m bench.{name}{' ' + argv if argv else ''}",
        "commit": _commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "wall_seconds": round(time.monotonic() - started, 1),
        **figures,
    }
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def _commit() -> str | None:
    """The commit measured, with "+dirty" when the product code differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "codegen_mcp", "workers", "pyproject.toml"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return f"{head}+dirty" if head and dirty else head or None


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


# -- the simulator's record ------------------------------------------------------------------
def requests_between(
    log: list[dict[str, Any]], start: float, end: float, endpoints: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    wanted = None if endpoints is None else set(endpoints)
    return [
        entry
        for entry in log
        if start <= entry["at"] <= end and (wanted is None or entry["endpoint"] in wanted)
    ]


def served_429(log: list[dict[str, Any]]) -> int:
    """429s the simulator's rate limits served (not the throttles a fault injected)."""
    return sum(1 for entry in log if entry["status"] == 429 and not entry.get("fault"))


def task_id_of(run: dict[str, Any]) -> str | None:
    metadata = run.get("metadata") or {}
    value = metadata.get("codegen_mcp_task_id")
    return str(value) if value else None
