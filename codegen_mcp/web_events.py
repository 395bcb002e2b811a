"""GET /events: task events as they happen, as Server-Sent Events (docs/events.md).

Each message is one entry of the event stream: `id:` its entry id (what Last-Event-ID
resumes after), `event:` its type, `data:` the event and the task as `task_status` shows it.
A stream holds one server thread for as long as it is open, so a process serves at most
`max_event_streams` at once; beyond that it answers 503 with Retry-After, and clients poll.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, request
from flask.blueprints import BlueprintSetupState

from codegen_mcp import answers, event_filter, events
from codegen_mcp.errors import TooManyStreams
from codegen_mcp.event_feed import Feed, Missed
from codegen_mcp.events import Event
from codegen_mcp.redis_conn import UNREACHABLE
from codegen_mcp.services import Services

log = logging.getLogger(__name__)

PATH = "/events"
# app.extensions key: the feeds open in this process, closed when the server stops.
OPEN_FEEDS = "codegen_mcp.open_feeds"
RETRY_MS = 3000  # how long a browser's EventSource waits before it reconnects
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: pass each message on at once
}


class OpenFeeds:
    """The feeds of the streams open now, so a stopping server can end them (a stream never
    ends by itself: its thread would hold the server's shutdown until it gives up)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.feeds: set[Feed] = set()

    def add(self, feed: Feed) -> None:
        """Track an opened feed."""
        with self.lock:
            self.feeds.add(feed)

    def discard(self, feed: Feed) -> None:
        """Forget a feed whose stream ended."""
        with self.lock:
            self.feeds.discard(feed)

    def close_all(self) -> None:
        """End every open stream: its blocked read fails, and its thread is free."""
        with self.lock:
            feeds = list(self.feeds)
        for feed in feeds:
            feed.close()


def close_streams(app: Flask) -> None:
    """End the event streams `app` serves now (the server stops)."""
    feeds = app.extensions.get(OPEN_FEEDS)
    if feeds is not None:
        feeds.close_all()


def blueprint(services: Services) -> Blueprint:
    """GET /events over `services`, at most `max_event_streams` open at once in this process
    (with none allowed, the route does not exist: a 404, as on a server without it)."""
    pages = Blueprint("events", __name__)
    settings = services.settings
    if settings.max_event_streams < 1:
        return pages
    slots = threading.BoundedSemaphore(settings.max_event_streams)
    open_feeds = OpenFeeds()

    @pages.record_once
    def _register(state: BlueprintSetupState) -> None:
        state.app.extensions[OPEN_FEEDS] = open_feeds

    @pages.get(PATH)
    def stream() -> Response:
        """The stream of the events the query's filters want, from now or after Last-Event-ID."""
        wanted = event_filter.parse(
            request.args.to_dict(flat=False), request.headers.get("Last-Event-ID")
        )
        if not slots.acquire(blocking=False):
            raise TooManyStreams(
                f"this server already serves {settings.max_event_streams} event streams "
                "(CODEGEN_MCP_MAX_EVENT_STREAMS): try again later, or poll task_status",
                retry_after=settings.events_heartbeat,
            )
        try:
            feed = Feed(settings, services.redis_url, wanted)
        except BaseException:
            slots.release()
            raise
        response = Response(messages(feed, settings.events_heartbeat), mimetype="text/event-stream")
        response.headers.update(HEADERS)
        open_feeds.add(feed)

        @response.call_on_close
        def _ended() -> None:
            open_feeds.discard(feed)
            feed.close()
            slots.release()

        return response

    return pages


def messages(feed: Feed, heartbeat: float) -> Iterator[str]:
    """The stream's text: `stream.ready` (and `stream.missed` when resuming lost events), then
    each wanted event, a heartbeat comment after each quiet wait, until the client leaves
    (the server's write fails and closes this) or Redis fails (`stream.error`, then the end:
    the client reconnects with Last-Event-ID)."""
    ready = {"last_event_id": feed.after, "heartbeat": heartbeat, "kept": events.KEPT}
    yield f"retry: {RETRY_MS}\n" + message("stream.ready", ready, feed.after)
    if feed.missed:
        yield message("stream.missed", missed_data(feed.missed, feed.after), feed.after)
    sent = feed.after
    while True:
        try:
            batch = feed.next_batch()
        except UNREACHABLE as exc:
            if feed.closed:
                return  # the server stops
            log.warning("event stream ends: Redis failed (%s)", type(exc).__name__)
            text = "the task store (Redis) failed; reconnect with Last-Event-ID to resume"
            yield message("stream.error", {"message": text})
            return
        for event, task in batch:
            yield message(event_type(event), event_data(event, task), event.id)
            sent = event.id
        if sent != feed.after:
            # Past events the filters left out: an id alone moves the client's resume point
            # (an EventSource dispatches nothing for it), so a quiet filter never goes stale.
            yield f"id: {feed.after}\n\n"
            sent = feed.after
        elif not batch:
            yield ": heartbeat\n\n"  # keeps proxies from closing a quiet connection
        if feed.closed:
            return  # the server stops


def message(kind: str, data: dict[str, Any], entry_id: str | None = None) -> str:
    """One SSE message: JSON data on one line (json.dumps escapes newlines)."""
    head = f"id: {entry_id}\n" if entry_id else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def event_type(event: Event) -> str:
    """task.created (a new task), task.state (it moved to another state), task.outcome (a new
    outcome in the same state) or task.status (a new Codegen status, same state)."""
    if event.previous is None:
        return "task.created"
    if event.previous != event.state:
        return "task.state"
    return "task.outcome" if event.seq else "task.status"


def event_data(event: Event, task: dict[str, Any] | None) -> dict[str, Any]:
    """The event's fields and the task as `task_status` shows it now (None once it is gone)."""
    run = event.orchestrator_run_id
    return {
        "event_id": event.id,
        "type": event_type(event),
        "task_id": event.task_id,
        "state": event.state,
        "previous_state": event.previous,
        "codegen_status": event.api_status,
        "orchestrator_run_id": int(run) if run and run.isdigit() else run,
        "outcome_seq": event.seq,
        "at": _iso(event.at),
        "task": answers.task_status(task) if task else None,
    }


def missed_data(missed: Missed, resumed_after: str) -> dict[str, Any]:
    """What a `stream.missed` message says: which id, why, and what to do."""
    why = (
        f"the stream keeps about {events.KEPT} events and no longer holds those after it"
        if missed.reason == "trimmed"
        else "this server's stream never gave that id (its Redis is another or was emptied)"
    )
    return {
        "last_event_id": missed.last_event_id,
        "oldest_kept": missed.oldest_kept,
        "resumed_after": resumed_after,
        "reason": missed.reason,
        "message": f"events after {missed.last_event_id} may have been missed: {why}. "
        "Read the tasks again (task_status, list); the events from now on follow.",
    }


def _iso(epoch: float) -> str | None:
    if not epoch or not math.isfinite(epoch):
        return None
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
