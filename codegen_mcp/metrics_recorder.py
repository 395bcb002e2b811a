"""Counters in Redis, written by whichever process did the work (see metrics.py)."""

from __future__ import annotations

import time

from codegen_mcp.redis_conn import RedisClient
from codegen_mcp.store_keys import Keys

LATENCY_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
# A worker renews its heartbeat every 2 s (Celery's heartbeat interval); one not renewed for
# this long is gone, so /healthz never counts a previous process as running now.
HEARTBEAT_TTL = 10.0


class Recorder:
    """Writes figures; cheap enough to call on every API request."""

    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def key(self, name: str) -> str:
        """The Redis key of the metrics hash `name`, under this deployment's prefix."""
        return Keys(self.prefix).metrics(name)

    def api_request(self, endpoint: str, status: int) -> None:
        """Count one Codegen API request to `endpoint` that answered `status` (0: no answer)."""
        self.redis.hincrby(self.key("api"), f"{endpoint}|{status}", 1)

    def count(self, name: str, field: str, by: int = 1) -> None:
        """Add `by` to counter `field` of the metrics hash `name` (labels joined by "|")."""
        self.redis.hincrby(self.key(name), field, by)

    def sweep(self, duration: float, runs: int) -> None:
        """Count one finished sweep, how long it took and how many runs it watched."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(self.key("sweep"), "count", 1)
        pipe.hincrbyfloat(self.key("sweep"), "seconds", duration)
        pipe.hincrby(self.key("sweep"), "runs", runs)
        pipe.execute()

    def delivery_latency(self, seconds: float) -> None:
        """Add one delivery's latency (seconds from outcome to orchestrator) to the latency
        histogram."""
        pipe = self.redis.pipeline(transaction=False)
        for bound in LATENCY_BUCKETS:
            if seconds <= bound:
                pipe.hincrby(self.key("delivery"), f"le:{bound}", 1)
        pipe.hincrby(self.key("delivery"), "count", 1)
        pipe.hincrbyfloat(self.key("delivery"), "seconds", seconds)
        pipe.execute()

    def webhook(self, outcome: str) -> None:
        """Count one webhook event "sent" (the receiver took it) or "failed" (given up)."""
        self.redis.hincrby(self.key("webhooks"), outcome, 1)

    def worker_started(self, hostname: str) -> None:
        """The worker consumes from now on (its start time tells /healthz when it came up)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.key("workers:started"), hostname, repr(time.time()))
        pipe.zadd(self.key("workers:alive"), {hostname: time.time() + HEARTBEAT_TTL})
        pipe.execute()

    def worker_alive(self, hostname: str) -> None:
        """Renew the heartbeat; workers that died without a word are dropped on the way."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=True)  # read and drop the expired at once
        pipe.zadd(self.key("workers:alive"), {hostname: now + HEARTBEAT_TTL})
        pipe.hsetnx(self.key("workers:started"), hostname, repr(now))  # if its start was lost
        pipe.zrangebyscore(self.key("workers:alive"), "-inf", now)
        pipe.zremrangebyscore(self.key("workers:alive"), "-inf", now)
        dead = pipe.execute()[2]
        if dead:
            self.redis.hdel(self.key("workers:started"), *dead)

    def worker_stopped(self, hostname: str) -> None:
        """Forget worker `hostname`: it no longer counts as alive."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrem(self.key("workers:alive"), hostname)
        pipe.hdel(self.key("workers:started"), hostname)
        pipe.execute()

    def live_workers(self) -> dict[str, float]:
        """Hostname -> start time of every worker whose heartbeat has not expired."""
        names = self.redis.zrangebyscore(self.key("workers:alive"), time.time(), "+inf")
        if not names:
            return {}
        started = self.redis.hmget(self.key("workers:started"), names)
        return {name: float(at or 0.0) for name, at in zip(names, started, strict=True)}
