"""A client of the HTTP front: one request choke point, a timeout on every call, typed errors."""

from __future__ import annotations

import os
from typing import Any

import requests

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT = 30.0
# A long-polled task_status holds the request open for its `wait`; the HTTP timeout sits above it.
WAIT_MARGIN = 15.0


class FrontError(Exception):
    """The front answered with an error envelope (or something that is not one)."""

    def __init__(self, http_status: int, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.message = message
        self.body = body or {}


class FrontUnreachable(Exception):
    """Nothing answered at the URL: no front runs there, or it did not answer in time."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the codegen-mcp front at {url}: {reason}")
        self.url = url
        self.reason = reason


def resolve_url(explicit: str | None) -> str:
    """--url, else CODEGEN_MCP_URL, else the web front of a `codegen-mcp up` on this machine."""
    url = explicit or os.environ.get("CODEGEN_MCP_URL") or _running_stack_url() or DEFAULT_URL
    return url.rstrip("/")


def _running_stack_url() -> str | None:
    from codegen_mcp.errors import ConfigurationError
    from codegen_mcp.local.record import read_stack
    from codegen_mcp.settings import Settings

    try:
        stack = read_stack(Settings.from_env().data_dir)
    except ConfigurationError:
        return None  # a malformed server setting must not stop a client from using the default
    url = stack.get("web_url") if stack else None
    return url if isinstance(url, str) and url else None


class FrontClient:
    """The HTTP front at `url`, as the CLI talks to it: one session, a bearer token if given.

    Every call answers the success envelope or raises FrontError (the front refused) or
    FrontUnreachable (nothing answered at the URL, or not in time).
    """

    def __init__(self, url: str, token: str | None = None, *, timeout: float = TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "codegen-mcp-cli"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def call(
        self, command: str, args: dict[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """POST one command; the success envelope, or FrontError / FrontUnreachable."""
        try:
            response = self.session.post(
                self.url + "/",
                json={"command": command, "args": args},
                timeout=timeout or self.timeout,
            )
        except requests.Timeout:  # before ConnectionError: a connect timeout is both
            raise FrontUnreachable(
                self.url, f"no answer within {timeout or self.timeout:g}s"
            ) from None
        except requests.ConnectionError as exc:
            raise FrontUnreachable(self.url, _reason(exc)) from None
        return _envelope(response)

    def task_status(self, task_id: str, wait: float = 0.0) -> dict[str, Any]:
        """The task's status; with `wait`, held until it changes or `wait` seconds pass."""
        args: dict[str, Any] = {"task_id": task_id}
        if wait > 0:
            args["wait"] = wait
        return self.call("task_status", args, timeout=wait + WAIT_MARGIN)


def _envelope(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
        raise FrontError(
            response.status_code,
            f"{response.url} answered HTTP {response.status_code} without a codegen-mcp answer: "
            "is it a codegen-mcp front?",
        )
    if body["status"] == "error" or response.status_code >= 400:
        message = str(body.get("message") or f"HTTP {response.status_code}")
        raise FrontError(response.status_code, message, body)
    return body


def _reason(exc: requests.ConnectionError) -> str:
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return type(exc).__name__
