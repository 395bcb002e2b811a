"""Settings: read from the environment in one place, frozen, passed to whatever needs them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from codegen_mcp import sentinel
from codegen_mcp.errors import ConfigurationError

DEFAULT_API_BASE_URL = "https://api.codegen.com"


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


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    # The sentinels' own password (REDIS_URL's is the primary's), when REDIS_URL is sentinel://.
    redis_sentinel_password: str | None = field(default=None, repr=False)
    api_base_url: str = DEFAULT_API_BASE_URL
    api_token: str | None = field(default=None, repr=False)
    org_id: int | None = None
    auth_token: str | None = field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 8080
    poll_interval: float = 5.0
    new_wait: float = 2.0
    request_timeout: float = 30.0
    max_run_seconds: float = 24 * 3600.0
    # A queued task nobody has launched for this long is re-enqueued (its message was lost).
    requeue_after: float = 30.0
    # Orchestrator delivery: "wait" resumes a busy orchestrator only once it is free; "try"
    # resumes at once and falls back to waiting if the API refuses (its answer is unknown).
    delivery_policy: str = "wait"
    delivery_max_result: int = 4000
    # Our budget sits a little under the API's documented limits (60/30 s reads, 10/60 s
    # creates) so that clock skew between us and the API never turns into a 429.
    read_limit: RateLimit = RateLimit(55, 30.0)
    create_limit: RateLimit = RateLimit(9, 60.0)
    resume_limit: RateLimit = RateLimit(55, 30.0)
    logs_limit: RateLimit = RateLimit(55, 60.0)
    key_prefix: str = "cgm"
    data_dir: Path = Path.home() / ".codegen-mcp"
    # Failures and how they are reported: a Redis call gives up after this many seconds.
    redis_timeout: float = 2.0
    # -- limits that keep one client from starving the rest (docs/configuration.md) --
    client_run_limit: RateLimit = RateLimit(200, 600.0)  # new + resume per client
    client_logs_limit: RateLimit = RateLimit(30, 60.0)  # logs reads reaching the API per client
    max_queued: int = 300  # queued tasks overall
    logs_cache_seconds: float = 5.0
    trusted_proxies: int = 0  # proxies whose X-Forwarded-For is believed
    # The HTTP fronts' edge (web.py, serving.py, mcp_http.py): Host names answered besides
    # loopback, wrong bearer tokens one address may send before it must wait, and how long a
    # client may stall while sending a request.
    allowed_hosts: tuple[str, ...] = ()
    auth_failure_limit: RateLimit = RateLimit(10, 60.0)
    read_timeout: float = 10.0
    # Where Codegen can reach this deployment (its run webhooks, docs/webhooks-in.md); None: no
    # webhooks are asked for, the sweep alone watches.
    public_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """The settings read from `env` (default: the process environment), then `overrides`;
        ConfigurationError naming the variable for a bad value."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "redis_url": _redis_url(env),
            "redis_sentinel_password": env.get("CODEGEN_MCP_REDIS_SENTINEL_PASSWORD") or None,
            "api_base_url": (env.get("CODEGEN_API_BASE_URL") or DEFAULT_API_BASE_URL).rstrip("/"),
            "api_token": env.get("CODEGEN_API_TOKEN") or None,
            "org_id": _int(env, "CODEGEN_ORG_ID"),
            "auth_token": env.get("CODEGEN_MCP_AUTH_TOKEN") or None,
            "host": env.get("CODEGEN_MCP_HOST") or "127.0.0.1",
            "port": _int(env, "PORT") or 8080,
            "poll_interval": _float(env, "CODEGEN_MCP_POLL_INTERVAL", 5.0, minimum=0.2),
            "new_wait": _float(env, "CODEGEN_MCP_NEW_WAIT", 2.0, minimum=0.0),
            "request_timeout": _float(env, "CODEGEN_MCP_REQUEST_TIMEOUT", 30.0, minimum=0.5),
            "max_run_seconds": _float(env, "CODEGEN_MCP_MAX_RUN_SECONDS", 86400.0, minimum=1.0),
            "requeue_after": _float(env, "CODEGEN_MCP_REQUEUE_AFTER", 30.0, minimum=1.0),
            "delivery_policy": _choice(env, "CODEGEN_MCP_DELIVERY_POLICY", ("wait", "try")),
            "delivery_max_result": _int(env, "CODEGEN_MCP_DELIVERY_MAX_RESULT") or 4000,
            "read_limit": _limit(env, "CODEGEN_MCP_READ_LIMIT", "55/30"),
            "create_limit": _limit(env, "CODEGEN_MCP_CREATE_LIMIT", "9/60"),
            "resume_limit": _limit(env, "CODEGEN_MCP_RESUME_LIMIT", "55/30"),
            "logs_limit": _limit(env, "CODEGEN_MCP_LOGS_LIMIT", "55/60"),
            "key_prefix": env.get("CODEGEN_MCP_REDIS_PREFIX") or "cgm",
            "data_dir": Path(env.get("CODEGEN_MCP_DATA_DIR") or Path.home() / ".codegen-mcp"),
            # Failures and how they are reported.
            "redis_timeout": _float(env, "CODEGEN_MCP_REDIS_TIMEOUT", 2.0, minimum=0.1),
            # -- per-client limits and the queue bound --
            "client_run_limit": _limit(env, "CODEGEN_MCP_CLIENT_RUN_LIMIT", "200/600"),
            "client_logs_limit": _limit(env, "CODEGEN_MCP_CLIENT_LOGS_LIMIT", "30/60"),
            "max_queued": _count(env, "CODEGEN_MCP_MAX_QUEUED", 300, minimum=1),
            "logs_cache_seconds": _float(env, "CODEGEN_MCP_LOGS_CACHE_SECONDS", 5.0, minimum=0.0),
            "trusted_proxies": _count(env, "CODEGEN_MCP_TRUSTED_PROXIES", 0, minimum=0),
            # the HTTP fronts' edge
            "allowed_hosts": _names(env.get("CODEGEN_MCP_ALLOWED_HOSTS", "")),
            "auth_failure_limit": _limit(env, "CODEGEN_MCP_AUTH_FAILURE_LIMIT", "10/60"),
            "read_timeout": _float(env, "CODEGEN_MCP_READ_TIMEOUT", 10.0, minimum=1.0),
            "public_url": public_url(env.get("CODEGEN_MCP_PUBLIC_URL", "")),
        }
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """A copy of these settings with `changes` applied."""
        return replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """The inverse of from_env: the variables that give another process these settings."""
        env = {
            "CODEGEN_API_BASE_URL": self.api_base_url,
            "CODEGEN_MCP_HOST": self.host,
            "PORT": str(self.port),
            "CODEGEN_MCP_POLL_INTERVAL": str(self.poll_interval),
            "CODEGEN_MCP_NEW_WAIT": str(self.new_wait),
            "CODEGEN_MCP_REQUEST_TIMEOUT": str(self.request_timeout),
            "CODEGEN_MCP_MAX_RUN_SECONDS": str(self.max_run_seconds),
            "CODEGEN_MCP_REQUEUE_AFTER": str(self.requeue_after),
            "CODEGEN_MCP_DELIVERY_POLICY": self.delivery_policy,
            "CODEGEN_MCP_DELIVERY_MAX_RESULT": str(self.delivery_max_result),
            "CODEGEN_MCP_READ_LIMIT": str(self.read_limit),
            "CODEGEN_MCP_CREATE_LIMIT": str(self.create_limit),
            "CODEGEN_MCP_RESUME_LIMIT": str(self.resume_limit),
            "CODEGEN_MCP_LOGS_LIMIT": str(self.logs_limit),
            "CODEGEN_MCP_REDIS_PREFIX": self.key_prefix,
            "CODEGEN_MCP_DATA_DIR": str(self.data_dir),
            "CODEGEN_MCP_REDIS_TIMEOUT": str(self.redis_timeout),
            # -- per-client limits and the queue bound --
            "CODEGEN_MCP_CLIENT_RUN_LIMIT": str(self.client_run_limit),
            "CODEGEN_MCP_CLIENT_LOGS_LIMIT": str(self.client_logs_limit),
            "CODEGEN_MCP_MAX_QUEUED": str(self.max_queued),
            "CODEGEN_MCP_LOGS_CACHE_SECONDS": str(self.logs_cache_seconds),
            "CODEGEN_MCP_TRUSTED_PROXIES": str(self.trusted_proxies),
            "CODEGEN_MCP_AUTH_FAILURE_LIMIT": str(self.auth_failure_limit),
            "CODEGEN_MCP_READ_TIMEOUT": str(self.read_timeout),
        }
        optional = {
            "REDIS_URL": self.redis_url,
            "CODEGEN_MCP_REDIS_SENTINEL_PASSWORD": self.redis_sentinel_password,
            "CODEGEN_API_TOKEN": self.api_token,
            "CODEGEN_ORG_ID": self.org_id,
            "CODEGEN_MCP_AUTH_TOKEN": self.auth_token,
            "CODEGEN_MCP_ALLOWED_HOSTS": ",".join(self.allowed_hosts) or None,
            "CODEGEN_MCP_PUBLIC_URL": self.public_url,
        }
        env.update({name: str(value) for name, value in optional.items() if value is not None})
        return env


def _redis_url(env: Mapping[str, str]) -> str | None:
    """REDIS_URL, checked now when it names sentinels: a typo fails at start, naming it."""
    url = env.get("REDIS_URL") or None
    if sentinel.is_sentinel(url):
        sentinel.parse(str(url), "REDIS_URL")
    return url


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


def _int(env: Mapping[str, str], name: str) -> int | None:
    text = env.get(name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {text!r}") from None


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, got {text!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum:g}, got {text!r}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = (env.get(name) or choices[0]).strip().lower()
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _names(text: str) -> tuple[str, ...]:
    """A comma-separated list of host names, blanks dropped."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _limit(env: Mapping[str, str], name: str, default: str) -> RateLimit:
    return RateLimit.parse(env.get(name) or default, name)


def _count(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    value = _int(env, name)
    if value is None:
        return default
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value
