"""Looking upstream: what an earlier, interrupted attempt may already have done, and the
facts a launch needs (the token's user, the repository's id)."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from redis.exceptions import LockError

from codegen_mcp import prompts
from codegen_mcp.api.budget import token_key
from codegen_mcp.api.client import CodegenClient
from codegen_mcp.api.errors import ApiError, ApiNotFound, ApiUnavailable
from codegen_mcp.api.models import Run, parse_timestamp
from codegen_mcp.api.status import state_for
from codegen_mcp.services import Services
from codegen_mcp.states import SETTLED, State

log = logging.getLogger(__name__)

CORRELATION_PAGES = 3
LOG_PAGES = 20
CLOCK_SLACK = 300.0  # seconds of disagreement tolerated between our clock and the API's
REPO_CACHE_SECONDS = 600
# A miss re-reads the repository list at most this often (for everyone together): a name
# added in Codegen is found within this time, and misses cannot drain the read budget.
REPO_MISS_SECONDS = 30
REPO_LOCK_SECONDS = 120  # a read of a long list may wait for budget page after page


def user_id(services: Services, client: CodegenClient) -> int | None:
    """The token's user (cached), so list calls see only our own API runs."""
    key = services.store.keys.me(token_key(client.credentials.token))
    cached = services.redis.get(key)
    if cached:
        return int(cached)
    me = client.me()
    if not isinstance(me.get("id"), int):
        return None
    services.redis.set(key, me["id"], ex=3600)
    return int(me["id"])


def find_created_run(services: Services, client: CodegenClient, task: dict[str, Any]) -> Run | None:
    """The run an earlier attempt created, found by the correlation id in its metadata."""
    uid = user_id(services, client)
    since = float(task["created_ts"]) - CLOCK_SLACK
    for page in range(CORRELATION_PAGES):
        runs, _ = client.list_runs(user_id=uid, source_type="API", skip=page * 100, limit=100)
        for run in runs:
            if (run.metadata or {}).get(prompts.CORRELATION_KEY) == task["task_id"]:
                return run
        oldest = runs[-1].created_at if runs else None
        if len(runs) < 100 or (oldest is not None and oldest.timestamp() < since):
            return None
    return None


def resume_reached_run(client: CodegenClient, task: dict[str, Any]) -> bool:
    """Did an earlier attempt's resume reach the run? Its marker is in the run's log if so.

    Reads the log backwards until entries older than that attempt. When the log cannot be
    read, a run working again after it was idle is taken as proof; anything less raises
    ApiUnavailable, so the launch retries later rather than risk sending twice.
    """
    run_id = int(task["agent_run_id"])
    marker = prompts.resume_marker(task["task_id"])
    since = float(task.get("attempted_at") or task["created_ts"]) - CLOCK_SLACK
    try:
        for page in range(LOG_PAGES):
            body = client.run_logs(run_id, skip=page * 100, limit=100, reverse=True)
            entries = [
                e for e in body.get("logs") or body.get("items") or [] if isinstance(e, dict)
            ]
            if any(marker in json.dumps(entry) for entry in entries):
                return True
            oldest = parse_timestamp(entries[-1].get("created_at")) if entries else None
            if len(entries) < 100 or (oldest is not None and oldest.timestamp() < since):
                return False
        log.warning(
            "task %s: marker not within %d log pages; taking it as not sent",
            task["task_id"],
            LOG_PAGES,
        )
        return False
    except ApiError as exc:
        if isinstance(exc, ApiUnavailable) or exc.status_code == 429:
            raise
        run = client.get_run(run_id)
        was_idle = state_for(task.get("baseline_status")) in SETTLED
        if was_idle and run.state == State.RUNNING:
            return True
        raise ApiUnavailable(
            f"cannot tell whether the earlier resume of run {run_id} arrived: the log is "
            f"unreadable ({exc.message}); retrying later rather than risk sending it twice"
        ) from None


def resolve_repo(services: Services, client: CodegenClient, repo: str) -> int:
    """owner/name -> the API's repo_id, from a cached copy of the organization's list.

    A name not in the copy re-reads the list, but at most once per REPO_MISS_SECONDS for
    all callers together: misses share that read (one reader, the others wait for it) and
    are answered from it until it is that old. So `new` calls naming unknown repositories,
    however many, cost a couple of reads a minute, and never starve the sweep.
    """
    key = services.store.keys.repos(client.credentials.org_id)
    name = repo.lower()
    cached = services.redis.hget(key, name)
    if cached is None:
        cached = _refresh_repos(services, client, key).get(name)
    if cached is None:
        raise ApiNotFound(
            f"repository {repo!r} is not in Codegen organization {client.credentials.org_id}; "
            f"add it in Codegen first (nothing was created; the list is re-read at most "
            f"every {REPO_MISS_SECONDS} s)"
        )
    return int(cached)


def _refresh_repos(services: Services, client: CodegenClient, key: str) -> dict[str, str]:
    """The repository list, read from the API unless another caller did so moments ago."""
    fresh = f"{key}:fresh"
    lock = services.redis.lock(f"{key}:lock", timeout=REPO_LOCK_SECONDS, blocking_timeout=30)
    if not lock.acquire():
        raise ApiUnavailable("another worker is reading the repository list; trying again")
    try:
        if not services.redis.exists(fresh):
            repos = _fetch_repos(client)
            pipe = services.redis.pipeline()
            pipe.delete(key)
            if repos:
                pipe.hset(key, mapping=repos)
            pipe.expire(key, REPO_CACHE_SECONDS)
            pipe.set(fresh, "1", ex=REPO_MISS_SECONDS)
            pipe.execute()
            return repos
        return dict(services.redis.hgetall(key))  # the client decodes (redis_conn.connect)
    finally:
        with contextlib.suppress(LockError):  # it expired during a slow read: nothing to undo
            lock.release()


def _fetch_repos(client: CodegenClient) -> dict[str, str]:
    repos: dict[str, str] = {}
    for item in client.iter_repos():
        if isinstance(item.get("id"), int):
            for field in ("full_name", "name"):
                if isinstance(item.get(field), str) and "/" in item[field]:
                    repos.setdefault(item[field].lower(), str(item["id"]))
    return repos
