"""Serving the MCP front over Streamable HTTP with uvicorn: in this process, or in N worker
processes that share one listening socket (`codegen-mcp mcp --transport http --workers N`).

Stateless Streamable HTTP (the SDK's `stateless_http`): each POST is served on its own, with
no Mcp-Session-Id, so whichever process the kernel hands a connection to can answer it. The
2026-07-28 wire is stateless by design anyway; on the 2025 handshake wire a session gives
nothing our tools use: the server never sends a request to the client (no elicitation,
sampling or roots) nor a notification outside a call (no GET stream), and progress travels on
the call's own response stream. Everything a later request needs is in Redis (the task store,
MCP Tasks, the per-client limits): only the wrong-token counter is per process.
"""

from __future__ import annotations

import logging
import socket
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import uvicorn
from mcp.server.transport_security import TransportSecuritySettings
from uvicorn.supervisors import Multiprocess

from codegen_mcp.errors import ConfigurationError
from codegen_mcp.mcp_http import AuthFailures, SlowGuessing
from codegen_mcp.settings import Settings

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def http_app(
    server: MCPServer, settings: Settings, security: TransportSecuritySettings | None
) -> Any:
    """The ASGI app: the SDK's stateless Streamable HTTP app at /mcp, slowing token guessing."""
    app: Any = server.streamable_http_app(
        transport_security=security, host=settings.host, stateless_http=True
    )
    # Stateless, the SDK's transport logs "Terminating session: None" after every request.
    logging.getLogger("mcp.server.streamable_http").setLevel(logging.WARNING)
    if settings.auth_token:
        app = SlowGuessing(app, AuthFailures(settings.auth_failure_limit))
    return app


def _options(settings: Settings, port: int, log_level: str) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": port,
        "log_level": log_level.lower(),
        "timeout_keep_alive": 5,
        # uvicorn believes X-Forwarded-For from loopback peers by default; clients.py alone
        # decides whom to believe (CODEGEN_MCP_TRUSTED_PROXIES), as on the web front.
        "proxy_headers": False,
    }


def serve_http(
    server: MCPServer, settings: Settings, port: int, security: TransportSecuritySettings | None
) -> None:
    """Serve `server` in this process until a signal (what MCPServer.run("streamable-http")
    does, stateless, with wrong-token guessing slowed)."""
    app = http_app(server, settings, security)
    config = uvicorn.Config(app, **_options(settings, port, server.settings.log_level))
    anyio.run(uvicorn.Server(config).serve)


@dataclass(frozen=True)
class WorkerApp:
    """What a worker process builds its app from: pickled to each spawned process.

    The Redis is the one the parent found at start-up (REDIS_URL's, the running stack's, or the
    stack it started): a worker joins nothing and starts nothing of its own.
    """

    settings: Settings
    redis_url: str
    security: TransportSecuritySettings | None
    log_level: str

    def build(self) -> Any:
        """The ASGI app, built in the worker process."""
        from codegen_mcp.mcp_server import create_server
        from codegen_mcp.services import Services

        logging.basicConfig(level=self.log_level, stream=sys.stderr, format=LOG_FORMAT)
        services = Services(self.settings, self.redis_url)
        server = create_server(lambda: services, auth_token=self.settings.auth_token)
        return http_app(server, self.settings, self.security)


def serve_http_workers(front: WorkerApp, port: int, workers: int) -> None:
    """Serve in `workers` spawned processes on one socket bound here, until SIGTERM or SIGINT;
    uvicorn's supervisor replaces a worker that dies or hangs."""
    options = _options(front.settings, port, front.log_level)
    # A worker answers the supervisor's pings only once it has imported the app's modules:
    # several seconds on a busy machine, past uvicorn's default of 5 before it kills one.
    config = _WorkerConfig(front, workers=workers, timeout_worker_healthcheck=60, **options)
    Multiprocess(config, sockets=[listening_socket(front.settings.host, port)]).run()


def listening_socket(host: str, port: int) -> socket.socket:
    """The TCP socket the workers share, bound here (they listen and accept on it).

    Made with IPPROTO_TCP named: asyncio turns Nagle off (TCP_NODELAY) only on connections
    accepted from a socket whose protocol says TCP, and uvicorn's own (protocol 0) left every
    small response waiting up to 40 ms on the client's delayed ACK (idle reads: 52 ms, not 11).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


class _WorkerConfig(uvicorn.Config):
    """uvicorn's Config, its app built in each worker by `WorkerApp.build` (uvicorn otherwise
    imports a module-level app by name, and ours needs the settings given on the command line)."""

    def __init__(self, front: WorkerApp, **options: Any) -> None:
        # The name is only shown; load_app builds the app from `front`, pickled along.
        super().__init__(f"{__name__}:WorkerApp.build", factory=True, **options)
        self.front = front

    def load_app(self) -> Any:
        """The factory uvicorn's load() calls, in the worker process."""
        return self.front.build
