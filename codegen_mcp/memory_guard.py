"""The memory guard: new work is refused before Redis refuses every write.

Redis runs with `noeviction` (it is also the Celery broker): at `maxmemory` every write
fails, commands and the workers' bookkeeping included. Once `used_memory` passes
CODEGEN_MCP_MEMORY_GUARD (a share of `maxmemory`, default 0.9), `new` and `resume` are
refused with `memory_full` (503, Retry-After) before anything is recorded; reads, cancels and
the work already accepted go on, since they write little and finish what is in flight.
`/healthz` says "degraded" (still 200: reads work, a load balancer should keep the process),
`/metrics` shows codegen_mcp_memory_guard_active. A Redis without maxmemory cannot be
guarded: `/healthz` says so as a warning.

The figure is the one Redis itself weighs against maxmemory before it refuses a write:
`used_memory` less `mem_not_counted_for_evict` (the AOF and replication buffers). Those
buffers come and go with the disk: while a slow fsync holds back the AOF buffer it can be a
large share of used_memory, gone a second later, and must not trip (or hold off) the guard.

INFO memory is read at most once a second per process and Redis client, so the guard costs
no round trip on most commands.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from codegen_mcp.errors import CodegenMCPError

CACHE_SECONDS = 1.0
RETRY_AFTER = 60  # seconds: retention removes a few batches a minute


class MemoryFull(CodegenMCPError):
    """Redis is close to its maxmemory: new work is refused so accepted work can finish."""

    http_status = 503
    code = "memory_full"
    retry_after = float(RETRY_AFTER)


@dataclass(frozen=True)
class Reading:
    """Redis memory against its limit, and the guard's verdict for a threshold."""

    used: int
    maxmemory: int
    threshold: float

    @classmethod
    def from_info(cls, info: dict[str, Any], threshold: float) -> Reading:
        """From INFO memory: the memory Redis counts against maxmemory, as its OOM check does."""
        used = int(info.get("used_memory", 0)) - int(info.get("mem_not_counted_for_evict", 0))
        return cls(max(used, 0), int(info.get("maxmemory", 0)), threshold)

    @property
    def share(self) -> float:
        """used / maxmemory (0 when Redis has no maxmemory)."""
        return self.used / self.maxmemory if self.maxmemory else 0.0

    @property
    def active(self) -> bool:
        """New and resume are refused now."""
        return bool(self.threshold and self.maxmemory and self.share >= self.threshold)

    def check(self) -> str:
        """The /healthz `memory` field: ok, degraded (why) or warning (no maxmemory)."""
        if not self.maxmemory:
            return (
                "warning: Redis has no maxmemory, so nothing stops it filling the machine and "
                "the memory guard is off; set maxmemory (policy noeviction)"
            )
        if self.active:
            return f"degraded: {self._figures()}; new and resume are refused"
        return "ok"

    def _figures(self) -> str:
        return (
            f"Redis uses {_mib(self.used)} of its maxmemory {_mib(self.maxmemory)} "
            f"({self.share:.0%}, over CODEGEN_MCP_MEMORY_GUARD={self.threshold:g})"
        )


_lock = threading.Lock()
_cache: dict[int, tuple[float, Reading]] = {}


def reading(redis: Any, threshold: float, *, fresh: bool = False) -> Reading:
    """Redis' memory now, as read at most CACHE_SECONDS ago by this process (`fresh`: now)."""
    now = time.monotonic()
    with _lock:
        cached = _cache.get(id(redis))
    if fresh or cached is None or now - cached[0] > CACHE_SECONDS:
        cached = (now, Reading.from_info(redis.info("memory"), threshold))
        with _lock:
            _cache[id(redis)] = cached
    return replace(cached[1], threshold=threshold)


def admit(redis: Any, threshold: float) -> None:
    """Raise MemoryFull when the guard is on; `new` and `resume` call it first."""
    if not threshold:
        return
    found = reading(redis, threshold)
    if found.active:
        raise MemoryFull(
            f"the task store is nearly full: {found._figures()}. New and resume are refused "
            "so that the work already accepted can finish; nothing was recorded. Try again "
            f"in {RETRY_AFTER} s; operators: raise Redis' maxmemory, or lower "
            "CODEGEN_MCP_RETENTION_DAYS so that settled tasks are removed sooner",
            details={"limit": "CODEGEN_MCP_MEMORY_GUARD", "retry_after": RETRY_AFTER},
        )


def _mib(size: int) -> str:
    return f"{size / 1048576:.1f} MiB"
