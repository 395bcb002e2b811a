"""Orchestrator delivery: each child's outcome reaches its orchestrator exactly once.

A child's new outcome enters its orchestrator's inbox once (guarded by the outcome's
sequence number). A delivery takes the whole inbox in one Redis transaction that also
records the orchestrator's resume as a tracked task, so entries leave the inbox exactly
when a resume carrying them exists. That resume goes through the normal launch path, whose
log-marker check makes the non-idempotent resume call happen once. A busy orchestrator
keeps its inbox (fan-in: one resume for all of it) until the sweep sees it free.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from redis.exceptions import WatchError

from codegen_mcp import queue
from codegen_mcp.api.errors import ApiNotFound
from codegen_mcp.api.models import Run, parse_timestamp
from codegen_mcp.api.status import state_for
from codegen_mcp.prompts import delivery_prompt
from codegen_mcp.services import Services
from codegen_mcp.states import State
from codegen_mcp.store import now_iso
from workers.observe import digest

log = logging.getLogger(__name__)

# A delivery that failed with one of these reached nothing upstream (an ambiguous send never
# fails: its launch retries until the orchestrator's log answers), so it can be sent again.
RETRYABLE = {
    "upstream_rejected",
    "upstream_unavailable",
    "upstream_rate_limited",
    "orchestrator_busy",
}
MAX_ATTEMPTS = 20
FRESH_LOOK = 5.0  # seconds the sweep's look at an orchestrator stands for a fresh read

# KEYS: child hash, inbox, pending. ARGV: seq, settle time, member, orchestrator id.
_ACCEPT = """
local have = tonumber(redis.call('HGET', KEYS[1], 'delivery_seq') or '0')
if have >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'delivery_seq', ARGV[1], 'delivery_state', 'pending')
redis.call('HDEL', KEYS[1], 'delivery_task_id', 'delivery_error', 'delivered_at')
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], 'NX', ARGV[2], ARGV[4])
return 1
"""


# KEYS: the delivered children's hashes. ARGV: the resume's task id, now, then each child's
# outcome seq. Marks each child delivered by this resume unless it already is (its delivery
# time never changes after) or a newer outcome of it waits for a delivery of its own.
_DELIVERED = """
local marked = 0
for i, key in ipairs(KEYS) do
  local current = redis.call('HGET', key, 'delivery_seq') == ARGV[2 + i]
  if current and (redis.call('HGET', key, 'delivery_state') ~= 'delivered'
     or redis.call('HGET', key, 'delivery_task_id') ~= ARGV[1]) then
    redis.call('HSET', key, 'delivery_state', 'delivered', 'delivery_task_id', ARGV[1],
               'delivered_at', ARGV[2])
    marked = marked + 1
  end
end
return marked
"""


def inbox_key(services: Services, orchestrator: int) -> str:
    return services.store.key("inbox", orchestrator)


def inflight_key(services: Services, orchestrator: int) -> str:
    return services.store.key("inflight", orchestrator)


def pending_key(services: Services) -> str:
    """Orchestrators with results waiting in their inbox."""
    return services.store.key("orchestrators", "pending")


def accept(services: Services, task: dict[str, Any], seq: int) -> bool:
    """Put a child's outcome `seq` in its orchestrator's inbox, unless it is there already."""
    orchestrator = int(task["orchestrator_run_id"])
    settled = finished_ts(task)
    script = services.redis.register_script(_ACCEPT)
    keys = [
        services.store.task_key(task["task_id"]),
        inbox_key(services, orchestrator),
        pending_key(services),
    ]
    return bool(script(keys=keys, args=[seq, settled, f"{task['task_id']}:{seq}", orchestrator]))


def finished_ts(task: dict[str, Any]) -> float:
    """When the child's run finished, for the inbox's order: the run's own time (its log's
    newest entry) when the hook could read it, else when we saw it settle."""
    finished = parse_timestamp(task.get("finished_at"))
    if finished is not None:
        return finished.timestamp()
    return float(task.get("updated_at") or time.time())


def deliver(
    services: Services,
    orchestrator: int,
    *,
    from_sweep: bool = False,
    seen: dict[str, Any] | None = None,
) -> str | None:
    """Resume the orchestrator with its whole inbox if it is free (or policy says try).

    `seen` is the sweep's look at the orchestrator moments ago ({status, result_digest,
    at}); when fresh it stands for a read, saving one from the budget. Returns the id of
    the resume task created, if any.
    """
    redis = services.redis
    if redis.exists(inflight_key(services, orchestrator)) or not _has_inbox(services, orchestrator):
        return None
    seen = seen or _remembered(services, orchestrator)
    if seen and _still_true(services, orchestrator, float(seen["at"])):
        status, result_digest = str(seen["status"]), str(seen["result_digest"])
    else:
        try:
            run = services.client(max_wait=20.0).get_run(orchestrator)
        except ApiNotFound as exc:
            reason = f"orchestrator run {orchestrator} not found: {exc.message}"
            _fail_inbox(services, orchestrator, reason)
            return None
        status, result_digest = run.status, digest(run.result)
    busy = state_for(status) == State.RUNNING
    if busy and (services.settings.delivery_policy == "wait" or from_sweep):
        log.info("orchestrator %s is %s: results wait in its inbox", orchestrator, status)
        return None
    return _take_inbox(services, orchestrator, status, result_digest)


def look(run: Run) -> dict[str, Any]:
    """What the sweep saw of an orchestrator, for deliver()."""
    return {"status": run.status, "result_digest": digest(run.result), "at": time.time()}


def remember_orchestrators(services: Services, page: dict[int, Run]) -> None:
    """Keep the sweep's look at every orchestrator on a list page it just read, so the
    delivery that a child's completion triggers moments later needs no read of its own."""
    if not page:
        return
    store, redis = services.store, services.redis
    pipe = redis.pipeline(transaction=False)
    for run_id in page:
        pipe.exists(store.key("orch", run_id))
    known = [run_id for run_id, found in zip(page, pipe.execute(), strict=True) if found]
    if known:
        looks = {str(run_id): json.dumps(look(page[run_id])) for run_id in known}
        redis.hset(store.key("orchestrators", "looks"), mapping=looks)


