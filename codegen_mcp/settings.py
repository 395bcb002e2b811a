"""Settings: read from the environment in one place, frozen, passed to whatever needs them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from codegen_mcp import env_values as read
from codegen_mcp.env_values import RateLimit as RateLimit

DEFAULT_API_BASE_URL = "https://api.codegen.com"
DEFAULT_BACKOFF = "10,30,60,300,900,1800,3600"  # seconds between webhook tries; the last repeats


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
    # GET /events (web_events.py): streams open at once per web process (each holds a server
    # thread; 0 turns the route off), and the seconds between heartbeats on a quiet stream.
    max_event_streams: int = 4
    events_heartbeat: float = 15.0
    # MCP Tasks (mcp_tasks.py): new and resume answer a declaring client with a task.
    mcp_tasks: bool = True
    # -- the caller's webhooks (notify_url; docs/webhooks.md) --
    webhook_secret: str | None = field(default=None, repr=False)
    notify_allow_private: tuple[str, ...] = ()  # ("*",): any address; else hosts and CIDRs
    notify_timeout: float = 10.0
    notify_backoff: tuple[float, ...] = (10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0)
    notify_give_up: float = 24 * 3600.0
    # Where Codegen can reach this deployment (its run webhooks, docs/webhooks-in.md); None: no
    # webhooks are asked for, the sweep alone watches.
    public_url: str | None = None
    # Months in production (docs/operations.md): settled tasks are removed this many days
    # after they settled (0 keeps them forever); new and resume are refused once the memory
    # Redis counts against its maxmemory passes this share of it (0 never refuses).
    retention_days: float = 30.0
    memory_guard: float = 0.9

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """The settings read from `env` (default: the process environment), then `overrides`;
        ConfigurationError naming the variable for a bad value."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "redis_url": read.redis_url(env),
            "redis_sentinel_password": env.get("CODEGEN_MCP_REDIS_SENTINEL_PASSWORD") or None,
            "api_base_url": (env.get("CODEGEN_API_BASE_URL") or DEFAULT_API_BASE_URL).rstrip("/"),
            "api_token": env.get("CODEGEN_API_TOKEN") or None,
            "org_id": read.integer(env, "CODEGEN_ORG_ID"),
            "auth_token": env.get("CODEGEN_MCP_AUTH_TOKEN") or None,
            "host": env.get("CODEGEN_MCP_HOST") or "127.0.0.1",
            "port": read.integer(env, "PORT") or 8080,
            "poll_interval": read.seconds(env, "CODEGEN_MCP_POLL_INTERVAL", 5.0, minimum=0.2),
            "new_wait": read.seconds(env, "CODEGEN_MCP_NEW_WAIT", 2.0, minimum=0.0),
            "request_timeout": read.seconds(env, "CODEGEN_MCP_REQUEST_TIMEOUT", 30.0, minimum=0.5),
            "max_run_seconds": read.seconds(
                env, "CODEGEN_MCP_MAX_RUN_SECONDS", 86400.0, minimum=1.0
            ),
            "requeue_after": read.seconds(env, "CODEGEN_MCP_REQUEUE_AFTER", 30.0, minimum=1.0),
            "delivery_policy": read.choice(env, "CODEGEN_MCP_DELIVERY_POLICY", ("wait", "try")),
            "delivery_max_result": read.integer(env, "CODEGEN_MCP_DELIVERY_MAX_RESULT") or 4000,
            "read_limit": read.limit(env, "CODEGEN_MCP_READ_LIMIT", "55/30"),
            "create_limit": read.limit(env, "CODEGEN_MCP_CREATE_LIMIT", "9/60"),
            "resume_limit": read.limit(env, "CODEGEN_MCP_RESUME_LIMIT", "55/30"),
            "logs_limit": read.limit(env, "CODEGEN_MCP_LOGS_LIMIT", "55/60"),
            "key_prefix": env.get("CODEGEN_MCP_REDIS_PREFIX") or "cgm",
            "data_dir": Path(env.get("CODEGEN_MCP_DATA_DIR") or Path.home() / ".codegen-mcp"),
            # Failures and how they are reported.
            "redis_timeout": read.seconds(env, "CODEGEN_MCP_REDIS_TIMEOUT", 2.0, minimum=0.1),
            # -- per-client limits and the queue bound --
            "client_run_limit": read.limit(env, "CODEGEN_MCP_CLIENT_RUN_LIMIT", "200/600"),
            "client_logs_limit": read.limit(env, "CODEGEN_MCP_CLIENT_LOGS_LIMIT", "30/60"),
            "max_queued": read.count(env, "CODEGEN_MCP_MAX_QUEUED", 300, minimum=1),
            "logs_cache_seconds": read.seconds(
                env, "CODEGEN_MCP_LOGS_CACHE_SECONDS", 5.0, minimum=0.0
            ),
            "trusted_proxies": read.count(env, "CODEGEN_MCP_TRUSTED_PROXIES", 0, minimum=0),
            # the HTTP fronts' edge
            "allowed_hosts": read.names(env.get("CODEGEN_MCP_ALLOWED_HOSTS", "")),
            "auth_failure_limit": read.limit(env, "CODEGEN_MCP_AUTH_FAILURE_LIMIT", "10/60"),
            "read_timeout": read.seconds(env, "CODEGEN_MCP_READ_TIMEOUT", 10.0, minimum=1.0),
            # GET /events
            "max_event_streams": read.count(env, "CODEGEN_MCP_MAX_EVENT_STREAMS", 4, minimum=0),
            "events_heartbeat": read.seconds(
                env, "CODEGEN_MCP_EVENTS_HEARTBEAT", 15.0, minimum=0.2
            ),
            "mcp_tasks": read.flag(env, "CODEGEN_MCP_TASKS", True),
            # the caller's webhooks
            "webhook_secret": read.secret(env, "CODEGEN_MCP_WEBHOOK_SECRET"),
            "notify_allow_private": read.allowed(env.get("CODEGEN_MCP_NOTIFY_ALLOW_PRIVATE", "")),
            "notify_timeout": min(
                read.seconds(env, "CODEGEN_MCP_NOTIFY_TIMEOUT", 10.0, minimum=0.5), 60
            ),
            "notify_backoff": read.delays(env, "CODEGEN_MCP_NOTIFY_BACKOFF", DEFAULT_BACKOFF),
            "notify_give_up": read.seconds(env, "CODEGEN_MCP_NOTIFY_GIVE_UP", 86400.0, minimum=1.0),
            "public_url": read.public_url(env.get("CODEGEN_MCP_PUBLIC_URL", "")),
            # months in production
            "retention_days": read.days(env, "CODEGEN_MCP_RETENTION_DAYS", 30.0),
            "memory_guard": read.share(env, "CODEGEN_MCP_MEMORY_GUARD", 0.9),
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
            "CODEGEN_MCP_MAX_EVENT_STREAMS": str(self.max_event_streams),
            "CODEGEN_MCP_EVENTS_HEARTBEAT": str(self.events_heartbeat),
            "CODEGEN_MCP_TASKS": "1" if self.mcp_tasks else "0",
            "CODEGEN_MCP_NOTIFY_TIMEOUT": str(self.notify_timeout),
            "CODEGEN_MCP_NOTIFY_BACKOFF": ",".join(f"{d:g}" for d in self.notify_backoff),
            "CODEGEN_MCP_NOTIFY_GIVE_UP": str(self.notify_give_up),
            "CODEGEN_MCP_RETENTION_DAYS": str(self.retention_days),
            "CODEGEN_MCP_MEMORY_GUARD": str(self.memory_guard),
        }
        optional = {
            "REDIS_URL": self.redis_url,
            "CODEGEN_MCP_REDIS_SENTINEL_PASSWORD": self.redis_sentinel_password,
            "CODEGEN_API_TOKEN": self.api_token,
            "CODEGEN_ORG_ID": self.org_id,
            "CODEGEN_MCP_AUTH_TOKEN": self.auth_token,
            "CODEGEN_MCP_ALLOWED_HOSTS": ",".join(self.allowed_hosts) or None,
            "CODEGEN_MCP_WEBHOOK_SECRET": self.webhook_secret,
            "CODEGEN_MCP_NOTIFY_ALLOW_PRIVATE": ",".join(self.notify_allow_private) or None,
            "CODEGEN_MCP_PUBLIC_URL": self.public_url,
        }
        env.update({name: str(value) for name, value in optional.items() if value is not None})
        return env
