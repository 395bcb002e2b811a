"""Redis connections that fail fast when Redis is down or hung, and ride out a brief blip.

Every call is short (no blocking commands go through these clients: Celery's broker has
its own connections, configured in workers/celery_app.py), so a socket timeout of a couple
of seconds only ever cuts a Redis that stopped answering. A refused connection is retried
a few times within about a second; a timeout is not retried, since a hung server would
make every retry wait the whole timeout again.

Every client of codegen-mcp's Redis is built here, from the one URL (REDIS_URL): a plain
server, or a primary found through Sentinel (`sentinel://`, see sentinel.py), whose clients
ask the sentinels again after a failover and so reach the new primary by themselves.
"""

from __future__ import annotations

from typing import Any, TypeAlias
from urllib.parse import parse_qs, quote, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from codegen_mcp import sentinel

# redis-py types every sync call as "result or Awaitable of it" (one stub for both clients);
# we only ever use the sync client, so its results are plain values.
RedisClient: TypeAlias = Any

DEFAULT_TIMEOUT = 2.0
# Errors that mean "Redis is not there": the fronts answer 503 for these (errors.StoreUnavailable).
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


def connect(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    sentinel_password: str | None = None,
    read_timeout: float | None = None,
    retries: int = 3,
) -> RedisClient:
    """A client whose every call gives up within about `timeout` seconds (plus ~1 s of retry
    when the connection is refused); behind Sentinel, a client of whichever server is the
    primary now (`sentinel_password`: the sentinels' own, if they ask for one).

    `read_timeout` lets a reply take longer than `timeout` (a blocking read); `retries=0`
    fails a call at its first refused connection."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": timeout if read_timeout is None else read_timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 30,
        "retry": Retry(
            ExponentialBackoff(cap=0.5, base=0.1),
            retries=retries,
            supported_errors=(redis.ConnectionError,),
        ),
    }
    if not sentinel.is_sentinel(url):
        return redis.Redis.from_url(url, **options)
    target = sentinel.parse(url)
    sentinels = Sentinel(
        list(target.sentinels), sentinel_kwargs=_sentinel_kwargs(timeout, sentinel_password)
    )
    return sentinels.master_for(
        target.master, db=target.db, username=target.username, password=target.password, **options
    )


def _sentinel_kwargs(timeout: float, password: str | None) -> dict[str, Any]:
    """How to talk to the sentinels themselves: as briefly as to Redis."""
    kwargs: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if password:
        kwargs["password"] = password
    return kwargs


def broker_url(url: str) -> str:
    """The same Redis as kombu (Celery's broker) spells it: a unix socket is
    `redis+socket:///path?virtual_host=<db>` there, `unix:///path?db=<db>` for redis-py; the
    sentinels are `sentinel://host:port/<db>;sentinel://host:port...` (the master's name goes
    in the transport options: broker_options)."""
    if sentinel.is_sentinel(url):
        return _kombu_sentinels(sentinel.parse(url))
    parts = urlsplit(url)
    if parts.scheme != "unix":
        return url
    db = parse_qs(parts.query).get("db", ["0"])[0]
    return f"redis+socket://{parts.path}?virtual_host={db}"


def broker_options(url: str, *, timeout: float, sentinel_password: str | None) -> dict[str, Any]:
    """The transport options Celery's broker needs besides its URL: behind Sentinel, the
    master's name and how to reach the sentinels; nothing for a plain Redis."""
    if not sentinel.is_sentinel(url):
        return {}
    return {
        "master_name": sentinel.parse(url).master,
        "sentinel_kwargs": _sentinel_kwargs(timeout, sentinel_password),
    }


def _kombu_sentinels(target: sentinel.SentinelTarget) -> str:
    login = ""
    if target.password is not None:
        login = f"{quote(target.username or '', safe='')}:{quote(target.password, safe='')}@"
    urls = [f"sentinel://{login}{_netloc(host, port)}" for host, port in target.sentinels]
    urls[0] += f"/{target.db}"  # kombu reads the database (and the login) from the first
    return ";".join(urls)


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
