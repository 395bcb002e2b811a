"""The sweep beside webhooks: which watched runs it looks at now, and what it counts.

A run whose task asked for a webhook (CODEGEN_MCP_PUBLIC_URL) is covered while this
deployment's webhooks arrive: the sweep looks at it every SLOW_INTERVALS intervals instead of
every interval, so the read budget goes to the runs nobody reports. When the sweep finds
such a run settled before its webhook came, the delivery counts as lost, and every run is
swept at the normal rate for DEGRADED_INTERVALS intervals.
"""

from __future__ import annotations

import time

from codegen_mcp.api.models import Run
from codegen_mcp.services import Services
from codegen_mcp.states import SETTLED

SLOW_INTERVALS = 10
DEGRADED_INTERVALS = 10


def webhooks_working(services: Services) -> bool:
    """This deployment asks for webhooks, they have been arriving, and none was missed lately."""
    if not services.settings.public_url:
        return False
    keys = services.store.keys
    working, degraded = services.redis.mget(keys.hooks("working"), keys.hooks("degraded"))
    return bool(working) and not degraded


def due(services: Services, watched: list[tuple[str, float]]) -> list[str]:
    """The watched tasks to look at in this sweep: all of them, unless webhooks work; then
    the covered ones only once SLOW_INTERVALS intervals passed since their last check."""
    task_ids = [task_id for task_id, _ in watched]
    if not task_ids or not webhooks_working(services):
        return task_ids
    every = SLOW_INTERVALS * services.settings.poll_interval
    now = time.time()
    rows = services.store.fields(task_ids, "hook_token")
    return [
        task_id
        for (task_id, checked), row in zip(watched, rows, strict=True)
        if not row["hook_token"] or now - checked >= every
    ]


def seen_by_sweep(services: Services, task_id: str, run: Run) -> None:
    """The sweep moved `task_id`: a settle it saw first is counted; if the task asked for a
    webhook that has not come, the delivery is lost."""
    if run.state not in SETTLED:
        return
    services.recorder.count("hooks", "first_seen|sweep")
    if not services.settings.public_url:
        return
    row = services.store.fields([task_id], "hook_token", "hook_seen_at", "started_ts")[0]
    if not row["hook_token"]:
        return
    if float(row["hook_seen_at"] or 0) >= float(row["started_ts"] or 0) > 0:
        return  # the webhook came; its confirming read was simply slower than the sweep
    services.recorder.count("hooks", "lost")
    window = DEGRADED_INTERVALS * services.settings.poll_interval
    services.redis.set(services.store.keys.hooks("degraded"), "1", px=int(window * 1000))
