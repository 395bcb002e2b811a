"""Reading one setting from the environment: numbers, seconds, flags, lists, rate limits.

Each reader names the variable in its ConfigurationError, so a typo fails at start-up and says
where it is. settings.py reads every variable through these, in one place.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from codegen_mcp import sentinel
from codegen_mcp.errors import ConfigurationError


@dataclass(frozen=True)
class RateLimit:
    """At most `count` requests in any `window` seconds."""

    count: int
    window: float

    @classmethod
    def parse(cls, text: str, name: str) -> RateLimit:
        """A limit from text like '55/30' (requests per seconds); ConfigurationError naming `name`
        for anything else or a non-positive limit."""
        try:
            count, window = text.split("/")
            limit = cls(int(count), float(window))
        except ValueError:
            raise ConfigurationError(
                f"{name} must look like 55/30 (requests/seconds), got {text!r}"
            ) from None
        if limit.count < 1 or limit.window <= 0:
            raise ConfigurationError(f"{name} must be positive, got {text!r}")
        return limit

    def __str__(self) -> str:
        return f"{self.count}/{self.window:g}"


def redis_url(env: Mapping[str, str]) -> str | None:
    """REDIS_URL, checked now when it names sentinels: a typo fails at start, naming it."""
    url = env.get("REDIS_URL") or None
    if sentinel.is_sentinel(url):
        sentinel.parse(str(url), "REDIS_URL")
    return url


def integer(env: Mapping[str, str], name: str) -> int | None:
    text = env.get(name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {text!r}") from None


def seconds(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    value = _number(env, name, "a number of seconds")
    if value is None:
        return default
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum:g}, got {env[name]!r}")
    return value


def choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = (env.get(name) or choices[0]).strip().lower()
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = (env.get(name) or "").strip().lower()
    if not value:
        return default
    if value not in ("1", "0", "true", "false", "on", "off"):
        raise ConfigurationError(f"{name} must be 1 or 0, got {value!r}")
    return value in ("1", "true", "on")


def names(text: str) -> tuple[str, ...]:
    """A comma-separated list of host names, blanks dropped."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def allowed(text: str) -> tuple[str, ...]:
    """CODEGEN_MCP_NOTIFY_ALLOW_PRIVATE: "1" (or true, yes, all, *) allows every address;
    else host names and networks (CIDR), checked here so a typo fails at start-up."""
    if text.strip().lower() in ("1", "true", "yes", "all", "*"):
        return ("*",)
    entries = names(text.lower())
    for entry in entries:
        if "/" in entry or entry.replace(".", "").isdigit() or ":" in entry:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigurationError(
                    f"CODEGEN_MCP_NOTIFY_ALLOW_PRIVATE: {entry!r} is not a network such as "
                    "10.0.0.0/8 (entries are host names, addresses or networks, or 1 for all)"
                ) from None
    return entries


def delays(env: Mapping[str, str], name: str, default: str) -> tuple[float, ...]:
    text = env.get(name) or default
    try:
        delays = tuple(float(part) for part in text.split(","))
    except ValueError:
        delays = ()
    if not delays or any(not 0 < d < float("inf") for d in delays):
        raise ConfigurationError(
            f"{name} must be positive seconds separated by commas, e.g. 10,30,60; got {text!r}"
        )
    return delays


def limit(env: Mapping[str, str], name: str, default: str) -> RateLimit:
    return RateLimit.parse(env.get(name) or default, name)


def count(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    value = integer(env, name)
    if value is None:
        return default
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def days(env: Mapping[str, str], name: str, default: float) -> float:
    """A number of days, 0 or more (0: forever), or ConfigurationError naming `name`."""
    value = _number(env, name, "a number of days")
    if value is None:
        return default
    if value < 0:
        raise ConfigurationError(f"{name} must be 0 (keep forever) or more, got {env[name]!r}")
    return value


def share(env: Mapping[str, str], name: str, default: float) -> float:
    """A share between 0 and 1, or ConfigurationError naming `name`."""
    value = _number(env, name, "a share like 0.9")
    if value is None:
        return default
    if not 0 <= value <= 1:
        raise ConfigurationError(f"{name} must be between 0 (off) and 1, got {env[name]!r}")
    return value


def _number(env: Mapping[str, str], name: str, what: str) -> float | None:
    """The number variable `name` holds (None when unset or blank); ConfigurationError saying
    it must be `what` otherwise."""
    text = env.get(name)
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be {what}, got {text!r}") from None


# What signs webhooks (docs/webhooks.md), the rule `config set webhook_secret` applies too.
SECRET = re.compile(r"[!-~]{16,512}")


def secret(env: Mapping[str, str], name: str) -> str | None:
    """A webhook secret: 16 to 512 printable ASCII characters without spaces (a shorter one
    is guessable). The error never quotes it."""
    value = env.get(name) or None
    if value is not None and not SECRET.fullmatch(value):
        raise ConfigurationError(
            f"{name} must be 16 to 512 printable ASCII characters without spaces "
            f"(it has {len(value)} characters; the value is not shown)"
        )
    return value


def public_url(text: str, name: str = "CODEGEN_MCP_PUBLIC_URL") -> str | None:
    """An http(s) base URL without query or fragment, its trailing slash dropped; None when
    blank; ConfigurationError naming `name` for anything else."""
    text = text.strip()
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{name} must be an http:// or https:// URL with a host name, got {text!r}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(
            f"{name} must not carry a query, a fragment or a login, got {text!r}"
        )
    return text.rstrip("/")
