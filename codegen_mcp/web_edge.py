"""The web front's edge: which requests it hears (Host, Origin, bearer token, guessing), and
how it reads a command body (size, Content-Type, JSON that would crash a parser)."""

from __future__ import annotations

import contextlib
import hmac
import json
import socket
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from codegen_mcp.errors import CodegenMCPError, InvalidRequest, Unauthorized
from codegen_mcp.mcp_http import AuthFailures, RebindingGuard, too_many_failures_message
from codegen_mcp.settings import Settings

MAX_BODY = 1024 * 1024
# A body over MAX_BODY is read and dropped up to this size, so the client's next request on
# the same connection is understood; past it the connection is closed.
DRAIN_LIMIT = 16 * MAX_BODY
READ_CHUNK = 64 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
UNGUARDED = frozenset({"/healthz"})  # load balancers probe it by address, without a token
# Reads that another site's page must not start either: a stream holds a server thread.
ORIGIN_CHECKED_READS = frozenset({"/events"})
# Codegen's run webhooks (webhooks_in.py): Codegen sends no bearer token, and reaches us by
# the public name; the unguessable per-task token in the path is the credential.
UNGUARDED_PREFIX = "/hooks/codegen/"


class UnsupportedMediaType(CodegenMCPError):
    http_status = 415
    code = "unsupported_media_type"


class RequestTimeout(CodegenMCPError):
    http_status = 408
    code = "request_timeout"


def install(app: Flask, settings: Settings, *, exempt_blueprint: str) -> None:
    """Refuse, before any route runs: unknown Host names, cross-origin writes, wrong tokens.

    `exempt_blueprint` (the dashboard page) needs no token: it holds no data, and a browser
    opening a URL cannot send one.
    """
    guard = RebindingGuard(settings.host, list(settings.allowed_hosts))
    failures = AuthFailures(settings.auth_failure_limit)
    token = settings.auth_token

    @app.before_request
    def _guard() -> tuple[Response, int] | None:
        if request.path in UNGUARDED or request.path.startswith(UNGUARDED_PREFIX):
            return None
        refusal = _rebinding_refusal(guard)
        if refusal is None and token and request.blueprint != exempt_blueprint:
            refusal = _auth_refusal(failures, token)
        return refusal

    @app.after_request
    def _close_after_too_large(response: Response) -> Response:
        if response.status_code == 413 and request.environ.get("codegen_mcp.undrained"):
            response.headers["Connection"] = "close"
        return response


def _rebinding_refusal(guard: RebindingGuard) -> tuple[Response, int] | None:
    host = request.headers.get("Host")
    if not guard.host_ok(host):
        return refusal(
            421,
            "misdirected_request",
            f"the Host header {host!r} is not a name this server answers to: add it to "
            "CODEGEN_MCP_ALLOWED_HOSTS if the server is reached by that name",
        )
    origin = request.headers.get("Origin")
    checked = request.method not in SAFE_METHODS or request.path in ORIGIN_CHECKED_READS
    if checked and not guard.origin_ok(origin, host):
        return refusal(
            403,
            "forbidden_origin",
            f"the Origin header {origin!r} is another site's: requests from other web pages "
            "are refused (add the name to CODEGEN_MCP_ALLOWED_HOSTS if it is this server's)",
        )
    return None


def _auth_refusal(failures: AuthFailures, token: str) -> tuple[Response, int] | None:
    address = request.remote_addr or "unknown"
    wait = failures.retry_after(address)
    if wait is not None:  # before the check: a guess made now is not even looked at
        return refusal(429, "rate_limited", too_many_failures_message(wait), {"Retry-After": wait})
    if not bearer_matches(request.headers.get("Authorization", ""), token):
        failures.failed(address)
        raise Unauthorized(
            "missing or wrong bearer token: send Authorization: Bearer <CODEGEN_MCP_AUTH_TOKEN>"
        )
    return None


def bearer_matches(header: str, expected: str) -> bool:
    """Whether an Authorization header carries `expected` as a bearer token (compared in constant
    time)."""
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), expected.encode()
    )


def refusal(
    status: int, code: str, message: str, headers: dict[str, Any] | None = None
) -> tuple[Response, int]:
    """The error envelope, for a refusal made before any route runs."""
    response = jsonify({"status": "error", "error": code, "message": message})
    response.headers.update({name: str(value) for name, value in (headers or {}).items()})
    return response, status


# -- the command body ------------------------------------------------------------------------
def read_json_body() -> Any:
    """The request body parsed as JSON, or an error that names what is wrong with it.

    A body without Content-Type is read as JSON (what `curl --data-binary` and scripts
    send); another Content-Type is refused by name. Over MAX_BODY it is a 413 (chunked or
    not); JSON nested too deep for the parser, or with a number too long to convert, is a
    400 that says so, never a 500.
    """
    if request.content_type and not request.is_json:
        raise UnsupportedMediaType(
            f"the Content-Type header must be application/json (got {request.content_type!r})"
        )
    data = _read_limited()
    if not data.strip():
        return None  # the caller says what a body must look like
    try:
        return json.loads(data)
    except RecursionError:
        raise InvalidRequest(
            "the body is not valid JSON we can read: it is nested too deeply"
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from None
    except UnicodeDecodeError:
        raise InvalidRequest("the body is not valid JSON: it is not UTF-8 text") from None
    except ValueError:  # int(): a number with more digits than Python converts
        raise InvalidRequest(
            "the body is not valid JSON we can read: a number in it has more than 4300 digits"
        ) from None


def _read_limited() -> bytes:
    """Read at most MAX_BODY bytes; past that, drop the rest (bounded) and raise 413."""
    stream = request.environ["wsgi.input"]
    length = request.content_length
    chunked = length is None and request.environ.get("wsgi.input_terminated")
    if length is None and not chunked:
        return b""
    want = MAX_BODY + 1 if length is None else min(length, MAX_BODY + 1)
    data = _read(stream, want)
    if len(data) > MAX_BODY:
        rest = None if length is None else length - len(data)
        if not _drain(stream, rest):
            request.environ["codegen_mcp.undrained"] = True
        raise RequestEntityTooLarge(f"the body is larger than {MAX_BODY} bytes")
    return data


def _read(stream: Any, size: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    try:
        while got < size:
            part = stream.read(min(READ_CHUNK, size - got))
            if not part:
                break
            parts.append(part)
            got += len(part)
    except OSError:  # the server's read timeout: the client stopped sending
        _stop_reading(request.environ)
        raise RequestTimeout("the request body stopped arriving before it was complete") from None
    return b"".join(parts)


def _stop_reading(environ: dict[str, Any]) -> None:
    """Under gunicorn, end the stalled client's input: its thread must not wait again to
    drain the rest of a body that is not coming (the answer can still be written)."""
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RD)


def _drain(stream: Any, rest: int | None) -> bool:
    """Read and drop what is left of the body; False if it is too long or stalls."""
    budget = DRAIN_LIMIT if rest is None else rest
    if budget > DRAIN_LIMIT:
        return False
    try:
        while budget > 0:
            part = stream.read(min(READ_CHUNK, budget))
            if not part:
                return True
            budget -= len(part)
    except OSError:
        return False
    return rest is not None or not stream.read(1)
