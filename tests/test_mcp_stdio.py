"""`codegen-mcp mcp` over stdio answers malformed JSON-RPC frames as JSON-RPC 2.0 prescribes.

A host that sends a frame the server cannot read must get an error it can act on (or, for a
notification, nothing), never silence until its own timeout; and the server goes on serving.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from codegen_mcp.local.processes import settings_env
from codegen_mcp.settings import Settings
from tests.support import ROOT

MCP_COMMAND = [sys.executable, "-m", "codegen_mcp.cli", "mcp"]
DEADLINE = 30.0
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND = -32700, -32600, -32601

# (frame as sent, the error code and id of the answer, or None: no answer at all)
FRAMES: list[tuple[str, tuple[int, Any] | None]] = [
    ('{"jsonrpc": "2.0", "id": 3, "method": "ping"', (PARSE_ERROR, None)),  # invalid JSON
    ("{}", (INVALID_REQUEST, None)),  # empty object
    ("[]", (INVALID_REQUEST, None)),  # empty array
    ('[{"jsonrpc": "2.0", "id": 4, "method": "ping"}]', (INVALID_REQUEST, None)),  # a batch
    ('"ping"', (INVALID_REQUEST, None)),  # a string
    ("42", (INVALID_REQUEST, None)),  # a number
    ("null", (INVALID_REQUEST, None)),
    ('{"id": 5, "method": "ping"}', (INVALID_REQUEST, 5)),  # no jsonrpc
    ('{"jsonrpc": "1.0", "id": 6, "method": "ping"}', (INVALID_REQUEST, 6)),
    ('{"jsonrpc": "2.0", "id": {"n": 7}, "method": "ping"}', (INVALID_REQUEST, None)),
    ('{"jsonrpc": "2.0", "id": 8, "method": 42}', (INVALID_REQUEST, 8)),  # method a number
    ('{"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": "all"}', (INVALID_REQUEST, 9)),
    ('{"jsonrpc": "2.0", "id": 10, "method": "no/such/method"}', (METHOD_NOT_FOUND, 10)),
    ('{"jsonrpc": "2.0", "method": "no/such/method"}', None),  # a notification: never answered
    ('{"jsonrpc": "2.0", "id": "host-1", "result": {}}', None),  # a response: never answered
]


class StdioHost:
    """The MCP server as a host runs it, with stdout read line by line on a thread."""

    def __init__(self, settings: Settings) -> None:
        self.process = subprocess.Popen(
            MCP_COMMAND,
            cwd=ROOT,
            env=settings_env(settings),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def send(self, frame: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(frame.encode() + b"\n")
        self.process.stdin.flush()

    def answer(self) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=DEADLINE)
        except queue.Empty:
            raise AssertionError(f"no answer within {DEADLINE}s") from None
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> bytes:
        """Close stdin (the host quits); what the server still wrote after."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(DEADLINE)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self.reader.join(DEADLINE)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return b"".join(self.lines.queue)


@pytest.fixture
def host(settings: Settings) -> Iterator[StdioHost]:
    running = StdioHost(settings)
    try:
        running.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-11-25",
                        "capabilities": {},
                        "clientInfo": {"name": "malformed-frames", "version": "1"},
                    },
                }
            )
        )
        assert running.answer()["id"] == 1
        running.send('{"jsonrpc": "2.0", "method": "notifications/initialized"}')
        yield running
    finally:
        running.close()


def test_every_malformed_frame_gets_the_error_the_spec_prescribes(host: StdioHost) -> None:
    for number, (frame, expected) in enumerate(FRAMES):
        host.send(frame)
        probe = f"probe-{number}"  # a valid request after each frame: the server goes on
        host.send(json.dumps({"jsonrpc": "2.0", "id": probe, "method": "ping"}))
        wanted = 2 if expected else 1
        answers = [host.answer() for _ in range(wanted)]
        assert {"jsonrpc": "2.0", "id": probe, "result": {}} in answers, (frame, answers)
        if expected:
            error = next(a for a in answers if a.get("id") != probe)
            assert (error["error"]["code"], error["id"]) == expected, (frame, error)
            assert error["jsonrpc"] == "2.0" and error["error"]["message"], error
    host.send('{"jsonrpc": "2.0", "id": 11, "method": "tools/list"}')
    tools = host.answer()
    assert tools["id"] == 11 and {t["name"] for t in tools["result"]["tools"]} >= {"new", "list"}
    _the_error_names_what_is_wrong(host)
    assert host.close() == b"", "an answer nobody asked for (the notification's?)"


def _the_error_names_what_is_wrong(host: StdioHost) -> None:
    cases = {
        '{"jsonrpc": "1.0", "id": 1, "method": "ping"}': '"jsonrpc" must be "2.0"',
        '{"jsonrpc": "2.0", "id": 2, "method": 42}': '"method" must be a string',
        '{"jsonrpc": "2.0", "id": 3, "method": "ping", "params": "x"}': '"params" must be',
        '{"jsonrpc": "2.0", "id": [4], "method": "ping"}': '"id" must be a string or an integer',
        '[{"jsonrpc": "2.0", "id": 5, "method": "ping"}]': "batch",
        "{oops": "not valid JSON",
    }
    for frame, words in cases.items():
        host.send(frame)
        message = host.answer()["error"]["message"]
        assert words in message, (frame, message)
