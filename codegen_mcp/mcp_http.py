"""The Streamable HTTP transport's guards: the bearer token, and the Host names it answers."""

from __future__ import annotations

import hmac
from typing import Any

from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl


class SharedSecret(TokenVerifier):
    """Accepts exactly one bearer token: CODEGEN_MCP_AUTH_TOKEN."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def verify_token(self, token: str) -> AccessToken | None:
        if not hmac.compare_digest(token.strip().encode(), self.token.encode()):
            return None
        return AccessToken(token=token, client_id="codegen-mcp", scopes=[])


def bearer_auth(token: str | None) -> dict[str, Any]:
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
