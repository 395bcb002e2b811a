"""stack.json: the running one-machine stack, so other processes on this machine can join it.

`codegen-mcp up` (or an MCP server running its own stack) records where its Redis is, the
Codegen API base URL it uses, its web front, and the processes it started, each with its
start time: a pid alone may since belong to another program, so a recorded process is only
believed (or signalled) while the pid still names the process that was recorded.
The file is 0600, like everything in the data directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import psutil

from codegen_mcp.errors import ConfigurationError
from codegen_mcp.settings import Settings

# Start times are read from the same clock both times; this only absorbs float rounding.
SAME_START = 0.5


def stack_file(data_dir: Path) -> Path:
    """Where the stack of `data_dir` is recorded."""
    return Path(data_dir) / "stack.json"


def started_at(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), None if there is none."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, ValueError):
        return None


def is_recorded_process(info: dict[str, Any], role: str = "") -> bool:
    """Whether the pid recorded for `role` ("" for the stack itself, "redis", "worker") is
    still the process recorded there: alive, not a zombie, and started when the record says."""
    prefix = f"{role}_" if role else ""
    pid, started = info.get(f"{prefix}pid"), info.get(f"{prefix}started")
    if not isinstance(pid, int) or isinstance(pid, bool) or not isinstance(started, int | float):
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(process.create_time() - started) < SAME_START
    except psutil.Error:
        return False


def write_stack(data_dir: Path, **info: object) -> None:
    """Record our stack: `info` plus our pid, and the start time of every `*_pid` in it."""
    record: dict[str, object] = {**info, "pid": os.getpid()}
    for key, value in list(record.items()):
        if key.endswith("pid") and isinstance(value, int):
            record[key.removesuffix("pid") + "started"] = started_at(value)
    path = stack_file(data_dir)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle)
    os.replace(temporary, path)  # readers never see half a file


def read_record(data_dir: Path) -> dict[str, Any] | None:
    """stack.json as written, live or not."""
    try:
        info = json.loads(stack_file(data_dir).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def read_stack(data_dir: Path) -> dict[str, Any] | None:
    """The stack of a live `codegen-mcp up` (or MCP server) on this machine, if there is one."""
    info = read_record(data_dir)
    return info if info is not None and is_recorded_process(info) else None


def clear_stack(data_dir: Path) -> None:
    """Withdraw the record of `data_dir`'s stack (none is fine)."""
    stack_file(data_dir).unlink(missing_ok=True)


def reap_stale_stack(data_dir: Path) -> None:
    """A stack killed without cleanup may leave its redis-server running on our data: stop it,
    but only if the recorded pid is still that redis-server (never a process that reused it)."""
    info = read_record(data_dir)
    if info is None:
        return
    if is_recorded_process(info, "redis"):
        with contextlib.suppress(OSError):
            os.kill(int(info["redis_pid"]), signal.SIGTERM)
    clear_stack(data_dir)


def join_stack(settings: Settings) -> tuple[Settings, str]:
    """The settings and Redis URL to use: REDIS_URL's, or the running stack's.

    A stack that talks to another Codegen API (the simulator of `up --simulate`) is joined with
    its base URL, and without our environment's token and org, which belong to our base URL.
    """
    if settings.redis_url:
        return settings, settings.redis_url
    stack = read_stack(settings.data_dir)
    if not stack or not isinstance(stack.get("redis_url"), str):
        raise ConfigurationError(
            "REDIS_URL is not set and no `codegen-mcp up` is running on this machine to join"
        )
    return settings_for(settings, stack), str(stack["redis_url"])


def settings_for(settings: Settings, stack: dict[str, Any]) -> Settings:
    """`settings` as a process joining `stack` must use them (the stack's API base URL)."""
    base = stack.get("api_base_url")
    if not isinstance(base, str) or base.rstrip("/") == settings.api_base_url:
        return settings
    return settings.with_(api_base_url=base.rstrip("/"), api_token=None, org_id=None)
