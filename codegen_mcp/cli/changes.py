"""How the command line learns that a task moved: the front's event stream (GET /events),
or, against a server without one, long-polling `task_status` as before.

The stream is read on a thread of its own, so a wait can end at a deadline (`--timeout`, the
next agent log read) or on Ctrl-C whatever the connection does. A stream that drops is opened
again after the last event seen (Last-Event-ID); if that fails, the watch goes on polling.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
from typing import Any

import requests

from codegen_mcp.cli.http import FrontClient, FrontError

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0  # the server sends a heartbeat every 15 s by default
NO_STREAM = (404, 405, 501, 503)  # an older server, or one with every stream slot taken
LOST = object()  # what the reader thread queues when the stream is gone for good


class TaskChanges:
    """The changes of one task, each as the task's `task_status` view."""

    def __init__(self, client: FrontClient, task_id: str) -> None:
        self.client = client
        self.task_id = task_id
        self.stream = EventStream.open(client, {"task_id": task_id})

    def current(self) -> dict[str, Any]:
        """The task now (read after the stream opened: no change falls between the two)."""
        return self.client.task_status(self.task_id)

    def next(self, view: dict[str, Any], wait: float) -> dict[str, Any]:
        """The task once it changes, or `view` again when `wait` seconds pass without a change
        (polling: the front holds the request up to `wait` seconds)."""
        if self.stream is not None:
            message = self.stream.next(wait)
            if message is None:
                return view
            if message is not LOST:
                task = message["data"].get("task")
                if message["event"] != "stream.missed" and isinstance(task, dict):
                    return {"status": "success", **task}
                return self.current()  # missed events, or a task gone: read it again
            self.stream = None  # lost: poll from now on
        return self.client.task_status(self.task_id, wait=wait)

    def close(self) -> None:
        """Close the stream, if there is one."""
        if self.stream is not None:
            self.stream.close()


class EventStream:
    """GET /events with `params`, its messages queued by a reader thread."""

    def __init__(self, client: FrontClient, params: dict[str, Any]) -> None:
        self.client = client
        self.params = params
        self.last_id: str | None = None
        self.messages: queue.Queue[Any] = queue.Queue()
        self.closing = threading.Event()
        self.response: requests.Response | None = None

    @classmethod
    def open(cls, client: FrontClient, params: dict[str, Any]) -> EventStream | None:
        """The stream, once the front said it is ready; None when the front has none to give
        (an older server's 404, every slot taken, no answer): the caller polls instead.
        A refused token is a FrontError, as for any command."""
        stream = cls(client, params)
        if not stream._connect():
            return None
        threading.Thread(target=stream._read, name="events", daemon=True).start()
        return stream

    def next(self, wait: float) -> Any:
        """The next message ({"id", "event", "data"}), None after `wait` seconds without one,
        or LOST when the stream is gone and could not be opened again."""
        try:
            return self.messages.get(timeout=max(wait, 0.0))
        except queue.Empty:
            return None

    def close(self) -> None:
        """Stop reading: the reader thread's blocked read ends at once, and it closes the
        connection (closing it from here would wait for that read: a heartbeat)."""
        self.closing.set()
        connection = getattr(self.response.raw, "connection", None) if self.response else None
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _connect(self) -> bool:
        headers = {"Accept": "text/event-stream"}
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        try:
            response = self.client.session.get(
                self.client.url + "/events",
                params=self.params,
                headers=headers,
                stream=True,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            )
        except requests.RequestException:
            return False
        if response.status_code == 401:
            body = _json(response)
            raise FrontError(401, str(body.get("message") or "HTTP 401"), body)
        if response.status_code != 200 or "event-stream" not in response.headers.get(
            "Content-Type", ""
        ):
            response.close()
            return False
        if self.response is not None:
            self.response.close()  # the one that dropped
        self.response = response
        self.lines = response.iter_lines(decode_unicode=True)
        ready = self._message()  # stream.ready: the front reads from here on
        return ready is not None and ready["event"] == "stream.ready"

    def _read(self) -> None:
        while not self.closing.is_set():
            message = self._message()
            if message is not None:
                self.messages.put(message)
            elif self.closing.is_set() or not self._connect():
                break  # closed by us, or gone: the watch polls from here on
        if self.response is not None:
            self.response.close()
        if not self.closing.is_set():
            self.messages.put(LOST)

    def _message(self) -> dict[str, Any] | None:
        """The next dispatched message; None when the connection ends or fails."""
        fields: dict[str, str] = {}
        try:
            for line in self.lines:
                if not line:
                    if "data" in fields:
                        data = json.loads(fields["data"])
                        return {"id": fields.get("id"), "event": fields.get("event"), "data": data}
                    fields = {}
                    continue
                name, _, value = line.partition(":")
                if name:  # a line starting with ":" is a heartbeat comment
                    fields[name] = value[1:] if value.startswith(" ") else value
                    if name == "id":
                        self.last_id = fields["id"]
        except (requests.RequestException, ValueError, AttributeError):
            pass  # dropped, timed out, or closed under us (urllib3 then has no socket)
        return None


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
