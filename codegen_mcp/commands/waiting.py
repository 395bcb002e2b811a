"""Commands that wait for a task to move (`new`/`resume` for the run id, `task_status` with
`wait`): the wait is a `Pending`, which the front settles its own way.

A Pending is made with its watch (waits.py) already open and the task read after it, so no
change is missed; the HTTP front settles it in its thread (`settle`), the MCP front in its
event loop (`settle_async`), holding no thread while it waits. Each wake-up re-reads the
task (one HGETALL); a look every SAFETY seconds covers a reader that lost the stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from codegen_mcp.services import Services
from codegen_mcp.waits import Watch

SAFETY = 5.0

Task = dict[str, Any]


@dataclass
class Pending:
    """A command's answer once `done(task)` holds or `timeout` seconds pass: `answer(task)`."""

    services: Services
    watch: Watch
    task: Task  # as read after the watch began
    timeout: float
    done: Callable[[Task], bool]
    answer: Callable[[Task], Mapping[str, Any]]


def wait_for(
    services: Services,
    task: Task,
    timeout: float,
    done: Callable[[Task], bool],
    answer: Callable[[Task], Mapping[str, Any]],
) -> Mapping[str, Any] | Pending:
    """The answer now when `task` (as stored) is done or there is no time to wait; else the
    Pending that waits for it."""
    if done(task) or timeout <= 0:
        return answer(task)
    watch = services.waits.watch(task["task_id"])
    try:
        task = _read(services, task)  # after the watch began: nothing missed
    except BaseException:
        watch.close()
        raise
    if done(task):
        watch.close()
        return answer(task)
    return Pending(services, watch, task, timeout, done, answer)


def settle(pending: Pending) -> Mapping[str, Any]:
    """Wait in this thread until the task is done or the time is over; the answer."""
    deadline = time.monotonic() + pending.timeout
    task = pending.task
    with pending.watch as watch:
        while not pending.done(task) and (left := deadline - time.monotonic()) > 0:
            watch.wait(min(left, SAFETY))
            task = _read(pending.services, task)
    return pending.answer(task)


async def settle_async(pending: Pending) -> Mapping[str, Any]:
    """`settle` in an event loop: it waits holding no thread, and reads in one."""
    deadline = time.monotonic() + pending.timeout
    task = pending.task
    with pending.watch as watch:
        while not pending.done(task) and (left := deadline - time.monotonic()) > 0:
            await watch.wait_async(min(left, SAFETY))
            task = await anyio.to_thread.run_sync(_read, pending.services, task)
    return pending.answer(task)


def _read(services: Services, task: Task) -> Task:
    return services.store.get(task["task_id"]) or task
