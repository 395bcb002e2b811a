"""A tiny real webhook receiver on loopback, for the simulator's webhook tests.

It records every POST (headers and raw body), answers with scripted statuses (200 once the
script runs out), and can hold its answers until released (a slow receiver).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.released = threading.Event()
        self.released.set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def bodies(self) -> list[dict[str, Any]]:
        """Every body received so far, parsed, in arrival order."""
        with self._lock:
            return [json.loads(hit["body"]) for hit in self.received]

    def _answer(self, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            self.received.append({"headers": headers, "body": body})
            return self.answers.pop(0) if self.answers else 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver._answer(dict(self.headers.items()), body)
                receiver.released.wait(timeout=30)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def signature_ok(secret: str, header: str | None, body: bytes) -> bool:
    """Whether `header` (X-Codegen-Signature: t=<ts>,v1=<hex>) signs `body` with `secret`."""
    if not header:
        return False
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts.get("v1", ""))
