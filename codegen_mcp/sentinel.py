"""A Redis behind Sentinel, named by one URL: `sentinel://[:password@]host:port,.../master[/db]`.

The hosts are the sentinels (port 26379 when left out), `master` is the name they monitor, and
the password (with an optional user) is the one the primary and its replicas ask for. The
sentinels' own password, if they have one, is a secret of its own:
CODEGEN_MCP_REDIS_SENTINEL_PASSWORD. Parsing is here (stdlib only, so settings.py can validate
at start); the clients are built in redis_conn.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from codegen_mcp.errors import ConfigurationError

SCHEME = "sentinel://"
DEFAULT_PORT = 26379
EXAMPLE = "sentinel://host1:26379,host2:26379,host3:26379/mymaster/0"
# A name sentinel.conf accepts in `sentinel monitor <name> ...`: no spaces, no slashes.
MASTER_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class SentinelTarget:
    """Where the sentinels are, which primary they watch, and how to log in to it."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def is_sentinel(url: str | None) -> bool:
    """`url` names a Redis behind Sentinel (whether or not it is well formed)."""
    return bool(url) and str(url).lower().startswith(SCHEME)


def parse(url: str, name: str = "REDIS_URL") -> SentinelTarget:
    """The target `url` names; ConfigurationError naming `name` and showing the expected shape
    (never the password) for anything else."""
    rest = url[len(SCHEME) :] if is_sentinel(url) else None
    if rest is None:
        raise _bad(name, f"must start with {SCHEME}")
    userinfo, _, rest = rest.rpartition("@")
    hosts, _, path = rest.partition("/")
    parts = [part for part in path.split("/") if part]
    if not parts or not MASTER_NAME.match(parts[0]):
        raise _bad(name, "must name the master the sentinels monitor after the hosts (/mymaster)")
    if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise _bad(name, "may end with a database number only (/mymaster/0)")
    username, password = _credentials(userinfo)
    return SentinelTarget(
        sentinels=_hosts(hosts, name),
        master=parts[0],
        db=int(parts[1]) if len(parts) == 2 else 0,
        username=username,
        password=password,
    )


def _hosts(text: str, name: str) -> tuple[tuple[str, int], ...]:
    hosts = []
    for item in (part.strip() for part in text.split(",")):
        host, colon, port = item.rpartition(":") if ":" in item else (item, "", "")
        host = host.strip("[]")  # an IPv6 address in brackets
        if not host or (colon and not port.isdigit()) or (port and not 0 < int(port) < 65536):
            raise _bad(name, f"has a sentinel that is not host:port: {item!r}")
        hosts.append((host, int(port) if port else DEFAULT_PORT))
    return tuple(hosts)


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, colon, password = userinfo.partition(":")
    return (unquote(user) or None), (unquote(password) if colon else None)


def _bad(name: str, what: str) -> ConfigurationError:
    return ConfigurationError(f"{name} {what}; expected the form {EXAMPLE}")
