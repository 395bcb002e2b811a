"""Confirm run webhooks: a read of the runs they name, applied as the sweep applies it.

A webhook is a hint (codegen_mcp/webhooks_in.py): it says that a run may have changed. The
truth is what the API says, read inside the shared budget and applied through observe.apply,
the code the sweep uses. So a forged, replayed, late or out-of-order webhook costs at most one
read and moves a task only where the API says it is.

- A hint the task already shows (settled at that status and result) costs nothing.
- Hinted runs wait in one set; one worker at a time (the reader) drains it: a GET for one
  run, a list page for several within the newest 100; more than that, deeper in the list,
  go to the sweep (marked due, a sweep sent now), which pages through the list anyway.
  So a quiet deployment pays one read per completion, and a burst of completions waits
  for the next budget slots, which then confirm them all.
- A run gets at most MAX_READS_PER_RUN confirming reads per READS_WINDOW: a flood of hints
  for one run (say an unsigned forgery at a leaked address) cannot drain the budget.
- A read that shows an orchestrator free while outcomes wait in its inbox starts their
  delivery at once, as the sweep would on its next pass (delivery.when_free).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Any

from redis.exceptions import LockError

from codegen_mcp import inbox, queue
from codegen_mcp.api.client import CodegenClient
from codegen_mcp.api.errors import ApiNotFound, ApiRateLimited, ApiUnavailable
from codegen_mcp.api.models import Run
from codegen_mcp.services import Services
from codegen_mcp.states import SETTLED, State
from workers import delivery, observe, upstream

log = logging.getLogger(__name__)

BUDGET_WAIT = 10.0  # longer waits for a read slot go back to the queue
NOT_STARTED_RETRY = 2.0
READER_LEASE = 60.0  # seconds the reader's lock lives if the reader dies
MAX_HOLD = 30.0  # seconds one reader drains before it hands over
PACE_SHARE = 0.7  # of the read budget, at most, for confirming reads
MAX_READS_PER_RUN = 10
READS_WINDOW = 600
LIST_PAGE = 100


class Later(Exception):
    """Confirm again after `delay` seconds."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.delay = delay


def confirm(services: Services, task_id: str, hint: dict[str, Any]) -> str:
    """Act on one webhook for `task_id`; what was done ("read", "coalesced", ...).
    Raises Later when it must be tried again (no run yet, no budget, Codegen unreachable):
    the retry carries `retry` in its hint, and drains what a failed read put back."""
    outcome = _hinted(services, task_id, hint)
    if outcome != "pending" and not services.redis.scard(services.store.keys.hooks("pending")):
        return outcome
    drained = drain(services)
    return drained if outcome == "pending" else outcome


def _hinted(services: Services, task_id: str, hint: dict[str, Any]) -> str:
    """Add the hinted run to the set the reader drains ("pending"), unless it needs no read."""
    store = services.store
    task = store.get(task_id)
    if task is None:
        return "gone"
    if not task.get("agent_run_id"):
        if task["state"] == State.QUEUED:
            raise Later("the run is not attached yet", NOT_STARTED_RETRY)
        return "no_run"
    run_id = int(task["agent_run_id"])
    if hint.get("run_id") not in (None, run_id):
        services.recorder.count("hooks", "rejected|run_mismatch")
        return "run_mismatch"
    owner_id = store.owners([run_id]).get(run_id) or task_id
    owner = task if owner_id == task_id else store.get(owner_id)
    if owner is None:
        return "gone"
    if _shown_already(owner, hint):
        services.recorder.count("hooks", "coalesced")
        return "coalesced"
    if not hint.get("retry") and not _within_allowance(services, run_id):
        services.recorder.count("hooks", "rejected|too_many")
        return "too_many"
    services.redis.sadd(store.keys.hooks("pending"), run_id)
    return "pending"


def _shown_already(task: dict[str, Any], hint: dict[str, Any]) -> bool:
    """The task is settled at the status (and result) the hint names: nothing to read."""
    status = hint.get("status")
    if task["state"] not in SETTLED or not isinstance(status, str):
        return False
    if status.upper() != str(task.get("api_status") or "").upper():
        return False
    return "result" not in hint or hint["result"] == observe.digest(task.get("result"))


def _within_allowance(services: Services, run_id: int) -> bool:
    key = services.store.keys.hook_read(run_id)
    pipe = services.redis.pipeline(transaction=True)
    pipe.set(key, 0, nx=True, ex=READS_WINDOW)
    pipe.incr(key)  # keeps the window's expiry
    return int(pipe.execute()[1]) <= MAX_READS_PER_RUN


def drain(services: Services) -> str:
    """Confirm every hinted run, if no other worker is at it ("queued" then: it will).

    The reader paces its reads (`pace`): a burst of webhooks never takes more than
    PACE_SHARE of the read budget, so the sweep and the commands keep the rest, and the
    budget's window is never emptied only to stall. A reader that held on for MAX_HOLD
    hands over to a fresh message, so no worker is kept busy for long."""
    redis, keys = services.redis, services.store.keys
    done = "queued"
    while True:
        lock = redis.lock(keys.hooks("reader"), timeout=READER_LEASE, blocking=False)
        if not lock.acquire():
            return done  # the reader looks at the set again before it lets go
        began = time.monotonic()
        try:
            while time.monotonic() - began < MAX_HOLD:
                _wait_for_pace(services)
                run_ids = [int(r) for r in redis.spop(keys.hooks("pending"), LIST_PAGE) or []]
                if not run_ids:
                    break
                done = _confirm_runs(services, run_ids)
                redis.set(keys.hooks("last_read"), repr(time.time()), ex=60)
        finally:
            with contextlib.suppress(LockError):  # expired: another reader may be at work
                lock.release()
        if not redis.scard(keys.hooks("pending")):
            return done
        if time.monotonic() - began >= MAX_HOLD:
            services.queue.send(queue.WEBHOOK, "", {"drain": True})  # a fresh reader goes on
            return done


