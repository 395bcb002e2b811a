"""The MCP front over stdio, answering malformed JSON-RPC frames as JSON-RPC 2.0 prescribes.

The SDK's stdio transport turns a frame it cannot read into an exception that its server only
logs, and it reads a request with an object as its id as a notification: either way the host
gets no answer and waits for its own timeout. Here each line is checked before the SDK sees
it; a malformed one is answered with a parse error (-32700) or an invalid request (-32600),
with the request's id when it has a usable one and null otherwise. Everything else is the
SDK's own: valid frames, the answers, and -32601 for an unknown method.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from io import TextIOWrapper
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp import types
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
log = logging.getLogger(__name__)
Rejection = types.JSONRPCError


def serve_stdio(server: MCPServer) -> None:
    """Serve `server` on stdin/stdout until the host closes stdin."""
    anyio.run(_serve, server)


async def _serve(server: MCPServer) -> None:
    # What MCPServer.run_stdio_async does, with our checked stdin: the SDK has no other seam
    # (mcp 2.3: no public name for the low-level server; its own in-memory client reads
    # `_lowlevel_server` too). tests/test_mcp_stdio.py fails if an upgrade moves it.
    lowlevel = server._lowlevel_server
    send, receive = anyio.create_memory_object_stream[Rejection](64)
    stdin = CheckedLines(_claim_stdin(), send)
    # The SDK only iterates its stdin (`async for line in stdin`), which CheckedLines does.
    async with (
        stdio_server(stdin=stdin) as (read_stream, write_stream),  # type: ignore[arg-type]
        anyio.create_task_group() as group,
    ):
        group.start_soon(_answer_rejections, receive, write_stream)
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
        group.cancel_scope.cancel()


def _claim_stdin() -> anyio.AsyncFile[str]:
    """The host's stdin, read on a descriptor of our own; fd 0 then reads /dev/null.

    As the SDK does when it claims stdin itself: a child process or a stray read in a handler
    can never take a frame off the wire.
    """
    wire = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    text = TextIOWrapper(os.fdopen(wire, "rb"), encoding="utf-8", errors="replace")
    return anyio.wrap_file(text)


async def _answer_rejections(
    rejections: MemoryObjectReceiveStream[Rejection], write_stream: Any
) -> None:
    async with rejections:
        async for rejection in rejections:
            try:
                await write_stream.send(SessionMessage(rejection))
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return


class CheckedLines:
    """The lines of stdin that are JSON-RPC messages; the others are answered and dropped."""

    def __init__(
        self, lines: anyio.AsyncFile[str], rejections: MemoryObjectSendStream[Rejection]
    ) -> None:
        self.lines = lines
        self.rejections = rejections

    async def __aiter__(self) -> AsyncIterator[str]:
        async with self.rejections:
            async for line in self.lines:
                if not line.strip():
                    continue  # a blank line between frames is not a frame
                rejection = check_frame(line)
                if rejection is None:
                    yield line
                else:
                    log.warning("answered a malformed frame: %s", rejection.error.message)
                    await self.rejections.send(rejection)


def check_frame(line: str) -> Rejection | None:
    """None for a JSON-RPC message the SDK can take, else the error answer the spec prescribes."""
    try:
        frame = json.loads(line)
    except ValueError as exc:
        return _error(PARSE_ERROR, None, f"Parse error: the frame is not valid JSON ({exc})")
    except RecursionError:
        return _error(PARSE_ERROR, None, "Parse error: the frame is nested too deeply")
    if not isinstance(frame, dict):
        return _error(INVALID_REQUEST, None, _not_an_object(frame))
    if "method" not in frame and ("result" in frame or "error" in frame):
        return None  # the host's answer to a request of ours: never answered back
    request_id = frame.get("id")
    usable_id = request_id if _is_id(request_id) else None
    problem = _problem(frame)
    if problem:
        return _error(INVALID_REQUEST, usable_id, f"Invalid Request: {problem}")
    return None


def _not_an_object(frame: Any) -> str:
    if isinstance(frame, list) and frame:
        return "Invalid Request: a batch (a JSON array) is not supported; send one object a line"
    return f"Invalid Request: a frame must be a JSON object, not {type(frame).__name__}"


def _is_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _problem(frame: dict[str, Any]) -> str | None:
    """What makes `frame` no JSON-RPC 2.0 message, naming the member at fault."""
    if frame.get("jsonrpc") != "2.0":
        return '"jsonrpc" must be "2.0"'
    if "id" in frame and not _is_id(frame["id"]):
        return '"id" must be a string or an integer'
    if "method" not in frame:
        return '"method" is missing'
    if "method" in frame and not isinstance(frame["method"], str):
        return '"method" must be a string'
    if "params" in frame and not isinstance(frame["params"], dict):
        return '"params" must be an object'
    try:
        types.jsonrpc_message_adapter.validate_python(frame, by_name=False)
    except ValidationError:
        return "not a JSON-RPC request, notification or response"
    return None


def _error(code: int, request_id: Any, message: str) -> Rejection:
    return types.JSONRPCError(
        jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=message)
    )
