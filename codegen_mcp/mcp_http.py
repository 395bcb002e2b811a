"""The HTTP fronts' guards: the bearer token, the Host names they answer, and the Origins
they take requests from (the MCP transport's rules, which the web front reuses), and the
slowing of bearer-token guessing."""

from __future__ import annotations

import hmac
import json
import math
import time
from typing import Any
from urllib.parse import urlsplit

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from pydantic import AnyHttpUrl

from codegen_mcp.settings import RateLimit


class SharedSecret(TokenVerifier):
    """Accepts exactly one bearer token: CODEGEN_MCP_AUTH_TOKEN."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def verify_token(self, token: str) -> AccessToken | None:
        """An access token for a caller who sent the shared secret (compared in constant time), None
        for any other token."""
        if not hmac.compare_digest(token.strip().encode(), self.token.encode()):
            return None
        return AccessToken(token=token, client_id="codegen-mcp", scopes=[])


def bearer_auth(token: str | None) -> dict[str, Any]:
    """The MCPServer keyword arguments that require `token` as a bearer token; none (no auth) when
    `token` is empty."""
    if not token:
        return {}
    # AuthSettings needs an issuer even for a shared secret; with no resource_server_url the
    # SDK publishes no OAuth metadata, so this placeholder is never shown or fetched.
    settings = AuthSettings(
        issuer_url=AnyHttpUrl("https://codegen-mcp.invalid"), resource_server_url=None
    )
    return {"token_verifier": SharedSecret(token), "auth": settings}


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def transport_security(host: str, allowed_hosts: list[str]) -> TransportSecuritySettings | None:
    """DNS-rebinding protection: the Host (and Origin) a request may name.

    Loopback names are always allowed; `allowed_hosts` adds the names a proxy or DNS gives
    the server (a name without a port allows any port). Bound beyond loopback with no names
    given, any Host is accepted, and the bearer token (required there) is the guard.
    """
    from codegen_mcp.serving import is_loopback  # here: it brings Flask, which stdio never needs

    if not allowed_hosts and not is_loopback(host):
        return None
    names = [*LOOPBACK_HOSTS, *allowed_hosts]
    hosts = [pattern for name in names for pattern in _with_any_port(name)]
    origins = [f"{scheme}://{pattern}" for pattern in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def _with_any_port(name: str) -> list[str]:
    has_port = name.rsplit(":", 1)[-1].isdigit() and not name.endswith("]")
    return [name] if has_port else [name, f"{name}:*"]


class RebindingGuard:
    """The Host and Origin rules of the MCP transport, for a front that is not the SDK's.

    Same names (transport_security above) and the same matching (the SDK's own validators),
    so both fronts answer the same Host names. An Origin is also accepted when it is the
    request's own Host (the page the front served); `null` never is.
    """

    def __init__(self, host: str, allowed_hosts: list[str]) -> None:
        security = transport_security(host, allowed_hosts)
        self.any_host = security is None
        self._sdk = TransportSecurityMiddleware(security)

    def host_ok(self, host: str | None) -> bool:
        """Whether a request with this Host header may be served: any host when configured so, else
        the SDK's DNS-rebinding rule."""
        # The SDK offers no public validator; these are the checks its middleware runs.
        return self.any_host or self._sdk._validate_host(host)

    def origin_ok(self, origin: str | None, host: str | None) -> bool:
        """Whether a request with this Origin may be served: no Origin or a same-origin one always,
        a web origin the SDK allows otherwise; 'null' and non-web schemes never."""
        if origin is None:
            return True  # not a browser's cross-origin request
        if origin == "null" or not origin.startswith(("http://", "https://")):
            return False
        if urlsplit(origin).netloc == host:
            return True
        return not self.any_host and self._sdk._validate_origin(origin)


class AuthFailures:
    """Counts wrong bearer tokens per client address; past the limit, the address waits.

    Kept in this process's memory: a guesser is slowed per process (with `--workers N`, up to
    N times the limit in all), which is all the loopback-or-token rule needs (a token of 32
    characters or more beyond loopback; a proxy in front can limit further).
    """

    def __init__(self, limit: RateLimit) -> None:
        self.item = RateLimitItemPerSecond(limit.count, max(1, math.ceil(limit.window)))
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after(self, address: str) -> int | None:
        """Seconds `address` must wait before its next try, or None if it may try now."""
        if self.limiter.test(self.item, address):
            return None
        reset = self.limiter.get_window_stats(self.item, address).reset_time
        return max(1, math.ceil(reset - time.time()))

    def failed(self, address: str) -> None:
        """Count one wrong bearer token from `address` towards its limit."""
        self.limiter.hit(self.item, address)


def too_many_failures_message(seconds: int) -> str:
    """What a client past its wrong-token limit is told: when to retry, and which header to send."""
    return (
        f"too many wrong bearer tokens from this address: Retry-After {seconds} s "
        "(send Authorization: Bearer <CODEGEN_MCP_AUTH_TOKEN>)"
    )


class SlowGuessing:
    """ASGI middleware: an address past the wrong-token limit gets 429 and Retry-After
    (before its token is even looked at); every 401 the app answers counts against it."""

    def __init__(self, app: Any, failures: AuthFailures) -> None:
        self.app = app
        self.failures = failures

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown", 0))[0]
        wait = self.failures.retry_after(address)
        if wait is not None:
            await _too_many(send, wait)
            return

        async def counting(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.failures.failed(address)
            await send(message)

        await self.app(scope, receive, counting)


async def _too_many(send: Any, wait: int) -> None:
    body = json.dumps(
        {"status": "error", "error": "rate_limited", "message": too_many_failures_message(wait)}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(wait).encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
