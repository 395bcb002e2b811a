"""Serving the web front: the loopback rule, gunicorn for production, waitress on a thread
for `up` (and tests), each with read timeouts, bounded threads and connections."""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from waitress.server import create_server

from codegen_mcp import web_events
from codegen_mcp.errors import ConfigurationError
from codegen_mcp.settings import Settings

# Anyone who can reach a public port may guess the token: make guessing hopeless.
MIN_PUBLIC_TOKEN = 32
# What a front says it is: a name, never versions an attacker could look up.
SERVER_NAME = "codegen-mcp"
ACCESS_LOG = logging.getLogger("codegen_mcp.access")
# Bodies up to this size are read in full by `up`'s server, so the app can answer a 413 in
# its own words and the connection stays usable; beyond it, the server refuses and closes.
SERVER_BODY_CAP = 16 * 1024 * 1024


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an IP, brackets allowed) is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings) -> None:
    """Anyone who can reach a non-loopback port could spend the Codegen token: demand auth,
    with a token too long to guess."""
    if is_loopback(settings.host):
        return
    if not settings.auth_token:
        raise ConfigurationError(
            f"refusing to listen on {settings.host}: set CODEGEN_MCP_AUTH_TOKEN first "
            "(callers must then send Authorization: Bearer <it>), or bind to 127.0.0.1"
        )
    if len(settings.auth_token) < MIN_PUBLIC_TOKEN:
        raise ConfigurationError(
            f"refusing to listen on {settings.host}: CODEGEN_MCP_AUTH_TOKEN must be at least "
            f"{MIN_PUBLIC_TOKEN} characters beyond loopback (make one with: python -c "
            "'import secrets; print(secrets.token_urlsafe(32))'), or bind to 127.0.0.1"
        )


def access_logged(app: Any) -> Callable[..., Any]:
    """The WSGI app, writing one access-log line per request to `codegen_mcp.access` at INFO
    (silent unless that logger is turned on: `--access-log`)."""

    def logged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[Any], exc_info: Any = None) -> Any:
            if ACCESS_LOG.isEnabledFor(logging.INFO):
                ACCESS_LOG.info(
                    '%s "%s %s %s" %s',
                    environ.get("REMOTE_ADDR", "-"),
                    environ.get("REQUEST_METHOD"),
                    _shown_path(environ.get("PATH_INFO") or ""),
                    environ.get("SERVER_PROTOCOL"),
                    status.split(" ", 1)[0],
                )
            return start_response(status, headers, exc_info)

        return app(environ, start)  # type: ignore[no-any-return]

    return logged


def _shown_path(path: str) -> str:
    """The path as the access log shows it: a webhook address without its token (a secret)."""
    return "/hooks/codegen/…" if path.startswith("/hooks/codegen/") else path


def _gunicorn_logger() -> type:
    """gunicorn's logger, its access lines showing paths as `_shown_path` does (`web
    --access-log`); gunicorn's own prints the request line as sent, a webhook's token in it."""
    from gunicorn.glogging import Logger

    class _Logger(Logger):  # type: ignore[misc]
        def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
            atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
            path = environ.get("PATH_INFO") or ""
            shown = _shown_path(path)
            if shown != path:
                atoms["U"] = shown
                atoms["r"] = f"{environ['REQUEST_METHOD']} {shown} {environ['SERVER_PROTOCOL']}"
            atoms.pop("{authorization}i", None)  # a format naming it gets "-"
            return atoms

    return _Logger


class ThreadedServer:
    """The Flask app on a background thread (for `up` and tests), served by waitress.

    Waitress reads each request, body included, on its one I/O thread before a worker thread
    sees it: a client that stalls holds a connection slot (up to `connections`), never a
    thread, and is dropped after `read_timeout` seconds without a byte.
    """

    def __init__(
        self,
        app: Flask,
        host: str,
        port: int,
        *,
        threads: int = 32,
        connections: int = 1000,
        read_timeout: float = 10.0,
    ) -> None:
        timeout = max(1, round(read_timeout))
        try:
            self.server: Any = create_server(
                access_logged(app),
                host=host,
                port=port,
                threads=threads,
                connection_limit=connections,
                asyncore_use_poll=True,  # select() stops at 1024 descriptors
                channel_timeout=timeout,
                cleanup_interval=max(1, timeout // 2),
                max_request_body_size=SERVER_BODY_CAP,
                ident=SERVER_NAME,
                expose_tracebacks=False,
                # X-Forwarded-For reaches the app, which believes it only as far as
                # CODEGEN_MCP_TRUSTED_PROXIES says (clients.py): one rule for every server.
                clear_untrusted_proxy_headers=False,
            )
        except OSError as exc:
            raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        self.app = app
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="web", daemon=True)

    @property
    def url(self) -> str:
        """The base URL the server answers on, with the port actually bound."""
        host = self.server.effective_host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.server.effective_port}"

    def start(self) -> str:
        """Start serving in the background thread; the base URL."""
        self.thread.start()
        return self.url

    def stop(self) -> None:
        """Close the listener and every connection, and wait for the threads to end."""
        self._stopping.set()
        web_events.close_streams(self.app)  # their threads would hold the shutdown
        if self.thread.is_alive():
            self.thread.join(15)
        else:
            self._close_all()

    def _serve(self) -> None:
        # waitress's own loop, in short turns so that a stop is seen within one.
        while not self._stopping.is_set():
            self.server.asyncore.loop(timeout=0.05, map=self.server._map, use_poll=True, count=1)
        self._close_all()

    def _close_all(self) -> None:
        # Worker threads first: one that finished a request pulls the trigger, and a trigger
        # closed under it would write to a descriptor number some other object owns by then.
        # Then every socket, on one thread, once (the socket map is not thread-safe). The
        # streams are ended again: one whose thread was between two reads when stop() ended
        # it may have opened a new connection since, and would block on it for a heartbeat.
        web_events.close_streams(self.app)
        self.server.task_dispatcher.shutdown(timeout=5)
        self.server.asyncore.close_all(self.server._map)


def _timed_worker(read_timeout: float) -> type:
    """gunicorn's gthread worker, with a read timeout on every connection.

    gthread waits for a request's first bytes off its threads, but then reads headers and
    body on a thread with no timeout: 16 clients that stall mid-body held every thread.
    SO_RCVTIMEO bounds each read (the socket stays blocking, as gthread needs); a stalled
    client's read fails, and its thread is free again.
    """
    from gunicorn.workers.gthread import ThreadWorker

    seconds = int(read_timeout)
    timeval = struct.pack("ll", seconds, int((read_timeout - seconds) * 1e6))

    class ReadTimeoutWorker(ThreadWorker):  # type: ignore[misc]
        def enqueue_req(self, conn: Any) -> None:
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
            super().enqueue_req(conn)

    return ReadTimeoutWorker


def run_gunicorn(
    app: Flask, settings: Settings, workers: int, threads: int, *, access_log: bool = False
) -> None:
    """Serve `app` on the settings' host and port with gunicorn until it stops; slow request reads
    time out after the settings' read timeout."""
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"{settings.host}:{settings.port}",
                "workers": workers,
                "threads": threads,
                "worker_class": _timed_worker(settings.read_timeout),
                "worker_connections": 1000,  # per worker: then new ones wait in the backlog
                "accesslog": "-" if access_log else None,
                "logger_class": _gunicorn_logger(),
                "timeout": 60,
                "keepalive": 5,
                "limit_request_line": 8190,
                "limit_request_fields": 100,
                "limit_request_field_size": 8190,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return app

    _App().run()
