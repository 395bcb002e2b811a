"""The burst's clients, in a process of their own (so their CPU is not the reader's).

`bench.burst` starts this module, waits for the line `ready` (every MCP session open; HTTP
clients connect with their first call), writes `go`, and reads back one JSON line: one record
per `new` call, with its start and end on the machine's monotonic clock (CLOCK_MONOTONIC: the
same clock in every process).

    python -m bench.burst_load {http,mcp} URL [--calls 100] [--clients 64] [--tag burst]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import json
import sys
import threading
import time
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

TIMEOUT = 120.0  # seconds one `new` may take before it counts as unanswered
REPO = "acme/demo"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.burst_load", description=__doc__)
    parser.add_argument("front", choices=["http", "mcp"])
    parser.add_argument("url")
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--tag", default="burst", help="named in each query")
    return parser.parse_args(argv)


def query(tag: str, index: int) -> str:
    return f"{tag} task {index}: add a line to the README"


def record(started: float, status: Any, answer: dict[str, Any], error: str | None = None) -> dict:
    task_id = answer.get("task_id")
    return {
        "start": started,
        "end": time.monotonic(),
        "status": status,
        "task_id": str(task_id) if task_id else None,
        "state": answer.get("state"),  # running (a run id already) or queued
        "error": error,
    }


# -- the HTTP front: one keep-alive connection per client thread, opened by its first call ---
def http_burst(args: argparse.Namespace) -> list[dict[str, Any]]:
    address = urlsplit(args.url)
    connections = [
        http.client.HTTPConnection(address.hostname, address.port, timeout=TIMEOUT)
        for _ in range(args.clients)
    ]
    # Each connects at its first request: gunicorn's gthread worker holds a thread for up to
    # 5 s on a connection that sends nothing, so 64 connections opened early would stall the
    # front before the burst (bench/README.md, slow clients), which is not what is measured.
    calls = iter(range(args.calls))
    lock = threading.Lock()
    records: list[dict[str, Any]] = []

    def client(connection: http.client.HTTPConnection) -> None:
        while True:
            with lock:
                index = next(calls, None)
            if index is None:
                return
            body = {"command": "new", "args": {"repo": REPO, "query": query(args.tag, index)}}
            records.append(_http_new(connection, body))

    threads = [threading.Thread(target=client, args=(c,)) for c in connections]
    _ready_then_go()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return records


def _http_new(connection: http.client.HTTPConnection, body: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    try:
        connection.request(
            "POST", "/", body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        reply = connection.getresponse()
        answer = json.loads(reply.read() or b"{}")
    except (OSError, ValueError) as exc:
        connection.close()  # http.client reconnects on the next request
        return record(started, None, {}, repr(exc))
    return record(started, reply.status, answer)


# -- the MCP front: one Streamable HTTP session per client, opened before the burst ----------
async def mcp_burst(args: argparse.Namespace) -> list[dict[str, Any]]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(args.clients):
            http = await stack.enter_async_context(httpx2.AsyncClient(timeout=TIMEOUT))
            transport = streamable_http_client(args.url, http_client=http)
            clients.append(
                await stack.enter_async_context(Client(transport, read_timeout_seconds=TIMEOUT))
            )
        await asyncio.to_thread(_ready_then_go)
        calls = itertools.count()
        records: list[dict[str, Any]] = []

        async def one_client(client: Client) -> None:
            while (index := next(calls)) < args.calls:
                records.append(await _mcp_new(client, query(args.tag, index)))

        await asyncio.gather(*(one_client(c) for c in clients))
        return records


async def _mcp_new(client: Any, text: str) -> dict[str, Any]:
    started = time.monotonic()
    try:
        result = await client.call_tool("new", {"repo": REPO, "query": text})
    except Exception as exc:  # a broken session is a figure of the run, not a crash of it
        return record(started, None, {}, repr(exc))
    answer = result.structured_content or {}
    status = "error" if result.is_error else "ok"
    return record(started, status, answer, None if answer else "no structured answer")


def _ready_then_go() -> None:
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("the benchmark went away before the burst")


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    records = http_burst(args) if args.front == "http" else asyncio.run(mcp_burst(args))
    print(json.dumps(records), flush=True)


if __name__ == "__main__":
    main()
