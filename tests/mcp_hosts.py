"""`codegen-mcp mcp` as a host runs it, over stdio or Streamable HTTP, for the MCP Tasks
tests: clients connect to it, and a test can restart it."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import requests
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from codegen_mcp.local.processes import settings_env
from codegen_mcp.local.redis import free_port
from codegen_mcp.settings import Settings
from tests.support import ROOT, START_DEADLINE, STOP_DEADLINE, wait_for
from tests.test_mcp import MCP_COMMAND


class Servers:
    """Connects clients to `codegen-mcp mcp` over one transport; `restart` gives a new
    server process (stdio: each client starts its own anyway)."""

    def __init__(
        self, transport: str, settings: Settings, logs: Path, *, workers: int | None = None
    ) -> None:
        self.transport = transport
        self.workers = [] if workers is None else ["--workers", str(workers)]
        self.env = settings_env(settings)
        self.logs = logs
        self.process: subprocess.Popen[bytes] | None = None
        self.log = logs / "mcp.log"  # the running server's output
        self.url = ""
        if transport == "http":
            self.restart()

    def restart(self) -> None:
        """Stop the HTTP server (if one runs) and start another, on a new port."""
        self.stop()
        port = free_port()
        self.log = self.logs / f"mcp-{port}.log"
        with open(self.log, "wb") as output:
            self.process = subprocess.Popen(
                [*MCP_COMMAND, "--transport", "http", "--port", str(port), *self.workers],
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{port}/mcp"
        try:  # spawned workers import the app after the socket is bound: slow on a busy box
            wait_for(self._listening, START_DEADLINE, "the MCP HTTP server to listen")
        except BaseException:
            self.process.terminate()  # its workers with it
            self.process.wait(30)
            self.process = None
            raise

    def _listening(self) -> bool:
        assert self.process is not None and self.process.poll() is None, "MCP server exited"
        try:
            requests.post(self.url, timeout=1)
        except (requests.ConnectionError, requests.Timeout):  # refused, or no worker yet
            return False
        return True

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            assert self.process.wait(STOP_DEADLINE) == 0
            self.process = None

    @asynccontextmanager
    async def client(
        self, *extensions: Any, mode: str = "auto", keep_alive: bool = True
    ) -> AsyncIterator[Client]:
        """A client of the running server (stdio: of a server process of its own); without
        `keep_alive`, each HTTP request on a connection of its own."""
        if self.transport == "stdio":
            params = StdioServerParameters(
                command=MCP_COMMAND[0], args=MCP_COMMAND[1:], env=self.env, cwd=ROOT
            )
            async with Client(params, extensions=list(extensions), mode=mode) as client:
                yield client
            return
        timeout = httpx2.Timeout(30.0, read=60.0)
        keep = 20 if keep_alive else 0  # 20: httpx's default
        limits = httpx2.Limits(max_connections=100, max_keepalive_connections=keep)
        async with (
            httpx2.AsyncClient(timeout=timeout, limits=limits) as http,
            Client(
                streamable_http_client(self.url, http_client=http),
                extensions=list(extensions),
                mode=mode,
            ) as client,
        ):
            yield client
