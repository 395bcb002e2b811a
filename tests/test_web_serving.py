"""The servers behind the web front, attacked with slow and keep-alive clients (issue #10: 5, 15;
#11: 7, 17): the in-process server `up` uses, and gunicorn as `codegen-mcp web` runs it."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from codegen_mcp.local.processes import settings_env
from codegen_mcp.local.redis import free_port
from codegen_mcp.services import Services
from codegen_mcp.serving import ThreadedServer
from codegen_mcp.settings import Settings
from codegen_mcp.web import MAX_BODY, create_app
from tests.support import ROOT, START_DEADLINE, Front, wait_for

HALF_BODY = (
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100\r\n\r\n" + b'{"command": "list", '
)


def _get(port: int, timeout: float = 30.0) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed (or answered and closed) this connection."""
    sock.settimeout(0.2)
    try:
        data = sock.recv(65536)
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return data == b"" or b"HTTP/1.1" in data


def _too_large_then_keep_alive(port: int) -> None:
    """A body over the limit gets a 413; the next request on the connection gets its answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = b'{"command": "list", "args": {"x": "' + b"a" * (3 * MAX_BODY) + b'"}}'
        connection.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        first = connection.getresponse()
        assert first.status == 413 and b'"status":"error"' in first.read().replace(b" ", b"")
        connection.request("GET", "/")  # http.client reconnects by itself if the server closed
        second = connection.getresponse()
        assert second.status == 200 and b"codegen-mcp" in second.read()
    finally:
        connection.close()


# -- the server `up` uses -------------------------------------------------------------------
@pytest.fixture
def quick(settings: Settings) -> Iterator[ThreadedServer]:
    app = create_app(Services(settings, settings.redis_url or ""))
    server = ThreadedServer(app, "127.0.0.1", 0, read_timeout=1)
    server.start()
    yield server
    server.stop()


def _port_of(server: ThreadedServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def test_up_server_holds_no_thread_per_stalled_client(front: Front) -> None:
    port = int(front.url.rsplit(":", 1)[1])
    before = threading.active_count()
    stalled = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(64)]
    try:
        for sock in stalled:
            sock.sendall(HALF_BODY)
        assert _get(port) == 200
        assert threading.active_count() < before + 64
    finally:
        for sock in stalled:
            sock.close()


def test_up_server_drops_a_client_that_stalls_mid_request(quick: ThreadedServer) -> None:
    idle = socket.create_connection(("127.0.0.1", _port_of(quick)), timeout=5)
    half = socket.create_connection(("127.0.0.1", _port_of(quick)), timeout=5)
    try:
        half.sendall(HALF_BODY)
        wait_for(lambda: _closed_by_server(idle), 20, "the idle connection to be closed")
        wait_for(lambda: _closed_by_server(half), 20, "the half-sent request to be dropped")
    finally:
        idle.close()
        half.close()


def test_up_server_answers_the_next_request_after_a_413(front: Front) -> None:
    for _ in range(5):  # it failed 4 times in 5
        _too_large_then_keep_alive(int(front.url.rsplit(":", 1)[1]))


# -- gunicorn, as `codegen-mcp web` runs it ----------------------------------------------------
@pytest.fixture
def gunicorn(settings: Settings, tmp_path: Path) -> Iterator[int]:
    with _gunicorn(settings, tmp_path / "web.log") as port:
        yield port


@contextmanager
def _gunicorn(settings: Settings, log: Path, *flags: str) -> Iterator[int]:
    port = free_port()
    env = {
        **settings_env(settings.with_(port=port, read_timeout=1.0)),
        "WEB_CONCURRENCY": "1",
    }
    env.pop("CODEGEN_MCP_AUTH_TOKEN", None)
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "codegen_mcp.cli", "web", "--threads", "2", *flags],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: _serving(port, process), START_DEADLINE, "gunicorn to listen")
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        print(log.read_text(errors="replace")[-3000:])


def _serving(port: int, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "the server exited; see its log below"
    try:
        return _get(port, 1) == 200
    except OSError:
        return False


def test_gunicorn_frees_its_threads_from_clients_that_stall_mid_body(gunicorn: int) -> None:
    stalled = [socket.create_connection(("127.0.0.1", gunicorn), timeout=5) for _ in range(4)]
    try:
        for sock in stalled:  # more than its 2 threads
            sock.sendall(HALF_BODY)
        wait_for(lambda: all(_closed_by_server(s) for s in stalled), 30, "stalled bodies dropped")
        assert _get(gunicorn) == 200
    finally:
        for sock in stalled:
            sock.close()


def test_gunicorn_answers_the_next_request_after_a_413(gunicorn: int) -> None:
    for _ in range(3):
        _too_large_then_keep_alive(gunicorn)


def test_gunicorn_access_log_shows_no_webhook_token(settings: Settings, tmp_path: Path) -> None:
    """A run webhook's path token is its only credential: `web --access-log` prints the route
    without it (gunicorn's own logger printed the request line as sent)."""
    token = "s3cret-hook-token-" + "x" * 20
    log = tmp_path / "web.log"
    with _gunicorn(settings, log, "--access-log") as port:
        hook = requests.post(f"http://127.0.0.1:{port}/hooks/codegen/{token}", json={}, timeout=10)
        assert _get(port) == 200
        wait_for(lambda: '"POST ' in log.read_text(errors="replace"), 10, "the POST's line")
    text = log.read_text(errors="replace")
    assert token not in text, text
    assert f'"POST /hooks/codegen/… HTTP/1.1" {hook.status_code}' in text, text


def test_gunicorn_names_no_version(gunicorn: int) -> None:
    response = requests.get(f"http://127.0.0.1:{gunicorn}/", timeout=10)
    assert not any(ch.isdigit() for ch in response.headers.get("Server", ""))


# -- #11.17: `up` is quiet by default ----------------------------------------------------------
def _up(tmp_path: Path, *flags: str) -> str:
    """Run `up --simulate`, make ten requests, stop it with Ctrl-C; return its output."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEGEN_", "REDIS_URL"))}
    tmp_path.mkdir()
    log = tmp_path / "up.log"
    args = ["up", "--simulate", "--port", str(port), "--data-dir", str(tmp_path / "data")]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "codegen_mcp.cli", *args, *flags],
            cwd=ROOT,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: _serving(port, process), START_DEADLINE, "up to serve")
        for _ in range(10):
            requests.post(f"http://127.0.0.1:{port}/", json={"command": "list"}, timeout=10)
        wait_for(lambda: " ready." in log.read_text(errors="replace"), 30, "the worker")
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return log.read_text(errors="replace")


def test_up_prints_no_access_log_unless_asked(tmp_path: Path) -> None:
    quiet = _up(tmp_path / "quiet")
    assert 'HTTP/1.1"' not in quiet, quiet
    loud = _up(tmp_path / "loud", "--access-log")
    assert loud.count('"POST / HTTP/1.1" 200') == 10, loud
