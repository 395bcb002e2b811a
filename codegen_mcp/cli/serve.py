"""`codegen-mcp up|web|mcp|simulate`: the servers this machine runs.

Each handler imports what it serves inside its body: the client commands (remote.py) never load
the servers, the local runtime or the workers.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
from typing import TYPE_CHECKING

from codegen_mcp.errors import ConfigurationError
from codegen_mcp.settings import Settings

if TYPE_CHECKING:
    from codegen_mcp.local.join import Backend

log = logging.getLogger("codegen_mcp")


def _settings(args: argparse.Namespace) -> Settings:
    """The environment's settings, with the --host, --port and --data-dir given."""
    overrides = {
        name: getattr(args, name)
        for name in ("host", "port", "data_dir")
        if getattr(args, name, None) is not None
    }
    return Settings.from_env(**overrides)


def up(args: argparse.Namespace) -> int:
    """Run web, worker and sweep (and with --simulate the simulator) until stopped."""
    from codegen_mcp.local.up import Stack
    from codegen_mcp.serving import ACCESS_LOG

    ACCESS_LOG.setLevel(logging.INFO if args.access_log else logging.WARNING)
    stack = Stack(_settings(args), simulate=args.simulate, concurrency=args.concurrency)
    stack.run()
    return 0


def web(args: argparse.Namespace) -> int:
    """Serve the HTTP front with gunicorn on REDIS_URL's Redis, else on a running `up`'s."""
    from codegen_mcp.local.record import join_stack
    from codegen_mcp.services import Services
    from codegen_mcp.serving import check_bind, run_gunicorn
    from codegen_mcp.web import create_app

    settings, redis_url = join_stack(Settings.from_env())  # the stack's API base URL too
    check_bind(settings)
    services = Services(settings, redis_url)
    run_gunicorn(
        create_app(services), settings, args.workers, args.threads, access_log=args.access_log
    )
    return 0


def mcp(args: argparse.Namespace) -> int:
    """Serve the MCP front on stdio or Streamable HTTP until the host leaves or a signal.

    Its Redis: REDIS_URL's, the running `up`'s, or a stack it starts (and stops on leaving).
    Over HTTP with `--workers` above 1, that many processes serve one port.
    """
    from codegen_mcp.local.join import Backend
    from codegen_mcp.serving import check_bind

    settings = _settings(args)
    http = args.transport == "http"
    if http:
        check_bind(settings)
    backend = Backend(settings)
    try:
        backend.services()  # join or start the stack now: a problem shows at start-up
        _stop_on_signals(backend)
        if http:
            _serve_mcp_http(args, settings, backend)
        else:
            from codegen_mcp.mcp_server import create_server
            from codegen_mcp.mcp_stdio import serve_stdio

            log.info("serving MCP on stdio")
            serve_stdio(create_server(backend.services))  # until the host closes stdin
    finally:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)  # let the clean-up finish
        backend.close()
    return 0


def _serve_mcp_http(args: argparse.Namespace, settings: Settings, backend: Backend) -> None:
    from codegen_mcp.mcp_http import transport_security
    from codegen_mcp.mcp_serving import WorkerApp, serve_http, serve_http_workers

    hosts = [name.strip() for name in args.allowed_hosts.split(",") if name.strip()]
    security = transport_security(settings.host, hosts)
    if security is None:
        log.warning(
            "any Host name is accepted (set CODEGEN_MCP_ALLOWED_HOSTS to limit them); "
            "the bearer token guards the server"
        )
    workers = args.workers
    log.info(
        "serving MCP on http://%s:%d/mcp (%d process%s)",
        settings.host,
        args.port,
        workers,
        "es" if workers > 1 else "",
    )
    if workers == 1:
        from codegen_mcp.mcp_server import create_server

        server = create_server(backend.services, auth_token=settings.auth_token)
        serve_http(server, settings, args.port, security)
        return
    services = backend.services()
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    front = WorkerApp(services.settings, services.redis_url, security, level)
    serve_http_workers(front, args.port, workers)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _stop_on_signals(backend: Backend) -> None:
    """Stop the stack we run, then exit, on SIGTERM or Ctrl-C.

    Not by unwinding: the stdio transport reads stdin on a thread that holds the event loop
    open until the host closes stdin. Under HTTP, uvicorn shuts down first, then hands the
    signal on to this handler.
    """

    def stop(signum: int, frame: object) -> None:
        for each in STOP_SIGNALS:
            signal.signal(each, signal.SIG_IGN)
        log.info("stopping on signal %d", signum)
        backend.close()
        os._exit(0)

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)


def simulate(args: argparse.Namespace) -> int:
    """Serve the Codegen API simulator on a loopback address until stopped."""
    from codegen_mcp.serving import is_loopback
    from codegen_mcp.simulator import SimConfig, serve

    if not is_loopback(args.host):
        raise ConfigurationError("the simulator serves loopback only (--host 127.0.0.1)")
    config = SimConfig(
        tokens={args.token: 7}, org_id=args.org_id, active_seconds=args.active_seconds
    )
    serve(config, host=args.host, port=args.port)
    return 0
