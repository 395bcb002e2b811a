"""`codegen-mcp`: run the whole stack (`up`), the web or MCP front, or the simulator."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from codegen_mcp import cli_options, client_cli
from codegen_mcp.errors import ConfigurationError
from codegen_mcp.settings import Settings

if TYPE_CHECKING:
    from codegen_mcp.local.join import Backend

log = logging.getLogger("codegen_mcp")


def main(argv: list[str] | None = None) -> int:
    _honour_ctrl_c()
    parser = _parser()
    args = parser.parse_args(argv)
    cli_options.check_global_options(parser, args)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args) or 0)
    except ConfigurationError as exc:
        print(f"codegen-mcp: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _honour_ctrl_c() -> None:
    """Ctrl-C (SIGINT) stops us even if we were started with it ignored.

    A non-interactive shell starts its background jobs (`cmd &`) with SIGINT ignored, and Python
    then never installs its KeyboardInterrupt handler: `--wait` could not be stopped (exit 130)
    and `kill -INT` would do nothing. Servers do the same (uvicorn, gunicorn, Celery install
    their handler whatever they inherit); to keep a command running past a terminal's Ctrl-C,
    start it in its own session (`setsid`).
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codegen-mcp", description=__doc__)
    cli_options.add_global_options(parser)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run web, worker and sweep together on this machine")
    up.add_argument(
        "--simulate",
        action="store_true",
        help="also run the built-in Codegen API simulator and use it (no account needed)",
    )
    up.add_argument("--host", help="web address (default CODEGEN_MCP_HOST or 127.0.0.1)")
    up.add_argument("--port", type=int, help="web port (default PORT or 8080)")
    up.add_argument("--data-dir", type=Path, help="where the embedded Redis keeps its data")
    up.add_argument("--concurrency", type=int, default=4, help="worker threads (default 4)")
    _access_log_option(up)
    up.set_defaults(run=_up)

    web = sub.add_parser("web", help="serve the HTTP front with gunicorn (production)")
    web.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    web.add_argument("--threads", type=int, default=8)
    _access_log_option(web)
    web.set_defaults(run=_web)

    mcp = sub.add_parser(
        "mcp",
        help="serve the MCP front: stdio (what desktop hosts spawn) or Streamable HTTP at /mcp",
    )
    mcp.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    mcp.add_argument("--host", help="HTTP address (default CODEGEN_MCP_HOST or 127.0.0.1)")
    mcp.add_argument("--port", type=int, default=8090, help="HTTP port (default 8090)")
    mcp.add_argument(
        "--allowed-hosts",
        default=os.environ.get("CODEGEN_MCP_ALLOWED_HOSTS", ""),
        help="comma-separated names the HTTP server is reached by besides loopback, e.g. "
        "mcp.example.com (default CODEGEN_MCP_ALLOWED_HOSTS)",
    )
    mcp.add_argument("--data-dir", type=Path, help="where the embedded Redis keeps its data")
    mcp.set_defaults(run=_mcp)

    sim = sub.add_parser("simulate", help="serve the Codegen API simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8089)
    sim.add_argument("--token", default="sim-token", help="the bearer token it accepts")
    sim.add_argument("--org-id", type=int, default=1)
    sim.add_argument(
        "--active-seconds",
        type=float,
        default=3.0,
        help="how long a simulated run works before it finishes",
    )
    sim.set_defaults(run=_simulate)
    client_cli.register(sub)
    return parser


def _access_log_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="log one line per HTTP request (off by default: the dashboard polls every 2 s)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        name: getattr(args, name)
        for name in ("host", "port", "data_dir")
        if getattr(args, name, None) is not None
    }
    return Settings.from_env(**overrides)


def _up(args: argparse.Namespace) -> int:
    from codegen_mcp.local.up import Stack
    from codegen_mcp.serving import ACCESS_LOG

    ACCESS_LOG.setLevel(logging.INFO if args.access_log else logging.WARNING)
    stack = Stack(_settings(args), simulate=args.simulate, concurrency=args.concurrency)
    stack.run()
    return 0


def _web(args: argparse.Namespace) -> int:
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


def _mcp(args: argparse.Namespace) -> int:
    from codegen_mcp.local.join import Backend
    from codegen_mcp.mcp_http import serve_http, transport_security
    from codegen_mcp.mcp_server import create_server
    from codegen_mcp.serving import check_bind

    settings = _settings(args)
    http = args.transport == "http"
    if http:
        check_bind(settings)
        # uvicorn believes X-Forwarded-For from loopback peers; clients.py alone decides whom
        # to believe (CODEGEN_MCP_TRUSTED_PROXIES), as on the web front.
        os.environ["FORWARDED_ALLOW_IPS"] = ""
    backend = Backend(settings)
    try:
        backend.services()  # join or start the stack now: a problem shows at start-up
        server = create_server(backend.services, auth_token=settings.auth_token if http else None)
        _stop_on_signals(backend)
        if http:
            hosts = [name.strip() for name in args.allowed_hosts.split(",") if name.strip()]
            security = transport_security(settings.host, hosts)
            if security is None:
                log.warning(
                    "any Host name is accepted (set CODEGEN_MCP_ALLOWED_HOSTS to limit them); "
                    "the bearer token guards the server"
                )
            log.info("serving MCP on http://%s:%d/mcp", settings.host, args.port)
            serve_http(server, settings, args.port, security)
        else:
            from codegen_mcp.mcp_stdio import serve_stdio

            log.info("serving MCP on stdio")
            serve_stdio(server)  # until the host closes stdin
    finally:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)  # let the clean-up finish
        backend.close()
    return 0


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


def _simulate(args: argparse.Namespace) -> int:
    from codegen_mcp.serving import is_loopback
    from codegen_mcp.simulator import SimConfig, serve

    if not is_loopback(args.host):
        raise ConfigurationError("the simulator serves loopback only (--host 127.0.0.1)")
    config = SimConfig(
        tokens={args.token: 7}, org_id=args.org_id, active_seconds=args.active_seconds
    )
    serve(config, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
