"""Launch a queued task upstream: create a run (`new`) or resume one (`resume`).

Safe to run twice and to die anywhere. A per-task lock keeps two workers apart, and is
re-checked right before the non-idempotent POST, so a launch that outlived its lock sends
nothing. A flag written right before the POST (after any wait for budget) makes every later
attempt look upstream for what the earlier one may have done, before sending again: the
correlation id in the run's metadata for a create, our marker in the run's log for a
resume. While that question is open, the task never gives up: it retries until upstream
answers. Behind Sentinel, the flag must also be on a replica before the POST goes out (Redis
replicates asynchronously: docs/operations.md, "Redis failover"). With a public URL, both
ask Codegen for a webhook of the task's own (codegen_mcp/webhooks_in.py).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import LockError

from codegen_mcp import prompts, sentinel, task_org, webhooks_in
from codegen_mcp.api.client import CodegenClient
from codegen_mcp.api.errors import ApiError, ApiNotFound, ApiRateLimited, ApiUnavailable
from codegen_mcp.api.models import Run
from codegen_mcp.errors import CodegenMCPError
from codegen_mcp.schemas import REPO_PATTERN
from codegen_mcp.services import Services
from codegen_mcp.states import State
from codegen_mcp.store import now_iso
from workers import delivery, observe, upstream

log = logging.getLogger(__name__)

REPO = re.compile(REPO_PATTERN)
PULL_REQUEST_URL = re.compile(r"^https://github\.com/([^/\s]+/[^/\s]+)/pull/\d+")

BUDGET_WAIT = 20.0  # longer waits for a create slot go back to the queue (Retry)
MAX_ATTEMPTS = 8
MAX_DELAY = 30.0
FRESH_BASELINE = 10.0  # seconds a deliverer's look at the orchestrator stands for a fresh read


class Retry(Exception):
    """Try the launch again after `delay` seconds."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.delay = delay


class LostLock(Exception):
    """Our launch lock expired: another launcher may be at work, so we send nothing."""


class NotReplicated(Exception):
    """The attempt flag reached no replica in time: a failover could lose it, so we send
    nothing yet."""


class OrchestratorBusy(CodegenMCPError):
    """A delivery found its orchestrator working again; the results go back to its inbox."""

    http_status = 409
    code = "orchestrator_busy"


def launch(services: Services, task_id: str) -> None:
    """Create (new) or resume (resume) the run of a queued task, at most once upstream:
    one launcher at a time holds the task's lock, and a task no longer queued is left alone.
    Raises Retry when a later attempt should try again."""
    store = services.store
    task = store.get(task_id)
    if task is None or task["state"] != State.QUEUED:
        return
    timeout = BUDGET_WAIT + 2 * services.settings.request_timeout + 5
    lock = services.redis.lock(store.keys.launch_lock(task_id), timeout=timeout, blocking=False)
    if not lock.acquire():
        return  # another worker is launching it right now
    try:
        task = store.get(task_id)
        if task is not None and task["state"] == State.QUEUED:
            _attempt(services, task, lock)
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("launch lock of task %s expired before the launch ended", task_id)


def launch_in_progress(services: Services, task_id: str) -> bool:
    """Some launcher holds the task's lock right now."""
    return bool(services.redis.exists(services.store.keys.launch_lock(task_id)))


def retry_pending(task: dict[str, Any]) -> bool:
    """A retry is scheduled: the sweep must not start another chain of attempts."""
    return float(task.get("retry_at") or 0) > time.time()


def _attempt(services: Services, task: dict[str, Any], lock: Any) -> None:
    try:
        client = task_org.client_for(services, task, max_wait=BUDGET_WAIT)
        if task["command"] == "new":
            _create(services, client, task, _guard(services, task, lock, "create_attempted"))
        else:
            _resume(services, client, task, _guard(services, task, lock, "resume_attempted"))
    except LostLock:
        _defer(services, task, 1.0, "the launch lock expired before sending; nothing was sent")
    except NotReplicated:
        message = "no Redis replica confirmed the attempt in time; nothing was sent"
        _defer(services, task, 2.0, message)
    except ApiRateLimited as exc:
        if exc.ours:  # our own budget said wait: nothing went upstream, no attempt spent
            _defer(services, task, exc.retry_after, exc.message)
        _transient(services, task, exc)
    except ApiUnavailable as exc:
        _transient(services, task, exc)
    except CodegenMCPError as exc:
        observe.fail(services, task["task_id"], exc.message, allowed=[State.QUEUED], code=exc.code)


def _transient(services: Services, task: dict[str, Any], exc: ApiError) -> None:
    attempts = int(task.get("attempts") or 0) + 1
    services.store.update(task["task_id"], attempts=attempts)
    fresh = services.store.get(task["task_id"]) or task
    open_question = "1" in (fresh.get("create_attempted"), fresh.get("resume_attempted"))
    if attempts >= MAX_ATTEMPTS and not open_question:
        message = f"gave up after {attempts} attempts; nothing was sent upstream: {exc.message}"
        observe.fail(services, task["task_id"], message, allowed=[State.QUEUED], code=exc.code)
        return
    backoff = 2.0 * 2 ** min(attempts, 5)
    _defer(
        services, task, exc.retry_after if isinstance(exc, ApiRateLimited) else backoff, exc.message
    )


def _defer(services: Services, task: dict[str, Any], delay: float, message: str) -> None:
    delay = min(max(delay, 0.5), MAX_DELAY)
    services.store.update(task["task_id"], last_error=message, retry_at=repr(time.time() + delay))
    raise Retry(message, delay)


