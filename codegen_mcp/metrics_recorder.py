"""Counters in Redis, written by whichever process did the work (see metrics.py)."""

from __future__ import annotations

import time

from codegen_mcp.redis_conn import RedisClient

LATENCY_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class Recorder:
    """Writes figures; cheap enough to call on every API request."""

    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}:metrics:{name}"

    def api_request(self, endpoint: str, status: int) -> None:
        self.redis.hincrby(self.key("api"), f"{endpoint}|{status}", 1)

    def sweep(self, duration: float, runs: int) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(self.key("sweep"), "count", 1)
        pipe.hincrbyfloat(self.key("sweep"), "seconds", duration)
        pipe.hincrby(self.key("sweep"), "runs", runs)
        pipe.execute()

    def delivery_latency(self, seconds: float) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for bound in LATENCY_BUCKETS:
            if seconds <= bound:
                pipe.hincrby(self.key("delivery"), f"le:{bound}", 1)
        pipe.hincrby(self.key("delivery"), "count", 1)
        pipe.hincrbyfloat(self.key("delivery"), "seconds", seconds)
        pipe.execute()

    def worker_seen(self, hostname: str) -> None:
        self.redis.hset(self.key("workers"), hostname, repr(time.time()))
