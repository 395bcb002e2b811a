"""Orchestrator delivery: each child's outcome reaches its orchestrator exactly once.

The inbox itself (accept, take, give back) is `codegen_mcp.inbox`. Here: when to take it.
A delivery takes the whole inbox as one resume, which goes through the normal launch path,
whose log-marker check makes the non-idempotent resume call happen once. A busy
orchestrator keeps its inbox (fan-in: one resume for all of it) until a read shows it free:
the sweep's, or the one that confirms the webhook of its own run (`when_free`).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from codegen_mcp import inbox, queue, task_org
from codegen_mcp.api.errors import ApiNotFound
from codegen_mcp.api.models import Run
from codegen_mcp.api.status import state_for
from codegen_mcp.notify_args import NOTIFY_EVENTS
from codegen_mcp.prompts import delivery_prompt
from codegen_mcp.services import Services
from codegen_mcp.states import State
from workers.observe import digest

log = logging.getLogger(__name__)

FRESH_LOOK = 5.0  # seconds the sweep's look at an orchestrator stands for a fresh read


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
    store = services.store
    if inbox.in_flight(store, orchestrator) or not inbox.waiting(store, orchestrator):
        return None
    seen = seen or _remembered(services, orchestrator)
    if seen and _still_true(services, orchestrator, float(seen["at"])):
        status, result_digest = str(seen["status"]), str(seen["result_digest"])
    else:
        try:
            org = task_org.run_org(services, orchestrator)  # its org, as our tasks tell it
            run = services.client(max_wait=20.0, org_id=org).get_run(orchestrator)
        except ApiNotFound as exc:
            reason = f"orchestrator run {orchestrator} not found: {exc.message}"
            count = inbox.fail_all(store, orchestrator, reason)
            log.warning("delivery to %s failed for %d result(s): %s", orchestrator, count, reason)
            return None
        status, result_digest = run.status, digest(run.result)
    busy = state_for(status) == State.RUNNING
    if busy and (services.settings.delivery_policy == "wait" or from_sweep):
        log.info("orchestrator %s is %s: results wait in its inbox", orchestrator, status)
        return None
    return _take(services, orchestrator, status, result_digest)


def when_free(services: Services, run: Run) -> bool:
    """Start the delivery to orchestrator `run` if the read just made shows it free; True
    when started. The sweep and a confirmed webhook both come through here: deliver() takes
    the inbox only while no resume of it is in flight, in one transaction, so two senders at
    the same moment still make one resume."""
    if not is_idle(run.status):
        return False
    services.queue.send(queue.DELIVER, run.id, True, look(run))
    return True


def look(run: Run) -> dict[str, Any]:
    """What a read saw of an orchestrator, for deliver(): as old as the read was when sent,
    however long it waited to be used (a resume of ours since then makes it stale)."""
    at = run.read_at or time.time()
    return {"status": run.status, "result_digest": digest(run.result), "at": at}


def remember_orchestrators(services: Services, page: dict[int, Run]) -> None:
    """Keep the sweep's look at every orchestrator on a list page it just read, so the
    delivery that a child's completion triggers moments later needs no read of its own."""
    if not page:
        return
    keys, redis = services.store.keys, services.redis
    pipe = redis.pipeline(transaction=False)
    for run_id in page:
        pipe.exists(keys.orch(run_id))
    known = [run_id for run_id, found in zip(page, pipe.execute(), strict=True) if found]
    if known:
        looks = {str(run_id): json.dumps(look(page[run_id])) for run_id in known}
        redis.hset(keys.looks(), mapping=looks)


def _still_true(services: Services, orchestrator: int, at: float) -> bool:
    """A look stands for a read if it is fresh and no resume of ours came after it."""
    resumed = services.redis.hget(services.store.keys.resumed(), str(orchestrator))
    return time.time() - at < FRESH_LOOK and at > float(resumed or 0)