def _still_true(services: Services, orchestrator: int, at: float) -> bool:
    """A look stands for a read if it is fresh and no resume of ours came after it."""
    resumed = services.redis.hget(services.store.key("orchestrators", "resumed"), str(orchestrator))
    return time.time() - at < FRESH_LOOK and at > float(resumed or 0)


def _remembered(services: Services, orchestrator: int) -> dict[str, Any] | None:
    raw = services.redis.hget(services.store.key("orchestrators", "looks"), str(orchestrator))
    return json.loads(raw) if raw else None


def delivered(services: Services, resume_task: dict[str, Any]) -> None:
    """The resume carrying these outcomes reached the orchestrator.

    Safe to call again (the finished-hook heals a launch that died mid-way): a child already
    marked delivered by this resume keeps the time it was first marked.
    """
    store = services.store
    if store.redis.hsetnx(store.task_key(resume_task["task_id"]), "latency_recorded", "1"):
        for entry in resume_task["delivers"]:
            services.recorder.delivery_latency(max(time.time() - float(entry["at"]), 0.0))
    script = services.redis.register_script(_DELIVERED)
    keys = [store.task_key(entry["task_id"]) for entry in resume_task["delivers"]]
    seqs = [entry["seq"] for entry in resume_task["delivers"]]
    marked = int(script(keys=keys, args=[resume_task["task_id"], now_iso(), *seqs]))
    orchestrator = int(resume_task["agent_run_id"])
    if marked:
        # Our resume makes it busy: any look taken before now no longer says it is free.
        services.redis.hset(
            services.store.key("orchestrators", "resumed"), str(orchestrator), repr(time.time())
        )
    _clear_inflight(services, orchestrator, resume_task["task_id"])


def returned(services: Services, resume_task: dict[str, Any]) -> None:
    """The resume failed before reaching the orchestrator: back to the inbox, or failed.

    Marking the resume task as returned and moving its results happen in one transaction,
    so a hook that runs twice (or dies half-way and runs again) moves them exactly once.
    """
    store, redis = services.store, services.redis
    orchestrator = int(resume_task["agent_run_id"])
    code = resume_task.get("error_code")
    retry = code in RETRYABLE
    children = {e["task_id"]: store.get(e["task_id"]) or {} for e in resume_task["delivers"]}
    key = store.task_key(resume_task["task_id"])
    with redis.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(key)
            if pipe.hget(key, "delivery_returned"):
                pipe.unwatch()
            else:
                pipe.multi()
                pipe.hset(key, "delivery_returned", "1")
                _move_back(services, pipe, orchestrator, resume_task, children, retry)
                pipe.execute()
        except WatchError:
            pass  # another run of this hook is doing it
    _clear_inflight(services, orchestrator, resume_task["task_id"])
    log.info(
        "delivery %s to %s came back (%s): %s",
        resume_task["task_id"],
        orchestrator,
        "will retry when free" if retry else "failed",
        resume_task.get("error"),
    )


def _move_back(
    services: Services,
    pipe: Any,
    orchestrator: int,
    resume_task: dict[str, Any],
    children: dict[str, dict[str, Any]],
    retry: bool,
) -> None:
    store = services.store
    busy = resume_task.get("error_code") == "orchestrator_busy"  # not the delivery's fault
    for entry in resume_task["delivers"]:
        child_key = store.task_key(entry["task_id"])
        attempts = int(children[entry["task_id"]].get("delivery_attempts") or 0)
        if retry and (busy or attempts < MAX_ATTEMPTS):
            pipe.zadd(
                inbox_key(services, orchestrator),
                {f"{entry['task_id']}:{entry['seq']}": entry["at"]},
            )
            pipe.hset(child_key, "delivery_state", "pending")
            pipe.hdel(child_key, "delivery_task_id")
            if busy:
                pipe.hincrby(child_key, "delivery_attempts", -1)
        else:
            pipe.hset(
                child_key,
                mapping={
                    "delivery_state": "failed",
                    "delivery_error": resume_task.get("error") or "resume failed",
                },
            )
    if retry:
        pipe.zadd(pending_key(services), {str(orchestrator): time.time()}, nx=True)


