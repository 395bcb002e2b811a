"""Apply what the API says about a run to the task that owns it: the one place where
upstream statuses become task states."""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from codegen_mcp import notify, queue
from codegen_mcp.api.models import Run
from codegen_mcp.services import Services
from codegen_mcp.states import SETTLED, State
from codegen_mcp.store import Transition, now_iso

log = logging.getLogger(__name__)


def digest(text: str | None) -> str:
    """A short fingerprint of `text`, to tell whether a run's result changed without storing it
    twice."""
    return hashlib.sha1((text or "").encode()).hexdigest()[:12]


def start(services: Services, task: dict[str, Any], run: Run) -> None:
    """The run exists (created or resumed): queued -> running, then apply its status."""
    fields = _upstream_fields(task, run)
    fields.update(
        agent_run_id=run.id,
        started_at=now_iso(),
        started_ts=repr(time.time()),
        seen_active=run.state == State.RUNNING,
        last_error=None,
    )
    transition = services.store.transition(
        task["task_id"], State.RUNNING, allowed=[State.QUEUED], **fields
    )
    if not transition.applied:
        return
    announce(services, task["task_id"], transition)
    if run.state != State.RUNNING:
        apply(services, task["task_id"], run)
    else:
        _follow(services, run, task["task_id"])  # a resume answered the run's question


def apply(services: Services, task_id: str, run: Run, task: dict[str, Any] | None = None) -> bool:
    """Record an observation of `run`; returns True when the task changed.

    The tasks paused on the same run hear of it too (see `_follow`).
    """
    changed = _observe(services, task_id, run, task)
    if changed:
        _follow(services, run, task_id)
    return changed


def _follow(services: Services, run: Run, but: str) -> None:
    """A task paused on a run waits for an answer. Once the run moves on, whichever task (or
    person) sent the answer, the paused task follows the run to its end: it is not left
    showing an answered question. (A paused task leaves the watch set, and the sweep looks
    only at a run's newest task, so it hears of the run only from here.) A task following
    the run (running again) hears its end from here too: a run webhook goes to the newest
    task's address only, and the sweep looks at a webhook-covered run every 10 intervals."""
    store = services.store
    others = [task_id for task_id in store.tasks_for_run(run.id) if task_id != but]
    for task in store.get_many(others):
        if task is not None and task["state"] in (State.PAUSED, State.RUNNING):
            _observe(services, task["task_id"], run, task)


def paused_by_run(services: Services) -> dict[int, list[str]]:
    """Paused tasks by run, for the sweep. A paused task follows its run once it moves on:
    the task that sent the answer tells it so (`_follow`); the sweep, looking at the paused
    tasks of every run it lists, catches what a crash between the two lost, and what was
    left paused before paused tasks followed their runs. One read of the paused index."""
    paused = services.store.in_state(State.PAUSED)
    found: dict[int, list[str]] = {}
    for task_id, row in zip(paused, services.store.fields(paused, "agent_run_id"), strict=True):
        if row["agent_run_id"]:
            found.setdefault(int(row["agent_run_id"]), []).append(task_id)
    return found


def _observe(
    services: Services, task_id: str, run: Run, task: dict[str, Any] | None = None
) -> bool:
    task = task or services.store.get(task_id)
    if task is None or task["state"] == State.QUEUED:
        return False  # a queued task is moved only by its launcher
    if task.get("cancel_scope") == "local":
        return False  # the user told us to stop watching this run
    if run.state == State.RUNNING:
        return _in_progress(services, task, run)
    return _settled(services, task, run)