def _remembered(services: Services, orchestrator: int) -> dict[str, Any] | None:
    raw = services.redis.hget(services.store.keys.looks(), str(orchestrator))
    return json.loads(raw) if raw else None


def delivered(services: Services, resume_task: dict[str, Any]) -> None:
    """The resume carrying these outcomes reached the orchestrator.

    Safe to call again (the finished-hook heals a launch that died mid-way): a child already
    marked delivered by this resume keeps the time it was first marked.
    """
    store = services.store
    if store.mark_once(resume_task["task_id"], "latency_recorded"):
        for entry in resume_task["delivers"]:
            services.recorder.delivery_latency(max(time.time() - float(entry["at"]), 0.0))
    marked = store.mark_delivered(resume_task["task_id"], resume_task["delivers"])
    orchestrator = int(resume_task["agent_run_id"])
    if marked:
        # Our resume makes it busy: any look taken before now no longer says it is free.
        services.redis.hset(store.keys.resumed(), str(orchestrator), repr(time.time()))
    inbox.clear_inflight(store, orchestrator, resume_task["task_id"])


def returned(services: Services, resume_task: dict[str, Any]) -> None:
    """The resume failed before reaching the orchestrator: back to the inbox, or failed.

    Marking the resume task as returned and moving its results happen in one transaction,
    so a hook that runs twice (or dies half-way and runs again) moves them exactly once.
    """
    retry = inbox.give_back(services.store, resume_task)
    log.info(
        "delivery %s to %s came back (%s): %s",
        resume_task["task_id"],
        resume_task["agent_run_id"],
        "will retry when free" if retry else "failed",
        resume_task.get("error"),
    )


def is_idle(status: str) -> bool:
    """An orchestrator in this API status can take a resume now."""
    return state_for(status) != State.RUNNING


def _take(services: Services, orchestrator: int, status: str, result_digest: str) -> str | None:
    """Take the inbox as one resume and hand it to the launch queue."""
    taken: list[dict[str, Any]] = []

    def fields(delivers: list[dict[str, Any]]) -> dict[str, Any]:
        taken[:] = delivers
        # What we just saw of the orchestrator is the resume's baseline: its launch need
        # not read the run again (one read of the budget saved per delivery).
        return {
            **_resume_fields(services, orchestrator, delivers),
            "baseline_status": status,
            "baseline_ts": repr(time.time()),
            "baseline_result": result_digest,
        }

    task_id = inbox.take(services.store, orchestrator, fields)
    if task_id is None:
        return None
    services.queue.send(queue.LAUNCH, task_id)
    log.info(
        "delivering %d result(s) to orchestrator %s as task %s", len(taken), orchestrator, task_id
    )
    return task_id


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
        **task_org.of_run(services, orchestrator),
        **_caller_webhook(services, orchestrator),
    }


def _caller_webhook(services: Services, run_id: int) -> dict[str, Any]:
    """The webhook of the run's newest task, if it has one: the conversation goes on in the
    delivery's resume, and so do the caller's events (as for an MCP Tasks answer). Not its
    `failed`: a delivery that fails is retried, or its children say so (tree)."""
    newest = services.store.tasks_for_run(run_id)[-1:]
    row = services.store.fields(newest, "notify_url", "notify_events")[0] if newest else {}
    if not row.get("notify_url"):
        return {}
    wanted = row["notify_events"].split(",") if row["notify_events"] else NOTIFY_EVENTS
    events = [name for name in wanted if name != State.FAILED.value]
    return {"notify_url": row["notify_url"], "notify_events": ",".join(events)} if events else {}


def _orchestrator_of(services: Services, run_id: int) -> int | None:
    """Delivery continues up the chain: the orchestrator's own orchestrator, if it has one."""
    for task in reversed(services.store.get_many(services.store.tasks_for_run(run_id))):
        if task and task.get("orchestrator_run_id") is not None:
            return int(task["orchestrator_run_id"])
    return None
