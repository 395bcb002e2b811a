"""What the simulator saw on the wire: the request log, stats, rate limits and fault dice."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

from codegen_mcp.simulator.config import DOCUMENTED_LIMITS, SimConfig
from codegen_mcp.simulator.faults import Dice, Faults
from codegen_mcp.simulator.ratelimit import SlidingWindow

# Enough for any benchmark run; the counters in stats() keep counting past it.
MAX_LOGGED_REQUESTS = 200_000
ENDPOINTS = (
    *("create", "get", "list", "resume", "logs", "me", "orgs", "repos"),
    *("ban", "remove_from_pr", "unban", "models"),
    *("webhook_get", "webhook_set", "webhook_delete", "webhook_test", "other"),
)


class Traffic:
    def __init__(self, config: SimConfig, lock: threading.RLock) -> None:
        self._config = config
        self._lock = lock
        self.clear()

    def clear(self) -> None:
        """Forget all traffic and faults: fresh counters, windows, and dice from the seed."""
        with self._lock:
            self.faults = Faults()
            self._dice = Dice(self._config.seed)
            self._limits = {
                name: SlidingWindow(*limit) for name, limit in self._config.limits().items()
            }
            self._documented = {
                name: SlidingWindow(*limit) for name, limit in DOCUMENTED_LIMITS.items()
            }
            self._log: deque[dict[str, Any]] = deque(maxlen=MAX_LOGGED_REQUESTS)
            self._by_endpoint: Counter[str] = Counter()
            self._by_status: Counter[str] = Counter()
            self._injected: Counter[str] = Counter()
            self._rate_limited = 0
            self._violations = 0

    # -- decisions taken for a request ------------------------------------------------------

    def injected_fault(self) -> str | None:
        """ "error" or "throttle" when a fault is to replace this request's answer."""
        with self._lock:
            if self._dice.chance(self.faults.error_rate):
                return "error"
            if self._dice.chance(self.faults.throttle_rate):
                return "throttle"
            return None

    def error_response(self) -> tuple[int, str, str]:
        """A transient error to inject, drawn from the seeded dice."""
        with self._lock:
            return self._dice.error_response()

    def drop_response(self) -> bool:
        """Whether to drop the answer to an act that was done (the caller never learns it happened),
        at the configured rate."""
        with self._lock:
            return self._dice.chance(self.faults.drop_after_act_rate)

    def take_budget(self, bucket: str, token: str, now: float) -> float | None:
        """None when the request may go on, else the seconds until the bucket has room."""
        with self._lock:
            if self._documented[bucket].hit(token, now) is not None:
                self._violations += 1
            return self._limits[bucket].hit(token, now)

    # -- the record ----------------------------------------------------------------------

    def record(self, entry: dict[str, Any], *, rate_limited: bool) -> None:
        """Add one answered request to the log and the counters."""
        with self._lock:
            self._log.append(entry)
            self._by_endpoint[entry["endpoint"]] += 1
            self._by_status[str(entry["status"])] += 1
            if entry.get("fault"):
                self._injected[entry["fault"]] += 1
            if rate_limited:
                self._rate_limited += 1

    def requests_log(self) -> list[dict[str, Any]]:
        """Copies of the most recent requests answered, oldest first."""
        with self._lock:
            return [dict(entry) for entry in self._log]

    def stats(self) -> dict[str, Any]:
        """Request counts by endpoint and status, injected faults, rate limiting, and how often the
        documented limits would have refused."""
        with self._lock:
            return {
                "requests": {name: self._by_endpoint[name] for name in ENDPOINTS},
                "total_requests": sum(self._by_endpoint.values()),
                "by_status": dict(self._by_status),
                "rate_limited": self._rate_limited,
                "injected": {kind: self._injected[kind] for kind in ("error", "throttle", "drop")},
                # Requests that the real API's documented limits would have refused.
                "limit_violations": self._violations,
            }
