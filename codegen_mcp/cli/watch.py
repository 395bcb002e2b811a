"""Watching from the command line: `--wait` until a task settles, `logs --follow`.

Both follow the task on the front's event stream (GET /events), so a change shows as soon as
it happens and a quiet task costs no request at all; against a front without one they
long-poll `task_status` with `wait` (changes.py). The agent log comes from the Codegen API
through the front and draws on the API's logs budget, so it is read every few seconds, not
every tick.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from codegen_mcp.api.status import state_for
from codegen_mcp.cli import output
from codegen_mcp.cli.changes import TaskChanges
from codegen_mcp.cli.http import FrontClient, FrontError

EXIT_FOR_STATE = {"completed": 0, "failed": 1, "cancelled": 1, "paused": 2}
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130
LONG_POLL = 25.0  # the front's longest task_status wait
LOG_EVERY = 5.0  # seconds between agent log reads (live display and --follow)
TICK = 0.2
PAGE = 100  # the logs command's largest page
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class Progress:
    """Plain lines, one per change (state, Codegen status, run id): for logs, pipes and CI."""

    wants_log = False

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.seen: tuple[Any, ...] | None = None

    def update(self, view: dict[str, Any]) -> None:
        """Show the task's status `view`: a line when its state, status or run changed."""
        now = (view.get("state"), view.get("codegen_status"), view.get("agent_run_id"))
        if now != self.seen:
            self.seen = now
            print(_progress_text(view), file=self.stream, flush=True)

    def log(self, line: str) -> None:
        """Show the agent's latest log line (plain progress leaves it out)."""

    def close(self) -> None:
        """End the display before anything else is printed."""


class LiveProgress(Progress):
    """One line redrawn in place: spinner, state, elapsed time, the agent's latest log line."""

    wants_log = True

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.view: dict[str, Any] = {}
        self.log_text = ""
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
        self.stream.write("\x1b[?25l")  # hide the cursor while the line moves
        self.ticker.start()

    def update(self, view: dict[str, Any]) -> None:
        """Redraw the line with the task's status `view`."""
        with self.lock:
            self.view = view
        self._draw()

    def log(self, line: str) -> None:
        """Redraw the line with the agent's latest log line."""
        with self.lock:
            self.log_text = line
        self._draw()

    def close(self) -> None:
        """Stop redrawing, clear the line and show the cursor again."""
        self.stopped.set()
        self.ticker.join(1.0)
        with self.lock:
            self.stream.write("\r\x1b[K\x1b[?25h")
            self.stream.flush()

    def _tick(self) -> None:
        while not self.stopped.wait(TICK):
            self._draw()

    def _draw(self) -> None:
        with self.lock:
            if self.stopped.is_set() or not self.view:
                return
            spin = SPINNER[int(time.monotonic() / TICK) % len(SPINNER)]
            text = f"{spin} {_progress_text(self.view)}"
            if self.log_text:
                text += f"  │ {self.log_text}"
            self.stream.write("\r" + output.fit(text, output.width() - 1) + "\x1b[K")
            self.stream.flush()


def progress_for(stream: TextIO) -> Progress:
    """The live line on a terminal, plain lines anywhere else."""
    return LiveProgress(stream) if stream.isatty() else Progress(stream)


def watch_task(client: FrontClient, task_id: str, *, timeout: float | None, as_json: bool) -> int:
    """`--wait`: show progress, then the task's status; the exit code says how it ended."""
    # With --json, stdout carries one JSON document: progress goes to stderr.
    progress = progress_for(sys.stderr if as_json else sys.stdout)
    try:
        try:
            view, code = wait_for_task(client, task_id, progress, timeout)
        finally:
            progress.close()  # before any message: the live line is cleared, the cursor back
    except KeyboardInterrupt:
        output.error(
            f"stopped waiting; task {task_id} goes on (Ctrl-C never stops the run). "
            f"Watch it again with: codegen-mcp status {task_id} --wait"
        )
        return EXIT_INTERRUPTED
    if not as_json and not isinstance(progress, LiveProgress):
        print()  # the plain progress lines end; the status block starts
    print(output.as_json(view) if as_json else output.status(view))
    if code == EXIT_TIMEOUT:
        output.error(
            f"gave up waiting after {timeout:g}s; task {task_id} is {view['state']} and goes on"
        )
    elif view["state"] == "paused" and not as_json:
        print(f'\nThe run waits for an answer: codegen-mcp resume {view["agent_run_id"]} "..."')
    return code


def wait_for_task(
    client: FrontClient, task_id: str, progress: Progress, timeout: float | None
) -> tuple[dict[str, Any], int]:
    """Follow the task until it settles (its exit code) or `timeout` passes (124)."""
    changes = TaskChanges(client, task_id)
    try:
        return _follow_task(client, changes, progress, timeout)
    finally:
        changes.close()


