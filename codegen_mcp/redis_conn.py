"""Redis connections that fail fast when Redis is down or hung, and ride out a brief blip.

Every call is short (no blocking commands go through these clients: Celery's broker has
its own connections, configured in workers/celery_app.py), so a socket timeout of a couple
of seconds only ever cuts a Redis that stopped answering. A refused connection is retried
a few times within about a second; a timeout is not retried, since a hung server would
make every retry wait the whole timeout again.
"""

from __future__ import annotations

from typing import Any, TypeAlias
from urllib.parse import parse_qs, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

# redis-py types every sync call as "result or Awaitable of it" (one stub for both clients);
# we only ever use the sync client, so its results are plain values.
RedisClient: TypeAlias = Any

DEFAULT_TIMEOUT = 2.0
# Errors that mean "Redis is not there": the fronts answer 503 for these (errors.StoreUnavailable).
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


def connect(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> RedisClient:
    """A client whose every call gives up within about `timeout` seconds (plus ~1 s of retry
    when the connection is refused)."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
        retry=Retry(
            ExponentialBackoff(cap=0.5, base=0.1),
            retries=3,
            supported_errors=(redis.ConnectionError,),
        ),
    )


def broker_url(url: str) -> str:
    """The same Redis as kombu (Celery's broker) spells it: a unix socket is
    `redis+socket:///path?virtual_host=<db>` there, `unix:///path?db=<db>` for redis-py."""
    parts = urlsplit(url)
    if parts.scheme != "unix":
        return url
    db = parse_qs(parts.query).get("db", ["0"])[0]
    return f"redis+socket://{parts.path}?virtual_host={db}"
