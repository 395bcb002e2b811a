"""The periodic sweep: one pass that watches every running task within the API budget.

One list call (the token's own API runs, newest first) refreshes up to 100 runs; only
watched runs the pages did not show are fetched one by one, with whatever read budget is
left. A task is watched in the organization it was started in: one such pass per
organization. The same pass re-enqueues work that a crash may have lost: queued tasks
nobody is launching, and finished-hooks nobody ran.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field

from codegen_mcp import inbox, queue, task_org
from codegen_mcp.api.client import CodegenClient
from codegen_mcp.api.errors import ApiError, ApiNotFound, ApiRateLimited
from codegen_mcp.api.models import Run
from codegen_mcp.errors import NotConfigured
from codegen_mcp.services import Services
from codegen_mcp.states import State
from workers import delivery, launch, observe, sweep_cover, sweep_lock, sweep_pages

log = logging.getLogger(__name__)

STALE_OUTBOX = 30.0
REOPEN_WINDOW = 24 * 3600.0
REOPEN_CHECK_SWEEPS = 6


@dataclass
class SweepReport:
    at: float = field(default_factory=time.time)
    skipped: str | None = None
    watched: int = 0
    list_calls: int = 0
    get_calls: int = 0
    changed: int = 0
    requeued: int = 0
    unchecked: int = 0
    orchestrators: int = 0
    reopen_check: bool = False
    duration: float = 0.0
    error: str | None = None
    deadline: float = 0.0

    def time_left(self) -> float:
        """Seconds this sweep may still spend before it must stop (never negative)."""
        return max(self.deadline - time.monotonic(), 0.0)


def sweep(services: Services) -> SweepReport:
    """One pass over watched runs and pending deliveries (skipped if one runs or just ran)."""
    report = SweepReport()
    redis = services.redis
    # A pass stops paging in time for the next one to carry on; its lock is a short lease
    # renewed while it works, so a killed sweep stalls watching for seconds, not a minute.
    settings = services.settings
    report.deadline = time.monotonic() + 0.6 * max(
        10 * settings.poll_interval, 2 * settings.request_timeout + 5
    )
    with sweep_lock.lease(redis, services.store.keys.sweep_lock()) as held:
        if not held:
            report.skipped = "another sweep is running"
            return report
        try:
            last = redis.get(services.store.keys.sweep("last"))
            if last and time.time() - float(last) < services.settings.poll_interval * 0.5:
                report.skipped = "swept moments ago"
                return report
            _sweep(services, report)
            redis.set(services.store.keys.sweep("last"), repr(time.time()))
            services.recorder.sweep(time.time() - report.at, report.watched)
        finally:
            report.duration = time.time() - report.at
            redis.set(services.store.keys.sweep("report"), json.dumps(asdict(report)), ex=3600)
    return report


def _sweep(services: Services, report: SweepReport) -> None:
    report.requeued = requeue_lost(services)
    watched = services.store.watched()
    orchestrators = inbox.pending_orchestrators(services.store)
    report.watched = len(watched)
    report.orchestrators = len(orchestrators)
    due = sweep_cover.due(services, watched)  # runs that webhooks report are looked at less
    if not due and not orchestrators:
        report.reopen_check = _reopen_check_due(services)
        if not report.reopen_check:
            return
    try:
        current = services.config.credentials().org_id
    except NotConfigured as exc:
        report.error = exc.message
        return
    for org, (task_ids, waiting) in _by_org(services, due, orchestrators, current).items():
        try:
            client = services.client(max_wait=report.time_left(), org_id=org)
            seen = _poll(services, client, task_ids, waiting, report)
            _free_orchestrators(services, client, waiting, seen, report)
        except ApiError as exc:
            where = "" if org == current else f"in organization {org}, where its tasks started: "
            report.error = where + exc.message
            log.warning("sweep stopped early %s%s", where, exc.message)


def _by_org(
    services: Services, task_ids: list[str], orchestrators: list[int], current: int
) -> dict[int, tuple[list[str], list[int]]]:
    """Watched tasks and pending orchestrators by the organization they are in (a task keeps
    the org it was started in: codegen_mcp.task_org), the org in force now first: one list
    pass per organization. With nothing to watch (a re-open check), the org in force now."""
    groups: dict[int, tuple[list[str], list[int]]] = {current: ([], [])}
    for task_id, row in zip(task_ids, services.store.fields(task_ids, "org_id"), strict=True):
        groups.setdefault(int(row["org_id"] or current), ([], []))[0].append(task_id)
    for orchestrator in orchestrators:
        org = task_org.run_org(services, orchestrator) or current
        groups.setdefault(org, ([], []))[1].append(orchestrator)
    if len(groups) > 1 and groups[current] == ([], []):
        del groups[current]  # all it watches is elsewhere: no list call here
    return groups


def _reopen_check_due(services: Services) -> bool:
    """Whether to list anyway, every few sweeps: settled runs may reopen (a PR comment, CI)."""
    if not services.store.recently_settled(REOPEN_WINDOW):
        return False
    key = services.store.keys.sweep("reopen_check")
    every = REOPEN_CHECK_SWEEPS * services.settings.poll_interval
    return bool(services.redis.set(key, "1", nx=True, px=int(every * 1000)))


def _poll(
    services: Services,
    client: CodegenClient,
    task_ids: list[str],
    orchestrators: list[int],
    report: SweepReport,
) -> dict[int, Run]:
    store = services.store
    rows = store.fields(task_ids, "agent_run_id", "created_ts")
    # A run may have several watched tasks (a resume accepted while it ran): each hears.
    wanted: dict[int, list[str]] = {}
    for task_id, row in zip(task_ids, rows, strict=True):
        if row["agent_run_id"]:
            wanted.setdefault(int(row["agent_run_id"]), []).append(task_id)
    oldest = min((float(row["created_ts"] or 0) for row in rows), default=0.0)
    seen: dict[int, Run] = {}
    paused = observe.paused_by_run(services)

    def on_page(runs: list[Run]) -> None:
        """Apply each page on arrival: users hear what was read while the sweep waits for budget."""
        page = {run.id: run for run in runs}
        seen.update(page)
        _apply(services, page, wanted, report, paused)

    sweep_pages.list_pages(services, client, [*wanted, *orchestrators], oldest, report, on_page)
    missing = {run_id: ids for run_id, ids in wanted.items() if run_id not in seen}
    sweep_pages.get_each(services, client, missing, report)
    return seen


def _apply(
    services: Services,
    page: dict[int, Run],
    wanted: dict[int, list[str]],
    report: SweepReport,
    paused: dict[int, list[str]],
) -> None:
    store = services.store
    owners = store.owners(list(page))
    targets = [
        (run_id, task_id)
        for run_id, task_id in owners.items()
        if task_id not in wanted.get(run_id, ())
    ]  # settled owners: re-open checks
    targets += [(r, t) for r in page for t in paused.get(r, ()) if t != owners.get(r)]  # follow
    targets += [(run_id, task_id) for run_id in page for task_id in wanted.get(run_id, ())]
    tasks = store.get_many([task_id for _, task_id in targets])
    for (run_id, task_id), task in zip(targets, tasks, strict=True):
        if task is not None and observe.apply(services, task_id, page[run_id], task):
            sweep_cover.seen_by_sweep(services, task_id, page[run_id])
            report.changed += 1
    store.mark_checked([t for run_id in page for t in wanted.get(run_id, ())])
    delivery.remember_orchestrators(services, page)


def _free_orchestrators(
    services: Services,
    client: CodegenClient,
    orchestrators: list[int],
    seen: dict[int, Run],
    report: SweepReport,
) -> None:
    """Orchestrators with results waiting: deliver to each one the API shows free."""
    client.max_wait = 0.0
    for orchestrator in orchestrators:
        run = seen.get(orchestrator)
        if run is None:
            try:
                run = client.get_run(orchestrator)
            except ApiRateLimited:
                return  # the next sweep looks again
            except ApiNotFound:
                services.queue.send(queue.DELIVER, orchestrator, True)  # deliver() says why
                continue
            report.get_calls += 1
        delivery.when_free(services, run)


def requeue_lost(services: Services) -> int:
    """Re-send work whose message a crash, a kill or a Redis restart may have lost."""
    store, redis = services.store, services.redis
    count = 0
    stale = services.settings.requeue_after
    stale_ids = store.in_state(State.QUEUED, older_than=stale)
    for task_id, row in zip(stale_ids, store.fields(stale_ids, "retry_at"), strict=True):
        if launch.launch_in_progress(services, task_id) or launch.retry_pending(row):
            continue
        if redis.set(store.keys.requeued(task_id), "1", nx=True, px=int(stale * 1000)):
            services.queue.send(queue.LAUNCH, task_id)
            count += 1
    for task_id, seq in store.outbox(older_than=STALE_OUTBOX):
        if redis.set(store.keys.requeued(f"{task_id}:{seq}"), "1", nx=True, ex=int(STALE_OUTBOX)):
            services.queue.send(queue.FINISHED, task_id, seq)
            count += 1
    return count
