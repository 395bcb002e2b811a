"""Orchestrator inboxes: each child's outcome waits here until one resume carries it.

A child's new outcome enters its orchestrator's inbox once (guarded by the outcome's
sequence number). `take` empties the whole inbox in one Redis transaction that also records
the orchestrator's resume as a tracked task, so entries leave the inbox exactly when a
resume carrying them exists. `give_back` puts them back (or fails them) when that resume
never reached the orchestrator, exactly once however often its hook runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import WatchError

from codegen_mcp.api.models import parse_timestamp
from codegen_mcp.store import TaskStore
from codegen_mcp.store_codec import text

# A delivery that failed with one of these reached nothing upstream (an ambiguous send never
# fails: its launch retries until the orchestrator's log answers), so it can be sent again.
RETRYABLE = {
    "upstream_rejected",
    "upstream_unavailable",
    "upstream_rate_limited",
    "orchestrator_busy",
}
MAX_ATTEMPTS = 20

# The resume's fields for the outcomes it carries ({task_id, seq, at} each, oldest first).
ResumeFields = Callable[[list[dict[str, Any]]], dict[str, Any]]


def accept(store: TaskStore, task: dict[str, Any], seq: int) -> bool:
    """Put a child's outcome `seq` in its orchestrator's inbox, unless it is there already
    (or a newer outcome of the child is); True when it went in."""
    orchestrator = int(task["orchestrator_run_id"])
    return store.accept_outcome(task["task_id"], seq, finished_ts(task), orchestrator)


def finished_ts(task: dict[str, Any]) -> float:
    """When the child's run finished, for the inbox's order: the run's own time (its log's
    newest entry) when the hook could read it, else when we saw it settle."""
    finished = parse_timestamp(task.get("finished_at"))
    if finished is not None:
        return finished.timestamp()
    return float(task.get("updated_at") or time.time())


def entries(store: TaskStore, orchestrator: int) -> list[dict[str, Any]]:
    """What waits in an orchestrator's inbox ({task_id, seq, at} each), oldest first."""
    found = store.redis.zrange(store.keys.inbox(orchestrator), 0, -1, withscores=True)
    return [_entry(member, at) for member, at in found]


def in_flight(store: TaskStore, orchestrator: int) -> str | None:
    """The id of the resume carrying the orchestrator's inbox right now, if one is."""
    found = store.redis.get(store.keys.inflight(orchestrator))
    return None if found is None else text(found)


def waiting(store: TaskStore, orchestrator: int) -> bool:
    """True when outcomes wait; else forget the orchestrator (unless one arrives meanwhile)."""
    inbox = store.keys.inbox(orchestrator)
    with store.redis.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(inbox)
            if pipe.zcard(inbox):
                return True
            pipe.multi()
            pipe.zrem(store.keys.pending(), str(orchestrator))
            pipe.execute()
        except WatchError:
            return True
    return False


def is_pending(store: TaskStore, orchestrator: int) -> bool:
    """Whether outcomes wait in the orchestrator's inbox for a delivery not yet taken."""
    return store.redis.zscore(store.keys.pending(), str(orchestrator)) is not None


def pending_orchestrators(store: TaskStore) -> list[int]:
    """Orchestrators with an inbox and no delivery in flight: the sweep watches these."""
    found = [int(o) for o in store.redis.zrange(store.keys.pending(), 0, -1)]
    pipe = store.redis.pipeline(transaction=False)
    for orchestrator in found:
        pipe.exists(store.keys.inflight(orchestrator))
    return [o for o, busy in zip(found, pipe.execute(), strict=True) if not busy]


def oldest_pending(store: TaskStore) -> float | None:
    """When the oldest outcome still waiting in any inbox settled (None when none waits)."""
    orchestrators = store.redis.zrange(store.keys.pending(), 0, -1)
    pipe = store.redis.pipeline(transaction=False)
    for orchestrator in orchestrators:
        pipe.zrange(store.keys.inbox(text(orchestrator)), 0, 0, withscores=True)
    firsts = [entries[0][1] for entries in (pipe.execute() if orchestrators else []) if entries]
    return min(firsts, default=None)


def pending_count(store: TaskStore) -> int:
    """How many outcomes wait in all inboxes together."""
    orchestrators = store.redis.zrange(store.keys.pending(), 0, -1)
    if not orchestrators:
        return 0
    pipe = store.redis.pipeline(transaction=False)
    for orchestrator in orchestrators:
        pipe.zcard(store.keys.inbox(text(orchestrator)))
    return int(sum(pipe.execute()))


