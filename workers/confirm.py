"""Confirm a run webhook: at most one GET of the run, applied as the sweep applies it.

A webhook is a hint (codegen_mcp/webhooks_in.py): it says that a run may have changed. The
truth is what a GET of the run says, read inside the shared budget and applied through
observe.apply, the code the sweep uses. So a forged, replayed, late or out-of-order webhook
costs at most one read and moves a task only where the API says it is. A hint that the task
already shows (same settled status, same result) costs nothing; hints for a run read moments
ago wait for one read at the end of that moment.
"""

from __future__ import annotations

import logging
from typing import Any

from codegen_mcp.api.errors import ApiNotFound, ApiRateLimited, ApiUnavailable
from codegen_mcp.services import Services
from codegen_mcp.states import SETTLED, State
from workers import observe

log = logging.getLogger(__name__)

READ_GAP = 2.0  # at most one confirming read of a run per this many seconds
BUDGET_WAIT = 10.0  # longer waits for a read slot go back to the queue
NOT_STARTED_RETRY = 2.0


class Later(Exception):
    """Confirm again after `delay` seconds."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.delay = delay


def confirm(services: Services, task_id: str, hint: dict[str, Any]) -> str:
    """Act on one webhook for `task_id`; what was done ("read", "coalesced", ...).
    Raises Later when the read must wait (the run was read moments ago, no budget)."""
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
    if not _read_slot(services, run_id, deferred=bool(hint.get("deferred"))):
        services.recorder.count("hooks", "coalesced")
        return "coalesced"
    return _read_and_apply(services, owner_id, owner, run_id)


def _shown_already(task: dict[str, Any], hint: dict[str, Any]) -> bool:
    """The task is settled at the status (and result) the hint names: nothing to read."""
    status = hint.get("status")
    if task["state"] not in SETTLED or not isinstance(status, str):
        return False
    if status.upper() != str(task.get("api_status") or "").upper():
        return False
    return "result" not in hint or hint["result"] == observe.digest(task.get("result"))


def _read_slot(services: Services, run_id: int, *, deferred: bool) -> bool:
    """True: read now. Else a read of the run went out moments ago: one later read is
    scheduled (Later) unless one already is (False: this hint rides on it)."""
    keys, redis = services.store.keys, services.redis
    gap = int(READ_GAP * 1000)
    if redis.set(keys.hook_read(run_id), "1", nx=True, px=gap):
        return True
    if deferred or redis.set(keys.hook_deferred(run_id), "1", nx=True, px=gap):
        raise Later(f"run {run_id} was read moments ago", READ_GAP + 0.2)
    return False


def _read_and_apply(services: Services, owner_id: str, owner: dict[str, Any], run_id: int) -> str:
    try:
        client = services.client(max_wait=BUDGET_WAIT)
        run = client.get_run(run_id)
    except ApiNotFound:
        return "not_found"  # the sweep decides when a run is gone (two 404s in a row)
    except ApiRateLimited as exc:
        services.redis.delete(services.store.keys.hook_read(run_id))
        raise Later(exc.message, exc.retry_after) from None
    except ApiUnavailable as exc:
        services.redis.delete(services.store.keys.hook_read(run_id))
        raise Later(exc.message, 5.0) from None
    services.recorder.count("hooks", "reads")
    changed = observe.apply(services, owner_id, run, owner)
    if changed and run.state in SETTLED:
        services.recorder.count("hooks", "first_seen|webhook")
    services.store.mark_checked([owner_id])
    return "changed" if changed else "read"
