"""The API's rate limits, shared in Redis by every process that uses one token.

Requests wait for a slot instead of drawing 429s. A 429 that happens anyway (another
client on the same token, clock skew) pauses the whole bucket for everyone.
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from codegen_mcp.api.errors import ApiRateLimited
from codegen_mcp.redis_conn import RedisClient
from codegen_mcp.settings import RateLimit, Settings
from codegen_mcp.store_keys import Keys

BUCKETS = ("read", "create", "resume", "logs")


def token_key(token: str) -> str:
    """A stable, non-reversible name for a token: keys and logs never hold the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


LIMITS = {
    "read": "read_limit",
    "create": "create_limit",
    "resume": "resume_limit",
    "logs": "logs_limit",
}


@dataclass(frozen=True)
class BucketKeys:
    """Where one token's bucket lives in Redis, for a script that reads it in place: the list of
    its moving window (newest first, as `limits` keeps it) and the key of its 429 cooldown."""

    window: str
    cooldown: str
    count: int
    seconds: float  # the window, as `limits` counts it (whole seconds)


def bucket_keys(settings: Settings, token: str, bucket: str) -> BucketKeys:
    """The keys `Budget` uses for `bucket` of `token` (the same `limits` key, the same prefix)."""
    keys, limit = Keys(settings.key_prefix), getattr(settings, LIMITS[bucket])
    who = token_key(token)
    item = _item(limit)
    window = f"{keys.budget()}:{item.key_for(who, bucket)}"
    return BucketKeys(window, keys.cooldown(who, bucket), item.amount, float(item.get_expiry()))


@dataclass(frozen=True)
class BucketStats:
    limit: int
    window: float
    remaining: int
    reset_in: float
    cooldown: float


class Budget:
    """Moving-window budgets per token and bucket, kept in Redis (the `limits` library)."""

    def __init__(self, client: RedisClient, settings: Settings, token: str) -> None:
        pool = client.connection_pool
        self._redis = client
        self._keys = Keys(settings.key_prefix)
        self._storage = RedisStorage(
            "redis://", connection_pool=pool, key_prefix=self._keys.budget()
        )
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._who = token_key(token)
        self._items = {bucket: _item(getattr(settings, LIMITS[bucket])) for bucket in BUCKETS}
        # Reads are also paced over a sixth of their window, so a big sweep spreads its
        # list calls evenly instead of spending the whole window in a burst and then stalling.
        self._pace = {"read": _pace(settings.read_limit)}

    def acquire(self, bucket: str, max_wait: float) -> None:
        """Take one slot, waiting up to `max_wait` seconds; ApiRateLimited past that."""
        deadline = time.monotonic() + max_wait
        item = self._items[bucket]
        while True:
            wait = self._cooldown(bucket)
            pace = self._pace.get(bucket)
            if (
                wait <= 0
                and pace is not None
                and not self._limiter.test(pace, self._who, bucket, "pace")
            ):
                stats = self._limiter.get_window_stats(pace, self._who, bucket, "pace")
                wait = max(stats.reset_time - time.time(), 0.01)
            elif wait <= 0:
                if self._limiter.hit(item, self._who, bucket):
                    if pace is not None:
                        self._limiter.hit(pace, self._who, bucket, "pace")
                    return
                stats = self._limiter.get_window_stats(item, self._who, bucket)
                wait = max(stats.reset_time - time.time(), 0.01)
            if time.monotonic() + wait > deadline:
                raise ApiRateLimited(
                    f"Codegen API {bucket} budget exhausted; next slot in {wait:.1f}s",
                    retry_after=wait,
                    status_code=None,
                )
            # A little jitter so waiting workers do not all wake in the same millisecond.
            time.sleep(min(wait, 1.0) + random.uniform(0, 0.05))

    def penalize(self, bucket: str, seconds: float) -> None:
        """After a 429: nobody on this token uses the bucket for `seconds`."""
        key = self._cooldown_key(bucket)
        if self._cooldown(bucket) < seconds:
            self._redis.set(key, "1", px=max(int(seconds * 1000), 1))

    def stats(self, bucket: str) -> BucketStats:
        """Where `bucket` stands now for this token: its limit, what is left, when it resets and any
        cooldown a 429 imposed."""
        item = self._items[bucket]
        window = self._limiter.get_window_stats(item, self._who, bucket)
        return BucketStats(
            limit=item.amount,
            window=float(item.get_expiry()),
            remaining=window.remaining,
            reset_in=max(window.reset_time - time.time(), 0.0),
            cooldown=max(self._cooldown(bucket), 0.0),
        )

    def _cooldown(self, bucket: str) -> float:
        ttl_ms = self._redis.pttl(self._cooldown_key(bucket))
        return ttl_ms / 1000 if ttl_ms and ttl_ms > 0 else 0.0

    def _cooldown_key(self, bucket: str) -> str:
        return self._keys.cooldown(self._who, bucket)


def _pace(limit: RateLimit) -> RateLimitItemPerSecond | None:
    if limit.count < 12:  # too few to spread
        return None
    return RateLimitItemPerSecond(limit.count // 6, max(int(-(-limit.window // 6)), 1))


def _item(limit: RateLimit) -> RateLimitItemPerSecond:
    # `limits` counts windows in whole seconds: round up, so we never exceed the API's rate.
    return RateLimitItemPerSecond(limit.count, max(int(-(-limit.window // 1)), 1))
