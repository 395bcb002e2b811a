"""Launch a queued task upstream: create a run (`new`) or resume one (`resume`).

Safe to run twice and to die anywhere: a per-task lock keeps two workers apart, and a
flag written BEFORE the non-idempotent POST makes every later attempt look upstream for
what the earlier one may have done (the correlation id in the run's metadata for a
create, our marker in the run's log for a resume) before sending again.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from redis.exceptions import LockError

from codegen_mcp import prompts
from codegen_mcp.api.client import CodegenClient
from codegen_mcp.api.errors import ApiError, ApiNotFound, ApiRateLimited, ApiUnavailable
from codegen_mcp.api.models import Run
from codegen_mcp.api.status import State
from codegen_mcp.errors import CodegenMCPError
from codegen_mcp.services import Services
from codegen_mcp.store import now_iso
from workers import delivery, observe

log = logging.getLogger(__name__)

BUDGET_WAIT = 20.0  # longer waits for a create slot go back to the queue (Retry)
MAX_ATTEMPTS = 8
CORRELATION_PAGES = 3
REPO_CACHE_SECONDS = 600


class Retry(Exception):
    """A transient fault: try the launch again after `delay` seconds."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.delay = delay


def launch(services: Services, task_id: str) -> None:
    store = services.store
    task = store.get(task_id)
    if task is None or task["state"] != State.QUEUED:
        return
    # The lock outlives any one attempt (budget wait + two requests), so a launch killed
    # mid-flight is retried by the sweep once it expires.
    timeout = BUDGET_WAIT + 2 * services.settings.request_timeout + 5
    lock = services.redis.lock(
        store.key("lock", "launch", task_id), timeout=timeout, blocking=False
    )
    if not lock.acquire():
        return  # another worker is launching it right now
    try:
        task = store.get(task_id)
        if task is not None and task["state"] == State.QUEUED:
            _attempt(services, task)
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("launch lock of task %s expired before the launch ended", task_id)


def launch_in_progress(services: Services, task_id: str) -> bool:
    return bool(services.redis.exists(services.store.key("lock", "launch", task_id)))


def _attempt(services: Services, task: dict[str, Any]) -> None:
    attempts = int(task.get("attempts") or 0) + 1
    services.store.update(task["task_id"], attempts=attempts)
    try:
        client = services.client(max_wait=BUDGET_WAIT)
        if task["command"] == "new":
            _create(services, client, task)
        else:
            _resume(services, client, task)
    except (ApiUnavailable, ApiRateLimited) as exc:
        if attempts >= MAX_ATTEMPTS:
            message = f"gave up after {attempts} attempts: {exc.message}"
            _fail(services, task, message + _maybe_upstream_note(task), exc.code)
            return
        delay = exc.retry_after if isinstance(exc, ApiRateLimited) else min(2.0 * 2**attempts, 30.0)
        services.store.update(task["task_id"], last_error=exc.message)
        raise Retry(exc.message, delay) from None
    except CodegenMCPError as exc:
        _fail(services, task, exc.message, exc.code)


def _create(services: Services, client: CodegenClient, task: dict[str, Any]) -> None:
    task_id = task["task_id"]
    if task.get("create_attempted") == "1":
        found = _find_created_run(services, client, task)
        if found is not None:
            log.info("task %s: found run %s created by an earlier attempt", task_id, found.id)
            _started(services, task, found)
            return
    if task.get("cancel_requested") == "1":
        _cancel(services, task, "nothing was created upstream")
        return
    repo_id = resolve_repo(services, client, task["repo"])
    services.store.update(task_id, create_attempted=True, repo_id=repo_id)
    run = client.create_run(
        prompts.new_prompt(task), metadata=prompts.run_metadata(task), repo_id=repo_id
    )
    _started(services, task, run)


def _resume(services: Services, client: CodegenClient, task: dict[str, Any]) -> None:
    task_id, run_id = task["task_id"], int(task["agent_run_id"])
    if task.get("resume_attempted") == "1" and _resume_reached_run(client, task):
        log.info("task %s: resume of run %s was delivered by an earlier attempt", task_id, run_id)
        _started(services, task, client.get_run(run_id))
        return
    if task.get("cancel_requested") == "1":
        _cancel(services, task, f"the follow-up was not sent to agent run {run_id}")
        return
    try:
        before = client.get_run(run_id)
    except ApiNotFound:
        raise ApiNotFound(
            f"agent run {run_id} not found in organization {client.credentials.org_id}"
        ) from None
    services.store.update(
        task_id,
        resume_attempted=True,
        baseline_status=before.status,
        baseline_result=observe.digest(before.result),
    )
    services.store.attach_run(task_id, run_id)  # from now on this task owns the run's news
    try:
        run = client.resume_run(run_id, prompts.resume_prompt(task))
    except ApiError as exc:
        if not isinstance(exc, (ApiUnavailable, ApiRateLimited)):
            services.store.detach_run(task_id, run_id)
            raise type(exc)(
                f"Codegen refused to resume run {run_id} (it was {before.status}): {exc.message}",
                status_code=exc.status_code,
                body=exc.body,
            ) from None
        raise
    _started(services, task, run)