def pace(services: Services) -> float:
    """Seconds between two confirming reads: PACE_SHARE of the read budget at most."""
    limit = services.settings.read_limit
    return limit.window / (limit.count * PACE_SHARE)


def _wait_for_pace(services: Services) -> None:
    last = services.redis.get(services.store.keys.hooks("last_read"))
    gap = pace(services)
    wait = float(last) + gap - time.time() if last else 0.0
    if wait > 0:
        time.sleep(min(wait, gap))


def _confirm_runs(services: Services, run_ids: list[int]) -> str:
    """One read for `run_ids` (a GET for one, a list page for more) in each organization their
    tasks were started in, then a GET each for those the page did not show. Put back and Later
    (what was read is applied) if the budget or the API says wait."""
    pending = services.store.keys.hooks("pending")
    groups = list(_by_org(services, run_ids).items())
    runs: list[Run] = []
    for done, (org, group) in enumerate(groups):
        try:
            client = services.client(max_wait=BUDGET_WAIT, org_id=org)
            runs += _read(services, client, group)
        except (ApiRateLimited, ApiUnavailable) as exc:
            services.redis.sadd(pending, *[run for _, left in groups[done:] for run in left])
            for run in runs:
                _apply(services, run)
            delay = exc.retry_after if isinstance(exc, ApiRateLimited) else 5.0
            raise Later(exc.message, delay) from None
    changed = sum(_apply(services, run) for run in runs)
    return "changed" if changed else "read"


def _by_org(services: Services, run_ids: list[int]) -> dict[int | None, list[int]]:
    """The runs by the organization their tasks were started in (codegen_mcp.task_org; None:
    the one in force now, for a task recorded before tasks kept theirs)."""
    owners = services.store.owners(run_ids)
    rows = services.store.fields([owners.get(r, "") for r in run_ids], "org_id")
    groups: dict[int | None, list[int]] = {}
    for run_id, row in zip(run_ids, rows, strict=True):
        groups.setdefault(int(row["org_id"]) if row["org_id"] else None, []).append(run_id)
    return groups


def _read(services: Services, client: CodegenClient, run_ids: list[int]) -> list[Run]:
    found: dict[int, Run] = {}
    pages = _pages_needed(services, run_ids)
    if len(run_ids) > 1 and 1 < pages < len(run_ids):
        _to_the_sweep(services, run_ids)
        return []
    if len(run_ids) > 1 and pages < len(run_ids):
        found = _list(services, client, set(run_ids), pages)
    for run_id in run_ids:
        if run_id in found:
            continue
        try:
            found[run_id] = client.get_run(run_id)
        except ApiNotFound:
            continue  # the sweep decides when a run is gone (two 404s in a row)
        services.recorder.count("hooks", "reads")
    return list(found.values())


def _to_the_sweep(services: Services, run_ids: list[int]) -> None:
    """Many runs, deep in the list: the sweep pages through it anyway, so it reads them
    (marked due at once, however covered) and nothing is read twice."""
    owners = list(services.store.owners(run_ids).values())
    if owners:
        services.redis.zadd(services.store.keys.watch(), dict.fromkeys(owners, 0), xx=True)
    services.recorder.count("hooks", "to_sweep", len(run_ids))
    services.queue.send(queue.SWEEP)


def _pages_needed(services: Services, run_ids: list[int]) -> int:
    """List pages (newest first) that should reach the oldest of `run_ids`: our tasks
    created since its task, a page per 100 (an overestimate: a resume makes no new run)."""
    store = services.store
    owners = list(store.owners(run_ids).values())
    created = [float(row["created_ts"] or 0) for row in store.fields(owners, "created_ts")]
    if not created:
        return 1
    newer = services.redis.zcount(store.keys.tasks(), min(created), "+inf")
    return max(math.ceil(newer / LIST_PAGE), 1)


def _list(
    services: Services, client: CodegenClient, wanted: set[int], pages: int
) -> dict[int, Run]:
    """Up to `pages` list pages (newest first), stopping once every wanted run was seen."""
    user = upstream.user_id(services, client)
    found: dict[int, Run] = {}
    for page in range(pages):
        runs, _ = client.list_runs(
            user_id=user, source_type="API", skip=page * LIST_PAGE, limit=LIST_PAGE
        )
        services.recorder.count("hooks", "reads")
        found.update((run.id, run) for run in runs if run.id in wanted)
        if len(found) == len(wanted) or len(runs) < LIST_PAGE:
            break
    return found


def _apply(services: Services, run: Run) -> bool:
    owner_id = services.store.owners([run.id]).get(run.id)
    if owner_id is None:
        return False
    changed = observe.apply(services, owner_id, run)
    if changed and run.state in SETTLED:
        services.recorder.count("hooks", "first_seen|webhook")
    services.store.mark_checked([owner_id])
    # A busy orchestrator's inbox waits for a read that shows it free: this one may.
    if inbox.is_pending(services.store, run.id) and delivery.when_free(services, run):
        services.recorder.count("hooks", "delivery_requests")
    return changed
