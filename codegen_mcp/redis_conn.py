"""Redis connections that ride out a Redis restart instead of failing the process."""

from __future__ import annotations

from typing import Any, TypeAlias
from urllib.parse import parse_qs, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

# redis-py types every sync call as "result or Awaitable of it" (one stub for both clients);
# we only ever use the sync client, so its results are plain values.
RedisClient: TypeAlias = Any


def connect(url: str) -> RedisClient:
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=8),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


def broker_url(url: str) -> str:
    """The same Redis as kombu (Celery's broker) spells it: a unix socket is
    `redis+socket:///path?virtual_host=<db>` there, `unix:///path?db=<db>` for redis-py."""
    parts = urlsplit(url)
    if parts.scheme != "unix":
        return url
    db = parse_qs(parts.query).get("db", ["0"])[0]
    return f"redis+socket://{parts.path}?virtual_host={db}"
