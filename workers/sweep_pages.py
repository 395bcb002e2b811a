"""The sweep's reads upstream: list pages of the token's API runs, then the runs the pages
did not show, one by one, within the read budget and the sweep's time."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from codegen_mcp.api.client import CodegenClient
from codegen_mcp.api.errors import ApiNotFound, ApiRateLimited
from codegen_mcp.api.models import Run
from codegen_mcp.services import Services
from codegen_mcp.states import State
from workers import observe, sweep_cover, upstream

if TYPE_CHECKING:
    from workers.sweep import SweepReport

MAX_PAGES = 100
MANY_UNSEEN = 10
LIST_PAGE = 100


def list_pages(
    services: Services,
    client: CodegenClient,
    wanted: list[int],
    oldest: float,
    report: SweepReport,
    on_page: Callable[[list[Run]], None],
) -> None:
    """Page through the token's API runs, newest first, until every wanted run was seen.

    Normally ceil(N/100) + 2 pages; more only while many wanted runs are still unseen
    (runs finished out of order push the watched ones deeper) and the pages are not yet
    older than the oldest watched task. Stops, keeping what it read, when the budget or
    the sweep's time runs out: the next sweep carries on.
    """
    user = upstream.user_id(services, client)
    unseen = set(wanted)
    usual = math.ceil(len(wanted) / LIST_PAGE) + 2
    for page in range(MAX_PAGES):
        if page >= usual and len(unseen) < MANY_UNSEEN:
            break  # the few left are cheaper one by one
        client.max_wait = report.time_left()
        if page and not client.max_wait:
            break
        try:
            runs, _total = client.list_runs(
                user_id=user, source_type="API", skip=page * LIST_PAGE, limit=LIST_PAGE
            )
        except ApiRateLimited as exc:
            report.error = exc.message
            return
        report.list_calls += 1
        unseen.difference_update(run.id for run in runs)
        on_page(runs)
        if not unseen or len(runs) < LIST_PAGE:
            return
        last = runs[-1].created_at
        if last is not None and last.timestamp() < oldest - 300:
            return  # older than every watched task: the rest are not on later pages either


def get_each(
    services: Services, client: CodegenClient, missing: dict[int, list[str]], report: SweepReport
) -> None:
    """Runs the list did not show, least recently checked first, with the budget left now."""
    client.max_wait = 0.0
    for index, (run_id, task_ids) in enumerate(missing.items()):
        if not report.time_left():
            report.unchecked = len(missing) - index
            return
        try:
            run = client.get_run(run_id)
        except ApiRateLimited:
            report.unchecked = len(missing) - index
            return
        except ApiNotFound as exc:
            _run_not_found(services, task_ids, exc.message)
            continue
        report.get_calls += 1
        for task_id in task_ids:
            if observe.apply(services, task_id, run):
                sweep_cover.seen_by_sweep(services, task_id, run)
                report.changed += 1
        services.redis.hdel(services.store.keys.missing(), *task_ids)
        services.store.mark_checked(task_ids)


def _run_not_found(services: Services, task_ids: list[str], message: str) -> None:
    """One 404 can be a blip (or a config change in flight); two in a row mean it is gone."""
    key = services.store.keys.missing()
    for task_id in task_ids:
        if services.redis.hincrby(key, task_id, 1) >= 2:
            services.redis.hdel(key, task_id)
            observe.fail(
                services,
                task_id,
                f"the agent run is gone upstream: {message}",
                allowed=[State.RUNNING],
                code="upstream_not_found",
            )