def _in_progress(services: Services, task: dict[str, Any], run: Run) -> bool:
    store = services.store
    if task["state"] != State.RUNNING:
        # Finished is not final: a resume, a PR comment or failed CI re-opens the run.
        reopened = store.transition(
            task["task_id"],
            State.RUNNING,
            allowed=[State(task["state"])],
            reopen_count=int(task.get("reopen_count") or 0) + 1,
            reopened_at=now_iso(),
            started_ts=repr(time.time()),  # the wall-clock cap counts from the re-opening
            completed_at=None,
            finished_at=None,
            seen_active=True,
            **_upstream_fields(task, run),
        )
        log.info("task %s: run %s re-opened (%s)", task["task_id"], run.id, run.status)
        announce(services, task["task_id"], reopened)
        return True
    started = float(task.get("started_ts") or task.get("created_ts") or time.time())
    if time.time() - started > services.settings.max_run_seconds:
        hours = services.settings.max_run_seconds / 3600
        return _finish(
            services,
            task,
            State.FAILED,
            error=(
                f"run {run.id} still {run.status or 'without a status'} after {hours:g} h; "
                "codegen-mcp stopped watching it (CODEGEN_MCP_MAX_RUN_SECONDS)"
            ),
            run=run,
        )
    changes = {
        name: value
        for name, value in _upstream_fields(task, run).items()
        if value != task.get(name)
    }
    if task.get("seen_active") != "1":
        changes["seen_active"] = True
    if changes:
        # A transition to the same state: one atomic step that writes the new Codegen status
        # (an event) only while the task still runs.
        store.transition(task["task_id"], State.RUNNING, allowed=[State.RUNNING], **changes)
    return bool(changes)


def _settled(services: Services, task: dict[str, Any], run: Run) -> bool:
    state = run.state
    renew = False
    if task["state"] == state and task.get("api_status") == run.status:
        # Same state as recorded: unchanged, unless the run re-opened and finished again
        # between two looks, which shows as a different result.
        renew = run.result is not None and run.result != task.get("result")
        if not renew:
            return False
    if _stale_after_resume(services, task, run):
        return False
    if state in (State.COMPLETED, State.PAUSED):
        return _finish(
            services, task, state, result=run.result or run.summary, run=run, renew=renew
        )
    error = run.result or run.summary or f"the agent run ended with status {run.status}"
    return _finish(services, task, state, error=error, result=run.result, run=run, renew=renew)


def _finish(
    services: Services,
    task: dict[str, Any],
    state: State,
    *,
    run: Run,
    result: str | None = None,
    error: str | None = None,
    renew: bool = False,
) -> bool:
    allowed = [State.RUNNING, *(s for s in SETTLED if s != state or renew)]
    transition = services.store.transition(
        task["task_id"],
        state,
        allowed=allowed,
        renew=renew,
        result=result,
        error=error,
        completed_at=now_iso(),
        **_upstream_fields(task, run),
    )
    if transition.applied:
        log.info("task %s: %s (run %s, %s)", task["task_id"], state.value, run.id, run.status)
    announce(services, task["task_id"], transition)
    return transition.applied


def fail(
    services: Services, task_id: str, message: str, *, allowed: list[State], code: str | None = None
) -> bool:
    """A task fails on our side (bad repo, refused upstream, run gone): record and announce.

    `code` (the error's code) lets the finished-hook tell a refusal worth retrying later
    from one that is final.
    """
    log.warning("task %s failed: %s", task_id, message)
    transition = services.store.transition(
        task_id,
        State.FAILED,
        allowed=allowed,
        error=message,
        error_code=code,
        completed_at=now_iso(),
    )
    announce(services, task_id, transition)
    return transition.applied


def announce(services: Services, task_id: str, transition: Transition) -> None:
    """Run the finished-hook for a new outcome (the outbox re-runs it if this send is lost),
    and deliver the webhook event the change queued (the notify tick would, later)."""
    if transition.applied and transition.outcome_seq:
        services.queue.send(queue.FINISHED, task_id, transition.outcome_seq)
    notify.kick(services, task_id, transition)


def _stale_after_resume(services: Services, task: dict[str, Any], run: Run) -> bool:
    """Right after a resume the API may still show the previous, finished outcome."""
    if task.get("command") != "resume" or task.get("seen_active") == "1":
        return False
    if task.get("baseline_status") != run.status or task.get("baseline_result") != digest(
        run.result
    ):
        return False
    grace = max(60.0, 3 * services.settings.poll_interval)
    started = float(task.get("started_ts") or time.time())
    return time.time() - started < grace


def _upstream_fields(task: dict[str, Any], run: Run) -> dict[str, Any]:
    fields: dict[str, Any] = {"api_status": run.status}
    if run.web_url:
        fields["web_url"] = run.web_url
    if run.pull_requests:
        fields["pull_requests"] = [pr.to_dict() for pr in run.pull_requests]
    return fields
