"""Celery workers and beat as processes, started the one way the product, tests and benchmarks
share: `celery -A workers.celery_app ...` (the app by name: nothing here imports `workers`),
configured by environment exactly like production, in a process group of its own, writing
to a log file its owner alone may read.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from celery import Celery
from celery.app.utils import find_app

from codegen_mcp.local.redis import OWNER_ONLY_UMASK
from codegen_mcp.queue import queue_name
from codegen_mcp.settings import Settings

T = TypeVar("T")
# The Celery app by import path, as `celery -A` and the Procfile name it.
CELERY_APP = "workers.celery_app"
# Variables that carry settings: a process isolated from ours gets none of our own.
SETTINGS_VARIABLES = ("CODEGEN_", "REDIS_URL")


def settings_env(settings: Settings, *, inherit: bool = False) -> dict[str, str]:
    """The environment that gives a child process `settings` (Settings.to_env over ours).

    Without `inherit` our own settings variables are left out first, so the child reads
    `settings` and nothing else; with it, ours stay under `settings` (for variables that
    Settings does not carry).
    """
    env = dict(os.environ)
    if not inherit:
        env = {k: v for k, v in env.items() if not k.startswith(SETTINGS_VARIABLES)}
    return {**env, **settings.to_env(), "PYTHONUNBUFFERED": "1"}


def celery_argv(
    role: Literal["worker", "beat"],
    settings: Settings,
    *,
    hostname: str = "",
    concurrency: int = 4,
    schedule: Path | None = None,
) -> list[str]:
    """The command line of a Celery worker (thread pool, on the settings' queue) or beat.

    A worker given a beat `schedule` file also runs beat (`-B`); `hostname` names the worker
    (Celery expands `%h`). Every worker and beat of codegen-mcp is started from this argv.
    """
    argv = [sys.executable, "-m", "celery", "-A", CELERY_APP, role, "--loglevel=INFO"]
    if role == "worker":
        argv += ["--pool=threads", f"--concurrency={concurrency}", "-Q", queue_name(settings)]
        argv += ["--without-mingle", "--without-gossip"]
        if hostname:
            argv += ["--hostname", hostname]
        if schedule is not None:
            argv += ["-B"]
    if schedule is not None:
        argv += ["--schedule", str(schedule)]
    return argv


def start_process(
    argv: list[str],
    env: Mapping[str, str],
    log_path: Path,
    *,
    append: bool = True,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """`argv` running in its own session (so its group can be stopped as one), stdin closed,
    stdout and stderr in `log_path` (created 0600), every file it creates its owner's alone."""
    mode = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    with os.fdopen(os.open(log_path, mode, 0o600), "wb") as output:  # the child has its own
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=OWNER_ONLY_UMASK,
        )


def start_celery(
    role: Literal["worker", "beat"],
    settings: Settings,
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    append: bool = True,
    cwd: Path | None = None,
    **options: Any,
) -> subprocess.Popen[bytes]:
    """A Celery worker or beat (`celery_argv(role, settings, **options)`) started with
    `env` (default: `settings_env(settings)`), logging to `log_path`."""
    argv = celery_argv(role, settings, **options)
    return start_process(
        argv, settings_env(settings) if env is None else env, log_path, append=append, cwd=cwd
    )


def load_celery_app(settings: Settings, redis_url: str) -> Celery:
    """The app `celery -A workers.celery_app` runs, loaded by name into this process and
    configured as every worker is: from the environment, which now carries `settings`."""
    os.environ.update(settings.with_(redis_url=redis_url).to_env())
    app: Celery = find_app(CELERY_APP)
    return app


def wait_for(
    condition: Callable[[], T], timeout: float = 20.0, what: str = "condition", pause: float = 0.05
) -> T:
    """The first truthy value `condition` returns, polled every `pause` seconds; TimeoutError
    naming `what` (and the last value) if none comes within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")
        time.sleep(pause)