def _follow_task(
    client: FrontClient, changes: TaskChanges, progress: Progress, timeout: float | None
) -> tuple[dict[str, Any], int]:
    task_id = changes.task_id
    deadline = None if timeout is None else time.monotonic() + timeout
    next_log = 0.0
    view = changes.current()
    while True:
        progress.update(view)
        if view["state"] in EXIT_FOR_STATE:
            return view, EXIT_FOR_STATE[view["state"]]
        left = LONG_POLL if deadline is None else deadline - time.monotonic()
        if left <= 0:
            return view, EXIT_TIMEOUT
        wait = min(LONG_POLL, left)
        if progress.wants_log and view.get("agent_run_id"):
            if time.monotonic() >= next_log:
                next_log = time.monotonic() + LOG_EVERY
                progress.log(latest_log_line(client, task_id))
            wait = min(wait, max(next_log - time.monotonic(), 0.1))
        view = changes.next(view, wait)


def latest_log_line(client: FrontClient, task_id: str) -> str:
    """The agent's newest log entry as one line; empty when there is none or the read fails."""
    try:
        page = client.call("logs", {"task_id": task_id, "limit": 1})
    except FrontError:
        return ""  # the log line only decorates the display; the wait goes on without it
    entries = page.get("logs") or []
    return output.log_line(entries[0]) if entries else ""


# -- logs --follow ---------------------------------------------------------------------------
def follow(client: FrontClient, target: dict[str, Any], *, limit: int, as_json: bool) -> int:
    """`logs --follow` on stdout: 0 when the run finishes, 130 on Ctrl-C (the run goes on)."""
    try:
        return follow_logs(client, target, limit, sys.stdout, as_json)
    except KeyboardInterrupt:
        output.error("stopped following the log; the run goes on")
        return EXIT_INTERRUPTED


def follow_logs(
    client: FrontClient, target: dict[str, Any], limit: int, out: TextIO, as_json: bool
) -> int:
    """Print the newest `limit` entries, then each new one, until the run finishes."""
    task_id = target.get("task_id")
    changes = None if task_id is None else TaskChanges(client, task_id)
    try:
        # one that settled without a run: logs says so
        view = None if changes is None else _wait_for_run(changes)
        page = _read_logs(client, {**target, "limit": limit})
        seen = _total(page)
        _emit(list(reversed(page.get("logs") or [])), out, as_json)
        while True:
            if changes is not None and view is not None:
                view = changes.next(view, LOG_EVERY)  # early when the task moves
            else:
                time.sleep(LOG_EVERY)
            seen, status = _emit_new(client, target, seen, out, as_json)
            if (view["state"] in EXIT_FOR_STATE) if view else state_for(status).settled:
                return 0
    finally:
        if changes is not None:
            changes.close()


def _emit_new(
    client: FrontClient, target: dict[str, Any], seen: int, out: TextIO, as_json: bool
) -> tuple[int, str | None]:
    """Print the entries after the first `seen`, oldest first; the count and Codegen status."""
    while True:
        page = _read_logs(client, {**target, "skip": seen, "limit": PAGE, "reverse": False})
        entries = page.get("logs") or []
        _emit(entries, out, as_json)
        seen += len(entries)
        if len(entries) < PAGE:
            return seen, page.get("codegen_status")


def _read_logs(client: FrontClient, args: dict[str, Any]) -> dict[str, Any]:
    """A page of the log. Over this client's logs allowance (429; the dashboard and other
    readers on this machine share it), wait as long as the front says and read again."""
    while True:
        try:
            return client.call("logs", args)
        except FrontError as exc:
            if exc.http_status != 429:
                raise
            output.error(f"{exc.message} (waiting, then following on)")
            wait = exc.body.get("retry_after")
            time.sleep(wait if isinstance(wait, int | float) and wait > 0 else LOG_EVERY)


def _wait_for_run(changes: TaskChanges) -> dict[str, Any]:
    """A queued task has no run to read yet: wait until it has one, or settles without."""
    view = changes.current()
    while view.get("agent_run_id") is None and view["state"] not in EXIT_FOR_STATE:
        view = changes.next(view, LONG_POLL)
    return view


def _total(page: dict[str, Any]) -> int:
    total = page.get("total")
    return int(total) if isinstance(total, int) else len(page.get("logs") or [])


def _emit(entries: list[dict[str, Any]], out: TextIO, as_json: bool) -> None:
    for entry in entries:
        print(json.dumps(entry) if as_json else output.log_line(entry), file=out, flush=True)


# -- shared text ------------------------------------------------------------------------------
def _progress_text(view: dict[str, Any]) -> str:
    parts = [_elapsed(view), output.state_label(view.get("state"), view.get("codegen_status"))]
    if view.get("agent_run_id") is not None:
        parts.append(f"run {view['agent_run_id']}")
    return "  ".join(parts)


def _elapsed(view: dict[str, Any]) -> str:
    """Time since the task was created, as m:ss or h:mm:ss."""
    created = output.parse_time(view.get("created_at"))
    seconds = int((datetime.now(UTC) - created).total_seconds()) if created else 0
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"
