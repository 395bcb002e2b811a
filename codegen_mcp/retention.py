"""Retention: settled tasks are removed, with every trace, some time after they settled.

A task enters the `settled` index (by when it settled) in the transition script and leaves
it when its run re-opens. A beat task (`workers/tasks.py`) calls `run` every minute: it
reads the oldest due ids (`BATCH` at a time, never a scan of the keyspace) and one Lua call
per batch (`store_scripts.REMOVE`) removes each task's hash and every index entry, outbox
and inbox leftover, marker and delivery bookkeeping, re-checking each task inside the call.
A child whose outcome an orchestrator still waits for (delivery pending, or its
finished-hook not run yet) is kept and looked at again `RECHECK` seconds later: it is
removed once delivered (or failed). Paused tasks count as settled from when they paused: a
resume names the run, not the task, so it still works after the paused task is removed.

A removed task leaves a tombstone, kept as long as the task was kept after it settled (at
most `TOMBSTONES` of them): `task_status` says it was removed, and the `tree` of its
orchestrator lists it as removed rather than forgetting it. Entries of the event stream age
out by count (events.KEPT), not with their task.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from codegen_mcp import webhooks_in
from codegen_mcp.states import SETTLED
from codegen_mcp.store import TaskStore
from codegen_mcp.store_codec import text
from codegen_mcp.store_scripts import REMOVE

# Tasks per Lua call: a call holds Redis 50-85 µs a task on a shared 2-core machine
# (bench/README.md, "Memory under retention"): 5-8 ms a batch, 25 ms at worst.
BATCH = 100
PASSES = 10  # batches per run at most (1,000 tasks a minute: far above any creation rate)
RECHECK = 300.0  # seconds before a task kept for its delivery is looked at again
TOMBSTONES = 50_000  # removed ids remembered at most (about 100 bytes each)
DAY = 86400.0


@dataclass(frozen=True)
class Sweep:
    """What one run of retention did: tasks removed, kept for a delivery, Lua calls, time."""

    removed: int = 0
    deferred: int = 0
    batches: int = 0
    seconds: float = 0.0


def kept_ms(retention_days: float) -> int | None:
    """The least time a task is kept from its creation, in ms (MCP Tasks' ttlMs): it is removed
    `retention_days` after it settled. None: kept without limit (retention off)."""
    return max(round(retention_days * 86_400_000), 1) if retention_days > 0 else None


def run(store: TaskStore, retention_days: float) -> Sweep:
    """Remove the tasks settled more than `retention_days` ago (0: keep every task)."""
    if retention_days <= 0:
        return Sweep()
    index_settled(store)
    return remove_expired(store, retention_days * DAY)


def remove_expired(
    store: TaskStore,
    keep_seconds: float,
    *,
    batch: int = BATCH,
    passes: int = PASSES,
    now: float | None = None,
) -> Sweep:
    """Remove what settled more than `keep_seconds` before `now`, `batch` tasks per Lua call,
    at most `passes` calls. The bench passes seconds (months simulated in minutes); the
    product passes CODEGEN_MCP_RETENTION_DAYS in seconds."""
    started = time.perf_counter()
    now = time.time() if now is None else now
    cutoff = now - keep_seconds
    script = store.redis.register_script(REMOVE)
    keys = store.keys
    heads = [
        keys.task(""),
        keys.state(""),
        keys.repo(""),
        keys.orch(""),
        keys.run(""),
        keys.requeued(""),
        keys.inbox(""),
        keys.inflight(""),
        keys.gone(""),
        keys.launch_lock(""),
        keys.notify(""),
        keys.notify_lock(""),
    ]
    fixed = [
        keys.tasks(),
        keys.settled(),
        keys.runowner(),
        keys.recent(),
        keys.watch(),
        keys.outbox(),
        keys.missing(),
        keys.removed(),
        keys.orchestrators(),
        keys.looks(),
        keys.resumed(),
        keys.pending(),
        keys.notify_pending(),
        keys.hook_tokens(),
    ]
    tombstone_seconds = max(math.ceil(keep_seconds), 1)
    removed = deferred = calls = 0
    for _ in range(passes):
        due = store.redis.zrangebyscore(keys.settled(), "-inf", cutoff, start=0, num=batch)
        if not due:
            break
        args = [cutoff, now, tombstone_seconds, TOMBSTONES, RECHECK, *heads]
        gone, kept = script(keys=fixed, args=[*args, *_with_digests(store, due)])
        removed, deferred, calls = removed + int(gone), deferred + int(kept), calls + 1
        if len(due) < batch:
            break
    return Sweep(removed, deferred, calls, time.perf_counter() - started)


def _with_digests(store: TaskStore, due: list[Any]) -> list[str]:
    """Each task id followed by the digest its run-webhook token is indexed under ("" for
    none): Lua has no SHA-256, so it is computed here."""
    ids = [text(t) for t in due]
    pairs: list[str] = []
    for task_id, row in zip(ids, store.fields(ids, "hook_token"), strict=True):
        token = row["hook_token"]
        pairs += [task_id, webhooks_in.token_digest(token) if token else ""]
    return pairs


def index_settled(store: TaskStore, chunk: int = 500) -> None:
    """Index the settled tasks of a store written before the settled index existed (once),
    by their last update; in chunks, so Redis serves others in between."""
    if not store.redis.set(store.keys.settled_indexed(), "1", nx=True):
        return
    for state in SETTLED:
        for start in range(0, int(store.redis.zcard(store.keys.state(state.value))), chunk):
            index = store.keys.state(state.value)
            ids = [text(t) for t in store.redis.zrange(index, start, start + chunk - 1)]
            rows = store.fields(ids, "updated_at")
            scores = {
                task_id: float(row["updated_at"] or time.time())
                for task_id, row in zip(ids, rows, strict=True)
            }
            if scores:
                store.redis.zadd(store.keys.settled(), scores, nx=True)


def removed_at(store: TaskStore, task_id: str) -> str | None:
    """When retention removed task `task_id` (ISO 8601), if it did and still remembers it."""
    score = store.redis.zscore(store.keys.removed(), task_id)
    return None if score is None else _iso(float(score))


def removed_children(store: TaskStore, orchestrator: object) -> list[dict[str, Any]]:
    """The children of `orchestrator` that retention removed, as `tree` nodes."""
    found = store.redis.hgetall(store.keys.gone(orchestrator))
    nodes = []
    for task_id, raw in sorted(found.items()):
        stone = json.loads(raw)
        nodes.append(
            {
                "agent_run_id": None,
                "task_id": text(task_id),
                "state": "removed",
                "final_state": stone["state"],
                "removed_at": _iso(float(stone["removed_at"])),
                "codegen_status": None,
                "summary": None,
                "web_url": None,
                "tasks": [text(task_id)],
                "children": [],
            }
        )
    return nodes


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