def pending_orchestrators(services: Services) -> list[int]:
    """Orchestrators with an inbox and no delivery in flight: the sweep watches these."""
    waiting = [int(o) for o in services.redis.zrange(pending_key(services), 0, -1)]
    pipe = services.redis.pipeline(transaction=False)
    for orchestrator in waiting:
        pipe.exists(inflight_key(services, orchestrator))
    return [o for o, busy in zip(waiting, pipe.execute(), strict=True) if not busy]


def is_idle(status: str) -> bool:
    return state_for(status) != State.RUNNING


# -- the transaction that turns an inbox into one resume ---------------------------------
def _take_inbox(
    services: Services, orchestrator: int, status: str, result_digest: str
) -> str | None:
    store, redis = services.store, services.redis
    inbox = inbox_key(services, orchestrator)
    for _ in range(5):
        with redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(inbox, inflight_key(services, orchestrator))
                entries = pipe.zrange(inbox, 0, -1, withscores=True)
                if not entries or pipe.exists(inflight_key(services, orchestrator)):
                    return None
                delivers = [_entry(member, at) for member, at in entries]
                fields = _resume_fields(services, orchestrator, delivers)
                # What we just saw of the orchestrator is the resume's baseline: its launch
                # need not read the run again (one read of the budget saved per delivery).
                fields.update(
                    baseline_status=status,
                    baseline_ts=repr(time.time()),
                    baseline_result=result_digest,
                )
                pipe.multi()
                task_id = store.create(fields, pipe=pipe)
                pipe.zrem(inbox, *(member for member, _ in entries))
                pipe.zrem(pending_key(services), str(orchestrator))
                pipe.set(inflight_key(services, orchestrator), task_id)
                for entry in delivers:
                    pipe.hset(store.task_key(entry["task_id"]), "delivery_task_id", task_id)
                    pipe.hincrby(store.task_key(entry["task_id"]), "delivery_attempts", 1)
                pipe.execute()
            except WatchError:
                continue  # a new result arrived meanwhile: take it too
        services.queue.send(queue.LAUNCH, task_id)
        log.info(
            "delivering %d result(s) to orchestrator %s as task %s",
            len(delivers),
            orchestrator,
            task_id,
        )
        return task_id
    return None


def _resume_fields(
    services: Services, orchestrator: int, delivers: list[dict[str, Any]]
) -> dict[str, Any]:
    children = [
        services.store.get(entry["task_id"]) or {"task_id": entry["task_id"]} for entry in delivers
    ]
    return {
        "command": "resume",
        "agent_run_id": orchestrator,
        "repo": services.store.repo_of_run(orchestrator),
        "query": delivery_prompt(children, services.settings.delivery_max_result),
        "task_type": "DELIVER_RESULTS",
        "orchestrator_run_id": _orchestrator_of(services, orchestrator),
        "delivers": delivers,
    }


def _orchestrator_of(services: Services, run_id: int) -> int | None:
    """Delivery continues up the chain: the orchestrator's own orchestrator, if it has one."""
    for task in reversed(services.store.get_many(services.store.tasks_for_run(run_id))):
        if task and task.get("orchestrator_run_id") is not None:
            return int(task["orchestrator_run_id"])
    return None


def _entry(member: str, at: float) -> dict[str, Any]:
    task_id, _, seq = member.rpartition(":")
    return {"task_id": task_id, "seq": int(seq), "at": at}


def _has_inbox(services: Services, orchestrator: int) -> bool:
    """True when results wait; else forget the orchestrator (unless one arrives meanwhile)."""
    redis = services.redis
    inbox = inbox_key(services, orchestrator)
    with redis.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(inbox)
            if pipe.zcard(inbox):
                return True
            pipe.multi()
            pipe.zrem(pending_key(services), str(orchestrator))
            pipe.execute()
        except WatchError:
            return True
    return False


def _fail_inbox(services: Services, orchestrator: int, reason: str) -> None:
    store, redis = services.store, services.redis
    inbox = inbox_key(services, orchestrator)
    entries = redis.zrange(inbox, 0, -1)
    pipe = redis.pipeline(transaction=True)
    for member in entries:
        pipe.hset(
            store.task_key(_entry(member, 0)["task_id"]),
            mapping={"delivery_state": "failed", "delivery_error": reason},
        )
    if entries:
        pipe.zrem(inbox, *entries)
    pipe.zrem(pending_key(services), str(orchestrator))
    pipe.execute()
    log.warning("delivery to %s failed for %d result(s): %s", orchestrator, len(entries), reason)


def _clear_inflight(services: Services, orchestrator: int, task_id: str) -> None:
    key = inflight_key(services, orchestrator)
    if services.redis.get(key) == task_id:
        services.redis.delete(key)
