"""One HTTP POST to a webhook receiver: stdlib only, a timeout, no redirects followed."""

from __future__ import annotations

from http.client import HTTPConnection, HTTPException, HTTPSConnection
from urllib.parse import urlsplit

SEND_TIMEOUT = 5.0
MAX_ANSWER_BYTES = 64 * 1024


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
    """POST `body` to `url`: (the receiver's status, None), or (None, why nothing came back)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None, "not an http(s) URL"
    connection_type = HTTPSConnection if parts.scheme == "https" else HTTPConnection
    try:
        connection = connection_type(parts.hostname, parts.port, timeout=SEND_TIMEOUT)
    except ValueError as exc:  # e.g. a port that is not a number
        return None, f"bad URL: {exc}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_ANSWER_BYTES)
        return response.status, None
    except (OSError, HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()
