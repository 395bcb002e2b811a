"""The slow-client probe: N connections that send headers and half a body, then one request.

Each server the web front runs under gets N "slow" connections that send a POST's headers
and half its declared body and then stall (or, with --idle, connect and send nothing), and
is then asked `GET /` by a fresh client with a 60 s timeout (--client-timeout). It prints
how long that request took (or that it got no answer) and, for the in-process server `up`
uses, how many threads the process had. Servers: "up" (serving.ThreadedServer, in-process,
as `codegen-mcp up` runs it) and "web" (`run_gunicorn` with the `web` defaults, 2 workers x
8 threads, in a child).

    uv run python -m bench.slow_clients [--slow 16 64 300] [--idle] [--server up web]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

from codegen_mcp.local.processes import wait_for
from codegen_mcp.local.redis import free_port

CLIENT_TIMEOUT = 60.0
HALF_BODY = (
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100\r\n\r\n" + b'{"command": "list", ' + b" " * 30
)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.slow_clients", description=__doc__)
    parser.add_argument("--slow", type=int, nargs="+", default=[16, 64, 300])
    parser.add_argument("--idle", action="store_true", help="connect and send nothing")
    parser.add_argument("--server", nargs="+", default=["up", "web"], choices=["up", "web"])
    parser.add_argument("--client-timeout", type=float, default=CLIENT_TIMEOUT)
    parser.add_argument("--serve-gunicorn", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _app() -> object:
    from codegen_mcp.services import Services
    from codegen_mcp.settings import Settings
    from codegen_mcp.web import create_app

    # GET / never touches Redis: nothing needs to listen at this URL.
    settings = Settings(redis_url="redis://127.0.0.1:9/0")
    return create_app(Services(settings, settings.redis_url or ""))


@contextlib.contextmanager
def _up_server() -> Iterator[int]:
    from codegen_mcp.serving import ThreadedServer

    server = ThreadedServer(_app(), "127.0.0.1", 0)  # type: ignore[arg-type]
    server.start()
    try:
        yield int(server.url.rsplit(":", 1)[1])
    finally:
        server.stop()


@contextlib.contextmanager
def _web_server() -> Iterator[int]:
    port = free_port()
    args = [sys.executable, "-m", "bench.slow_clients", "--serve-gunicorn", str(port)]
    process = subprocess.Popen(args, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: _get(port, 1.0) is not None, 30, "gunicorn to answer")
        yield port
    finally:
        process.terminate()
        process.wait(30)


def _serve_gunicorn(port: int) -> None:
    from codegen_mcp.serving import run_gunicorn
    from codegen_mcp.settings import Settings

    run_gunicorn(_app(), Settings(host="127.0.0.1", port=port), 2, 8)  # type: ignore[arg-type]


def _get(port: int, timeout: float) -> float | None:
    """Seconds one GET / took, or None if it got no answer within `timeout`."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
        return time.monotonic() - started
    except OSError:
        return None
    finally:
        connection.close()


def probe(port: int, slow: int, idle: bool, timeout: float) -> tuple[float | None, int]:
    sockets = []
    try:
        for _ in range(slow):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sockets.append(sock)
            if not idle:
                sock.sendall(HALF_BODY)
        time.sleep(1.0)  # let the server take them all in before the probe
        threads = threading.active_count()
        return _get(port, timeout), threads
    finally:
        for sock in sockets:
            sock.close()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.serve_gunicorn:
        _serve_gunicorn(args.serve_gunicorn)
        return 0
    kind = "idle" if args.idle else "half-sent"
    for name in args.server:
        for slow in args.slow:
            with (_up_server if name == "up" else _web_server)() as port:
                took, threads = probe(port, slow, args.idle, args.client_timeout)
            answer = (
                f"{took * 1000:.0f} ms"
                if took is not None
                else f"no answer in {args.client_timeout:g} s"
            )
            where = f", {threads} threads in-process" if name == "up" else ""
            print(f"{name}: {slow} {kind} connections -> GET / {answer}{where}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
