"""Progress notifications while `task_status` waits, for a caller that gave a progress token.

Some hosts reset their timeout on each progress notification: a wait of up to 25 s then never
looks like a hung call. Sent from the MCP server middleware (the SDK's request-scoped
`report_progress`), so the tool itself stays a plain function over the commands.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio

PROGRESS_EVERY = 5.0  # seconds between two notifications while the wait goes on
log = logging.getLogger(__name__)


def waited_seconds(method: str, params: Mapping[str, Any] | None) -> float | None:
    """How long a `task_status` call with a progress token may wait; None for other calls."""
    if method != "tools/call" or not params or params.get("name") != "task_status":
        return None
    meta = params.get("_meta")
    if not isinstance(meta, Mapping) or meta.get("progressToken") is None:
        return None
    arguments = params.get("arguments")
    wait = arguments.get("wait") if isinstance(arguments, Mapping) else None
    # schemas.py judges the value; only a usable positive number starts the notifications.
    if isinstance(wait, bool) or not isinstance(wait, int | float) or wait <= 0:
        return None
    return float(wait)


class WaitProgress:
    """MCP server middleware: a notification at once, then every PROGRESS_EVERY seconds,
    until the waiting `task_status` call answers."""

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        wait = waited_seconds(ctx.method, ctx.params)
        if wait is None:
            return await call_next(ctx)
        async with anyio.create_task_group() as group:
            group.start_soon(_report, ctx.session, min(wait, 25.0))
            try:
                return await call_next(ctx)
            finally:
                group.cancel_scope.cancel()


async def _report(session: Any, wait: float) -> None:
    started = anyio.current_time()
    while True:
        waited = min(anyio.current_time() - started, wait)
        message = f"waiting for the task to change ({waited:.0f} of {wait:g} s)"
        try:
            await session.report_progress(waited, wait, message)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            log.debug("progress not sent: %r", exc)  # the caller went away; the call ends too
            return
        await anyio.sleep(PROGRESS_EVERY)
