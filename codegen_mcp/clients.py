"""Who is asking: the client identity each front hands to `commands.execute`.

A client is what the per-client limits (quotas.py) count against:
- HTTP, and MCP over Streamable HTTP: with auth on, the bearer token (as a hash, never the
  token), so everyone holding the token is one client; with auth off, the remote address.
  Behind a reverse proxy every remote address is the proxy's: set
  CODEGEN_MCP_TRUSTED_PROXIES to the number of proxies in front, and the address is read from
  X-Forwarded-For (never otherwise: any caller can write that header).
- MCP over stdio: one client per server process (each host starts its own).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Protocol

from codegen_mcp.api.budget import token_key
from codegen_mcp.settings import Settings

# Set for each MCP request by `McpClientIdentity`; unset (stdio, in-memory) means this process.
_mcp_client: ContextVar[str | None] = ContextVar("codegen_mcp_client", default=None)


class Headers(Protocol):
    """Request headers as Flask and Starlette both give them (case-insensitive)."""

    def get(self, key: str, /) -> str | None:
        """The value of header `key` (any case), or None when the request has none."""


def of_http(remote_addr: str | None, headers: Headers, settings: Settings) -> str:
    """The client behind an HTTP request, from its (already authenticated) headers."""
    if settings.auth_token:
        _, _, given = (headers.get("Authorization") or "").partition(" ")
        return f"token:{token_key(given.strip())}"
    return f"addr:{_address(remote_addr, headers.get('X-Forwarded-For'), settings)}"


def of_mcp() -> str:
    """The client of the MCP tool call being served (see McpClientIdentity)."""
    return _mcp_client.get() or f"process:{socket.gethostname()}:{os.getpid()}"


class McpClientIdentity:
    """MCP server middleware: records who sent each request, for `of_mcp` in the tool call.

    The tool runs in a worker thread that inherits this context, so no tool signature has
    to carry the request.
    """

    def __init__(self, settings: Callable[[], Settings]) -> None:
        self._settings = settings

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        request = getattr(ctx, "request", None)
        if request is None or not hasattr(request, "headers"):
            return await call_next(ctx)  # stdio: one client per process
        peer = request.client.host if request.client else None
        token = _mcp_client.set(of_http(peer, request.headers, self._settings()))
        try:
            return await call_next(ctx)
        finally:
            _mcp_client.reset(token)


def _address(remote_addr: str | None, forwarded_for: str | None, settings: Settings) -> str:
    """The caller's address: the peer, or, behind N trusted proxies, the Nth hop from the
    right of X-Forwarded-For (each proxy appends the address it received the request from)."""
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    trusted = settings.trusted_proxies
    if trusted and len(hops) >= trusted:
        return hops[-trusted]
    return remote_addr or "unknown"