def _guard(services: Services, task: dict[str, Any], lock: Any, flag: str) -> Callable[[], None]:
    """Runs right before the POST goes out: still ours? then record that it is going out."""

    def before_send() -> None:
        try:
            lock.reacquire()
        except LockError:
            raise LostLock() from None
        services.store.mark_once(task["task_id"], "attempted_at", repr(time.time()))  # first try
        services.store.update(task["task_id"], **{flag: True})
        if sentinel.is_sentinel(services.redis_url) and not _replicated(services, task, flag):
            raise NotReplicated()

    return before_send


def _replicated(services: Services, task: dict[str, Any], flag: str) -> bool:
    """The flag, and every write before it, is on a replica (Redis WAIT, within half the socket
    timeout); or there is no replica, and then no failover can promote one that lacks it.

    WAIT counts the writes of its own connection: the flag is written again on the pipeline's
    connection, so another thread's use of the pool cannot make WAIT answer for nothing.
    """
    if not int(services.redis.info("replication").get("connected_slaves") or 0):
        return True
    wait_ms = max(int(services.settings.redis_timeout * 500), 1)
    pipe = services.redis.pipeline(transaction=False)
    pipe.hset(services.store.keys.task(task["task_id"]), flag, "1")
    pipe.wait(1, wait_ms)
    return int(pipe.execute()[-1]) >= 1


def _create(
    services: Services, client: CodegenClient, task: dict[str, Any], guard: Callable[[], None]
) -> None:
    task_id = task["task_id"]
    if task.get("create_attempted") == "1":
        found = upstream.find_created_run(services, client, task)
        if found is not None:
            log.info("task %s: found run %s created by an earlier attempt", task_id, found.id)
            _started(services, task, found)
            return
    if task.get("cancel_requested") == "1":
        _cancel(services, task, "nothing was created upstream")
        return
    repo_id = upstream.resolve_repo(services, client, task["repo"])
    services.store.update(task_id, repo_id=repo_id)
    run = client.create_run(
        prompts.new_prompt(task),
        metadata=prompts.run_metadata(task),
        repo_id=repo_id,
        model=task.get("model"),
        webhooks=webhooks_in.webhooks_for(services, task),
        before_send=guard,
    )
    _started(services, task, run)


def _resume(
    services: Services, client: CodegenClient, task: dict[str, Any], guard: Callable[[], None]
) -> None:
    task_id, run_id = task["task_id"], int(task["agent_run_id"])
    if task.get("resume_attempted") == "1" and upstream.resume_reached_run(client, task):
        log.info("task %s: resume of run %s was delivered by an earlier attempt", task_id, run_id)
        _started(services, task, client.get_run(run_id))
        return
    if task.get("cancel_requested") == "1":
        _cancel(services, task, f"the follow-up was not sent to agent run {run_id}")
        return
    before, just_read = _before_resume(client, task, run_id)
    if (
        task.get("delivers")
        and services.settings.delivery_policy == "wait"
        and before.state == State.RUNNING
    ):
        raise OrchestratorBusy(
            f"orchestrator run {run_id} is {before.status} again; "
            "the results wait in its inbox until it is free"
        )
    if task.get("resume_attempted") != "1" and just_read:
        # The baseline is what the run was before ANY attempt (the deliverer's look, or this
        # read), so it is written once.
        services.store.update(
            task_id, baseline_status=before.status, baseline_result=observe.digest(before.result)
        )
    services.store.attach_run(task_id, run_id)  # from now on this task owns the run's news
    try:
        run = client.resume_run(
            run_id,
            prompts.resume_prompt(task),
            model=task.get("model"),
            webhooks=webhooks_in.webhooks_for(services, task),
            before_send=guard,
        )
    except ApiError as exc:
        if isinstance(exc, (ApiUnavailable, ApiRateLimited)):
            raise
        services.store.detach_run(task_id, run_id)
        raise type(exc)(
            f"Codegen refused to resume run {run_id} (it was {before.status}): {exc.message}",
            status_code=exc.status_code,
            body=exc.body,
        ) from None
    _started(services, task, run)


def _before_resume(client: CodegenClient, task: dict[str, Any], run_id: int) -> tuple[Run, bool]:
    """The run as it is before we resume it: seen moments ago by the deliverer (False), or
    read now (True)."""
    seen_at = float(task.get("baseline_ts") or 0)
    if task.get("baseline_status") and time.time() - seen_at < FRESH_BASELINE:
        return Run(id=run_id, status=task["baseline_status"]), False
    try:
        return client.get_run(run_id), True
    except ApiNotFound:
        org = client.credentials.org_id
        raise ApiNotFound(f"agent run {run_id} not found in organization {org}") from None


def _started(services: Services, task: dict[str, Any], run: Run) -> None:
    services.store.attach_run(task["task_id"], run.id)
    if not task.get("repo") and (repo := repo_of(run)):
        services.store.set_repo(task["task_id"], repo)  # a resume of a run we never recorded
    if task.get("cancel_requested") == "1":
        note = "the cancel came after the run had been created upstream: it is tracked and running"
        services.store.update(task["task_id"], cancel_requested=None, cancel_note=note)
    if task.get("delivers"):
        delivery.delivered(services, task)  # before the state moves: a crash here is retried
    observe.start(services, task, run)


def repo_of(run: Run) -> str | None:
    """The repository a run works in, as the API shows it: the `repo` codegen-mcp put in its
    metadata, else the repository of its pull request. (The run object has no repo field.)"""
    named = (run.metadata or {}).get("repo")
    if isinstance(named, str) and REPO.match(named):
        return named
    for pr in run.pull_requests:
        found = PULL_REQUEST_URL.match(pr.url or "")
        if found and REPO.match(found.group(1)):
            return found.group(1)
    return None


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
