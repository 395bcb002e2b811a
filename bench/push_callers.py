"""The four callers of bench/push.py, each as a real client would be written.

- `Poller`: a script that asks `task_status` (HTTP) for each task it still waits on, every 5 s.
- `TasksCaller`: the official MCP SDK client with a client-side Tasks extension over Streamable
  HTTP; it starts every run with `new` (answered with a task) and resolves each by `tasks/get`,
  sleeping `pollIntervalMs` between two, as the extension's clients do.
- `Receiver`: a webhook receiver on loopback that records when each task's settled event came.
- `Streamer`: one `GET /events` stream filtered to the tasks, read message by message.

Each records `known[task_id] = time.time()` when it first learns that the task settled, and
`calls`: the requests it made after the runs were started.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import requests
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.session import ClientSession
from mcp_types import CallToolResult, Request, RequestParams, Result, TextContent
from pydantic import ConfigDict, Field

SETTLED = frozenset({"completed", "failed", "cancelled", "paused"})
TASK_FINAL = frozenset({"completed", "failed", "cancelled", "input_required"})


class Caller:
    """What every caller records."""

    def __init__(self) -> None:
        self.known: dict[str, float] = {}
        self.calls = 0
        self.lock = threading.Lock()

    def learned(self, task_id: str) -> None:
        with self.lock:
            self.known.setdefault(task_id, time.time())


# -- the poller ----------------------------------------------------------------------------
class Poller(Caller, threading.Thread):
    """`task_status` for each task not yet settled, one round every `every` seconds."""

    def __init__(self, url: str, task_ids: Sequence[str], every: float, stop_at: float) -> None:
        Caller.__init__(self)
        threading.Thread.__init__(self, daemon=True)
        self.url, self.task_ids, self.every, self.stop_at = url, list(task_ids), every, stop_at

    def run(self) -> None:
        session = requests.Session()
        due = time.time()
        waiting = list(self.task_ids)
        while waiting and time.time() < self.stop_at:
            time.sleep(max(due - time.time(), 0))
            for task_id in list(waiting):
                body = {"command": "task_status", "args": {"task_id": task_id}}
                answer = session.post(self.url, json=body, timeout=30).json()
                self.calls += 1
                if answer.get("state") in SETTLED:
                    self.learned(task_id)
                    waiting.remove(task_id)
            due += self.every


# -- the MCP Tasks client --------------------------------------------------------------------
class CreatedTask(Result):
    """A `CreateTaskResult`: the task a tool call answered with."""

    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"] = Field(alias="resultType")
    task_id: str = Field(alias="taskId")
    status: str
    poll_interval_ms: int | None = Field(default=None, alias="pollIntervalMs")


class TaskNow(Result):
    """A `tasks/get` answer."""

    model_config = ConfigDict(extra="allow")


class TaskParams(RequestParams):
    task_id: str = Field(alias="taskId")


class GetTask(Request[TaskParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    name_param = "taskId"


class TasksCaller(Caller, ClientExtension):
    """Declares `io.modelcontextprotocol/tasks`; resolves each task by polling `tasks/get`
    at the interval the server asks for (no cap: what a real client does)."""

    identifier = "io.modelcontextprotocol/tasks"

    def __init__(self, stop_at: float) -> None:
        Caller.__init__(self)
        self.stop_at = stop_at
        self.created: list[str] = []
        self.all_created = threading.Event()
        self.expected = 0
        self.errors: list[str] = []  # calls that raised instead of resolving

    def claims(self) -> Sequence[ResultClaim[Any]]:
        return (ResultClaim(result_type="task", model=CreatedTask, resolve=self.resolve),)

    async def resolve(self, task: CreatedTask, ctx: ClaimContext) -> CallToolResult:
        """Sleep `pollIntervalMs`, `tasks/get`, until the task is final."""
        self.created.append(task.task_id)
        if len(self.created) == self.expected:
            self.all_created.set()
        interval = task.poll_interval_ms or 1000
        while time.time() < self.stop_at:
            await asyncio.sleep(interval / 1000)
            now = await _get(ctx.session, task.task_id)
            self.calls += 1
            if now["status"] in TASK_FINAL:
                self.learned(task.task_id)
                return _tool_result(now)
            interval = now.get("pollIntervalMs") or interval
        return CallToolResult(content=[], is_error=True)

    def start(self, url: str, queries: Sequence[dict[str, Any]]) -> threading.Thread:
        """Every `new` at once from one session, in a thread of its own."""
        self.expected = len(queries)
        thread = threading.Thread(target=asyncio.run, args=(self._calls(url, queries),))
        thread.daemon = True
        thread.start()
        return thread

    async def _calls(self, url: str, queries: Sequence[dict[str, Any]]) -> None:
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        timeout = httpx2.Timeout(30.0, read=120.0)
        async with (
            httpx2.AsyncClient(timeout=timeout) as http,
            Client(streamable_http_client(url, http_client=http), extensions=[self]) as client,
        ):
            calls = (client.call_tool("new", args) for args in queries)
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
        self.errors = [repr(o) for o in outcomes if isinstance(o, BaseException)]


def _tool_result(task: dict[str, Any]) -> CallToolResult:
    """What a final task stands for, as the tool result the call resolves to."""
    if task["status"] == "completed":
        return CallToolResult.model_validate(task["result"])
    text = task.get("error", {}).get("message") or task.get("statusMessage") or task["status"]
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


async def _get(session: ClientSession, task_id: str) -> dict[str, Any]:
    answer = await session.send_request(GetTask(params=TaskParams(taskId=task_id)), TaskNow)
    return answer.model_dump(by_alias=True, mode="json", exclude_none=True)


# -- the webhook receiver ----------------------------------------------------------------------
class Receiver(Caller):
    """An HTTP server on loopback: each POST's arrival is recorded, then answered 200."""

    def __init__(self) -> None:
        super().__init__()
        self.posts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                event = json.loads(raw)
                receiver.posts += 1
                if event["task"]["state"] in SETTLED:
                    receiver.learned(event["task"]["task_id"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the SSE client ---------------------------------------------------------------------------
class Streamer(Caller, threading.Thread):
    """One GET /events for the tasks' settled states; ends once every task is known."""

    def __init__(self, base_url: str, task_ids: Sequence[str], stop_at: float) -> None:
        Caller.__init__(self)
        threading.Thread.__init__(self, daemon=True)
        self.base_url, self.task_ids, self.stop_at = base_url, list(task_ids), stop_at
        self.ready = threading.Event()
        self.ready_at: float | None = None

    def run(self) -> None:
        params = {"task_id": ",".join(self.task_ids), "state": ",".join(sorted(SETTLED))}
        with requests.get(
            self.base_url + "/events", params=params, stream=True, timeout=(5, 60)
        ) as response:
            response.raise_for_status()
            self.calls = 1
            event = ""
            for line in response.iter_lines(decode_unicode=True):
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    self._message(event, json.loads(line[5:]))
                if len(self.known) == len(self.task_ids) or time.time() > self.stop_at:
                    return

    def _message(self, event: str, data: dict[str, Any]) -> None:
        if event == "stream.ready":
            self.ready_at = time.time()
            self.ready.set()
        elif event == "task.state" and data.get("state") in SETTLED:
            self.learned(data["task_id"])