def _started(services: Services, task: dict[str, Any], run: Run) -> None:
    services.store.attach_run(task["task_id"], run.id)
    if task.get("cancel_requested") == "1":
        services.store.update(
            task["task_id"],
            cancel_requested=None,
            cancel_note=(
                "the cancel came after the run had been created upstream: it is tracked and running"
            ),
        )
    observe.start(services, task, run)
    if task.get("delivers"):
        delivery.delivered(services, task)


def _cancel(services: Services, task: dict[str, Any], what: str) -> None:
    """A cancel came while an earlier attempt was unresolved; upstream shows it never landed."""
    transition = services.store.transition(
        task["task_id"],
        State.CANCELLED,
        allowed=[State.QUEUED],
        completed_at=now_iso(),
        error=f"cancelled before its run was created; {what}",
        cancel_scope="local",
    )
    observe.announce(services, task["task_id"], transition)


def _fail(services: Services, task: dict[str, Any], message: str, code: str) -> None:
    observe.fail(services, task["task_id"], message, allowed=[State.QUEUED], code=code)


def _maybe_upstream_note(task: dict[str, Any]) -> str:
    if task.get("create_attempted") == "1":
        return (
            f" (a run may exist upstream: look for metadata "
            f"{prompts.CORRELATION_KEY}={task['task_id']})"
        )
    return ""


# -- looking upstream for an earlier attempt's effect ---------------------------------
def user_id(services: Services, client: CodegenClient) -> int | None:
    """The token's user (cached), so list calls see only our own API runs."""
    from codegen_mcp.api.budget import token_key

    key = services.store.key("me", token_key(client.credentials.token))
    cached = services.redis.get(key)
    if cached:
        return int(cached)
    me = client.me()
    if not isinstance(me.get("id"), int):
        return None
    services.redis.set(key, me["id"], ex=3600)
    return int(me["id"])


def _find_created_run(
    services: Services, client: CodegenClient, task: dict[str, Any]
) -> Run | None:
    uid = user_id(services, client)
    for page in range(CORRELATION_PAGES):
        runs, _ = client.list_runs(user_id=uid, source_type="API", skip=page * 100, limit=100)
        for run in runs:
            if (run.metadata or {}).get(prompts.CORRELATION_KEY) == task["task_id"]:
                return run
        created = float(task["created_ts"])
        if len(runs) < 100 or (
            runs[-1].created_at and runs[-1].created_at.timestamp() < created - 120
        ):
            return None
    return None


def _resume_reached_run(client: CodegenClient, task: dict[str, Any]) -> bool:
    """Look in the run's newest log entries for the marker our resume prompt carries."""
    marker = prompts.resume_marker(task["task_id"])
    try:
        page = client.run_logs(int(task["agent_run_id"]), limit=100, reverse=True)
    except ApiError as exc:
        # The logs endpoint is alpha. Without it, an ACTIVE run after our attempt is the
        # best evidence we have that the resume arrived.
        log.warning(
            "task %s: logs unavailable (%s); judging by the run's status", task["task_id"], exc
        )
        run = client.get_run(int(task["agent_run_id"]))
        return run.state == State.RUNNING and task.get("baseline_status") != run.status
    return any(marker in json.dumps(entry) for entry in page.get("logs") or [])


# -- repositories ---------------------------------------------------------------------
def resolve_repo(services: Services, client: CodegenClient, repo: str) -> int:
    """owner/name -> the API's repo_id, from a short-lived cache refreshed on a miss."""
    key = services.store.key("repos", client.credentials.org_id)
    name = repo.lower()
    cached = services.redis.hget(key, name)
    if cached is None:
        repos = _fetch_repos(client)
        pipe = services.redis.pipeline()
        pipe.delete(key)
        if repos:
            pipe.hset(key, mapping=repos)
        pipe.expire(key, REPO_CACHE_SECONDS)
        pipe.execute()
        cached = repos.get(name)
    if cached is None:
        raise ApiNotFound(
            f"repository {repo!r} is not in Codegen organization {client.credentials.org_id}; "
            "add it in Codegen first (nothing was created)"
        )
    return int(cached)


def _fetch_repos(client: CodegenClient) -> dict[str, str]:
    repos: dict[str, str] = {}
    for item in client.iter_repos():
        if isinstance(item.get("id"), int):
            for field in ("full_name", "name"):
                if isinstance(item.get(field), str) and "/" in item[field]:
                    repos.setdefault(item[field].lower(), str(item["id"]))
    return repos
