"""Where a caller's webhooks may go: an http(s) URL on a public address.

A webhook makes our server send requests to an address the caller chose; left open, any
caller could reach what only the server can (a cloud metadata endpoint, an admin port on
loopback, the office network). So a `notify_url` must be http or https, carry no
credentials, and every address its host resolves to must be public, unless the operator
allowed private ones (CODEGEN_MCP_NOTIFY_ALLOW_PRIVATE: "1" for any, or host names and
networks). The check runs when the URL is given and again before each delivery, and the
delivery connects to the address it checked (a name that resolves differently the second
time, DNS rebinding, gains nothing).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL = 2048
SETTING = "CODEGEN_MCP_NOTIFY_ALLOW_PRIVATE"
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`addresses`, each checked, tried in the resolver's
    order; `port`) and what to name (`host`)."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]
    netloc: str
    path: str


class Refused(ValueError):
    """The URL is not one webhooks may go to; the message says why (and what allows it)."""


class Unresolved(Refused):
    """The host name does not resolve now (which may change: a delivery tries again)."""


def url_problem(url: str) -> str | None:
    """What is wrong with `url` as a webhook address, before any name is resolved; None if
    nothing is."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"Not a valid URL ({exc})."
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return "Must be an http:// or https:// URL."
    if parts.username is not None or parts.password is not None:
        return "Must not carry a user name or password (the signature authenticates us)."
    if not parts.hostname:
        return "Must name a host."
    if port == 0:
        return "Must not name port 0."
    if any(c.isspace() or not c.isprintable() for c in url):
        return "Must not contain spaces or control characters."
    return None


def check(url: str, allowed: tuple[str, ...]) -> Target:
    """The target of a URL that passed `url_problem`, resolved now; Refused naming the
    address (and the setting that would allow it) when one of its addresses is not public,
    or when the name does not resolve."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    addresses = resolve(host, port)
    for address in addresses:
        kind = private_kind(address)
        if kind and not permitted(host, address, allowed):
            named = "" if str(address) == host else f"{host} resolves to "
            raise Refused(
                f"{named}{address}, a {kind} address: webhooks go only to public addresses "
                f"unless the operator allows private ones ({SETTING}=1, or a list of host "
                "names and networks such as 10.0.0.0/8)."
            )
    path = parts.path or "/"
    return Target(
        url=url,
        scheme=parts.scheme.lower(),
        host=host,
        port=port,
        addresses=tuple(str(address) for address in addresses),
        netloc=parts.netloc,
        path=path + (f"?{parts.query}" if parts.query else ""),
    )


def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (an address literal is itself); Refused when the name
    does not resolve."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unresolved(f"The host name {host} does not resolve ({exc}).") from None
    found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not found:
        raise Unresolved(f"The host name {host} does not resolve.")
    return list(dict.fromkeys(found))


def private_kind(address: Address) -> str | None:
    """What makes `address` unfit for webhooks (loopback, private, ...); None for public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for kind in ("loopback", "link-local", "multicast", "private", "reserved", "unspecified"):
        if getattr(address, f"is_{kind.replace('-', '_')}"):
            return kind
    if not address.is_global:
        return "non-public"  # shared (100.64/10) and the like
    return None


def permitted(host: str, address: Address, allowed: tuple[str, ...]) -> bool:
    """Whether the operator's allow-list covers this host name or address."""
    for entry in allowed:
        if entry == "*" or entry == host:
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a host name, not this one
    return False