def take(store: TaskStore, orchestrator: int, resume_fields: ResumeFields) -> str | None:
    """Turn the whole inbox into one resume task (queued, not yet sent to the broker) in one
    transaction; its id, or None when the inbox is empty or a resume is already in flight.
    An outcome arriving meanwhile is taken too."""
    inbox, inflight = store.keys.inbox(orchestrator), store.keys.inflight(orchestrator)
    for _ in range(5):
        with store.redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(inbox, inflight)
                found = pipe.zrange(inbox, 0, -1, withscores=True)
                if not found or pipe.exists(inflight):
                    return None
                delivers = [_entry(member, at) for member, at in found]
                fields = resume_fields(delivers)
                pipe.multi()
                task_id = store.create({**fields, "delivers": delivers}, pipe=pipe)
                pipe.zrem(inbox, *(member for member, _ in found))
                pipe.zrem(store.keys.pending(), str(orchestrator))
                pipe.set(inflight, task_id)
                for entry in delivers:
                    store.delivery_taken(pipe, entry["task_id"], task_id)
                pipe.execute()
                return task_id
            except WatchError:
                continue
    return None


def give_back(store: TaskStore, resume_task: dict[str, Any]) -> bool:
    """The resume failed before reaching the orchestrator: its outcomes go back to the inbox
    when its error is retryable (and they have attempts left), else they fail. Happens once
    for a resume however often this is called; True when they went back (or would have)."""
    orchestrator = int(resume_task["agent_run_id"])
    retry = resume_task.get("error_code") in RETRYABLE
    children = {e["task_id"]: store.get(e["task_id"]) or {} for e in resume_task["delivers"]}
    key = store.keys.task(resume_task["task_id"])
    with store.redis.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(key)
            if pipe.hget(key, "delivery_returned"):
                pipe.unwatch()
            else:
                pipe.multi()
                pipe.hset(key, "delivery_returned", "1")
                _move_back(store, pipe, orchestrator, resume_task, children, retry)
                pipe.execute()
        except WatchError:
            pass  # another run of this hook is doing it
    clear_inflight(store, orchestrator, resume_task["task_id"])
    return retry


def _move_back(
    store: TaskStore,
    pipe: Any,
    orchestrator: int,
    resume_task: dict[str, Any],
    children: dict[str, dict[str, Any]],
    retry: bool,
) -> None:
    busy = resume_task.get("error_code") == "orchestrator_busy"  # not the delivery's fault
    for entry in resume_task["delivers"]:
        attempts = int(children[entry["task_id"]].get("delivery_attempts") or 0)
        if retry and (busy or attempts < MAX_ATTEMPTS):
            member = f"{entry['task_id']}:{entry['seq']}"
            pipe.zadd(store.keys.inbox(orchestrator), {member: entry["at"]})
            store.delivery_pending(pipe, entry["task_id"], uncount=busy)
        else:
            error = resume_task.get("error") or "resume failed"
            store.delivery_failed(pipe, entry["task_id"], error)
    if retry:
        pipe.zadd(store.keys.pending(), {str(orchestrator): time.time()}, nx=True)


def fail_all(store: TaskStore, orchestrator: int, reason: str) -> int:
    """Fail every outcome in the inbox (the orchestrator is gone) and forget it; how many."""
    inbox = store.keys.inbox(orchestrator)
    members = store.redis.zrange(inbox, 0, -1)
    pipe = store.redis.pipeline(transaction=True)
    for member in members:
        store.delivery_failed(pipe, _entry(member, 0)["task_id"], reason)
    if members:
        pipe.zrem(inbox, *members)
    pipe.zrem(store.keys.pending(), str(orchestrator))
    pipe.execute()
    return len(members)


def clear_inflight(store: TaskStore, orchestrator: int, task_id: str) -> None:
    """The resume `task_id` is done with the orchestrator: another may carry its inbox."""
    key = store.keys.inflight(orchestrator)
    if in_flight(store, orchestrator) == task_id:
        store.redis.delete(key)


def _entry(member: Any, at: float) -> dict[str, Any]:
    task_id, _, seq = text(member).rpartition(":")
    return {"task_id": task_id, "seq": int(seq), "at": at}
