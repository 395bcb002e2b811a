"""The `logs` command: a page of a run's agent log (the alpha logs endpoint), shaped for
reading (time, type, tool, short text), cached briefly and charged to the shared budget.
The shaping serves the workers too: a paused run's question is its last message."""

from __future__ import annotations

import contextlib
import json
from typing import Any, cast

from redis.exceptions import LockError

from codegen_mcp import answers, quotas, task_org
from codegen_mcp.answers import LogEntry, Logs
from codegen_mcp.api.models import parse_timestamp
from codegen_mcp.commands.tasks import stored
from codegen_mcp.errors import NotFound
from codegen_mcp.services import Services

LOGS_BUDGET_WAIT = 5.0
TEXT = 300
SPEAKING = ("FINAL_ANSWER", "PLAN_EVALUATION", "ACTION", "ERROR")


def logs(services: Services, args: dict[str, Any], caller: str = "local") -> Logs:
    """A page of a run's agent log. Pages are cached for a few seconds, so a client that
    repeats itself (a dashboard, a `--follow`) costs the shared logs budget one read; only
    reads that reach the API count against the caller's allowance."""
    run_id = args.get("agent_run_id")
    if run_id is None:
        task = stored(services, args["task_id"])
        if task.get("agent_run_id") is None:
            raise NotFound(f"task {task['task_id']} has no agent run yet (it is {task['state']})")
        run_id = int(task["agent_run_id"])
    page = (args["skip"], args["limit"], int(args["reverse"]))
    key = services.store.keys.logpage(run_id, _run_version(services, run_id), *page)
    if (cached := services.redis.get(key)) is not None:
        return cast(Logs, json.loads(cached))
    # One reader fills a page while the others wait for it, instead of all reading it.
    lock = services.redis.lock(f"{key}:fill", timeout=30, blocking_timeout=LOGS_BUDGET_WAIT)
    held = lock.acquire()
    try:
        if (cached := services.redis.get(key)) is not None:
            return cast(Logs, json.loads(cached))
        quotas.take_logs_read(services, caller)
        answer = _read_logs(services, run_id, args)
        if (ttl := services.settings.logs_cache_seconds) > 0:
            services.redis.set(key, json.dumps(answer), px=int(ttl * 1000))
        return answer
    finally:
        if held:
            with contextlib.suppress(LockError):  # it expired: a slow read, nothing to undo
                lock.release()


def _run_version(services: Services, run_id: int) -> str:
    """Part of a cached page's key: a page read before the run moved on (a new Codegen
    status, a finished run) is never served after it, so `logs --follow` sees the end."""
    owner = services.store.owners([run_id]).get(run_id)
    if owner is None:
        return "-"
    row = services.store.fields([owner], "state", "api_status", "outcome_seq")[0]
    return ".".join(value or "" for value in row.values())


def _read_logs(services: Services, run_id: int, args: dict[str, Any]) -> Logs:
    client = task_org.client_for_run(services, run_id, max_wait=LOGS_BUDGET_WAIT)  # its org
    page = client.run_logs(run_id, skip=args["skip"], limit=args["limit"], reverse=args["reverse"])
    return answers.logs(run_id, page, [shape(entry) for entry in entries(page)])


def entries(page: dict[str, Any]) -> list[dict[str, Any]]:
    """A log page's entries: `logs` as the endpoint sends them, `items` as other pages do."""
    found = page.get("logs") or page.get("items") or []
    return [entry for entry in found if isinstance(entry, dict)]


def shape(entry: dict[str, Any]) -> LogEntry:
    """One log entry for reading: its time, type, tool, and its text cut to one short line."""
    when = parse_timestamp(entry.get("created_at"))
    return LogEntry(
        at=when.isoformat(timespec="seconds").replace("+00:00", "Z") if when else None,
        type=entry.get("message_type"),
        tool=entry.get("tool_name"),
        text=_short(_text(entry)),
    )


def last_message(entries: list[dict[str, Any]]) -> str | None:
    """What the agent said last (newest first in `entries`), in full: a paused run's question."""
    for entry in entries:
        if entry.get("message_type") in SPEAKING:
            text = _text(entry)
            if text:
                return text
    return None


def _text(entry: dict[str, Any]) -> str:
    for name in ("thought", "observation", "tool_output"):
        value = entry.get(name)
        if value:
            return value if isinstance(value, str) else json.dumps(value)
    return ""


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TEXT else text[: TEXT - 3] + "..."
