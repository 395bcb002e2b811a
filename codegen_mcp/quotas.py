"""Per-client limits and the queue bound: no one client starves the rest.

Two things are scarce and shared by every client: Codegen runs (each `new` spends one, and
the API starts at most about ten a minute) and the API's read budgets (the `logs` budget
most of all). Each client (see clients.py) gets a moving-window allowance of `new`/`resume`
commands and of `logs` reads that reach the API; and the number of queued tasks overall is
bounded. A refused command records and enqueues nothing, and says when to try again. The
starts are admitted by the START script (intake.py), in the step that records them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from codegen_mcp.errors import CodegenMCPError
from codegen_mcp.services import Services
from codegen_mcp.settings import RateLimit


class TooManyRequests(CodegenMCPError):
    """One client went over one of its allowances."""

    http_status = 429
    code = "rate_limited"


class QueueFull(CodegenMCPError):
    """The queue holds as many tasks as it may: nobody's new work is taken for now."""

    http_status = 503
    code = "queue_full"


@dataclass(frozen=True)
class Allowance:
    """One per-client limit: its setting's name, what it counts, and its rate."""

    setting: str
    what: str
    rate: RateLimit


def run_allowance(services: Services, client: str) -> tuple[Allowance, str]:
    """The allowance of starts (`new`, `resume`) of `client`, and the Redis list `limits` keeps
    its moving window in: the START script takes a slot there as `_take` would."""
    settings = services.settings
    allowance = Allowance(
        "CODEGEN_MCP_CLIENT_RUN_LIMIT", "new and resume commands", settings.client_run_limit
    )
    item = _item(allowance.rate)
    return allowance, f"{services.store.keys.quota()}:{item.key_for(client, allowance.setting)}"


def take_logs_read(services: Services, client: str) -> None:
    """Raise unless `client` may make one more `logs` read that reaches the Codegen API."""
    allowance = Allowance(
        "CODEGEN_MCP_CLIENT_LOGS_LIMIT",
        "logs reads that reach the Codegen API",
        services.settings.client_logs_limit,
    )
    _take(services, client, allowance, "pages read in the last few seconds are still served")


def _take(services: Services, client: str, allowance: Allowance, note: str) -> None:
    limiter, item = _limiter(services), _item(allowance.rate)
    if limiter.hit(item, client, allowance.setting):
        return
    stats = limiter.get_window_stats(item, client, allowance.setting)
    raise too_many(allowance, stats.reset_time - time.time(), note)


def too_many(allowance: Allowance, wait: float, note: str) -> TooManyRequests:
    """The refusal of one more command from a client past `allowance`, for `wait` seconds."""
    seconds = max(math.ceil(wait), 1)
    error = TooManyRequests(
        f"too many {allowance.what} from this client: at most {allowance.rate.count} in "
        f"{allowance.rate.window:g} s ({allowance.setting}); {note}; try again in {seconds} s",
        details={"limit": allowance.setting, "retry_after": seconds},
    )
    error.retry_after = seconds
    return error


def queue_full(services: Services, queued: int) -> QueueFull:
    """The refusal of a start while `queued` tasks fill the queue (CODEGEN_MCP_MAX_QUEUED)."""
    bound = services.settings.max_queued
    # The workers start about one run per create slot: that is when room is next likely.
    create = services.settings.create_limit
    wait = max(math.ceil(create.window / create.count), 1)
    error = QueueFull(
        f"{queued} tasks are queued, the most codegen-mcp holds (CODEGEN_MCP_MAX_QUEUED="
        f"{bound}); nothing was recorded: try again in {wait} s, as the workers start them",
        details={"limit": "CODEGEN_MCP_MAX_QUEUED", "retry_after": wait},
    )
    error.retry_after = wait
    return error


def _limiter(services: Services) -> MovingWindowRateLimiter:
    storage = RedisStorage(
        "redis://",
        connection_pool=services.redis.connection_pool,
        key_prefix=services.store.keys.quota(),
    )
    return MovingWindowRateLimiter(storage)


def _item(rate: RateLimit) -> RateLimitItem:
    # `limits` counts whole seconds: round the window up, never allowing more than asked.
    return RateLimitItemPerSecond(rate.count, max(math.ceil(rate.window), 1))
