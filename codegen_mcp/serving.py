"""Serving the web front: the loopback rule, gunicorn for production, a thread for `up`."""

from __future__ import annotations

import ipaddress
import threading
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from codegen_mcp.errors import ConfigurationError
from codegen_mcp.settings import Settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings) -> None:
    """Anyone who can reach a non-loopback port could spend the Codegen token: demand auth."""
    if not is_loopback(settings.host) and not settings.auth_token:
        raise ConfigurationError(
            f"refusing to listen on {settings.host}: set CODEGEN_MCP_AUTH_TOKEN first "
            "(callers must then send Authorization: Bearer <it>), or bind to 127.0.0.1"
        )


class ThreadedServer:
    """The Flask app on a background thread (for `up` and tests)."""

    def __init__(self, app: Flask, host: str, port: int) -> None:
        try:
            self.server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        except OSError as exc:
            raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="web",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

    def start(self) -> str:
        self.thread.start()
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_gunicorn(app: Flask, settings: Settings, workers: int, threads: int) -> None:
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"{settings.host}:{settings.port}",
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread",
                "accesslog": "-",
                "timeout": 60,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return app

    _App().run()
