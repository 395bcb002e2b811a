"""Readable output of the command line: key: value blocks, tables, the tree drawing, log lines."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from datetime import UTC, datetime
from typing import Any

INDENT = "  "


def width() -> int:
    """The terminal's width; off a terminal, COLUMNS or wide enough to keep most lines whole."""
    return shutil.get_terminal_size((200, 24)).columns


def error(message: str) -> None:
    """Print `codegen-mcp: message` on stderr."""
    print(f"codegen-mcp: {message}", file=sys.stderr)


def as_json(body: dict[str, Any]) -> str:
    """`body` as indented JSON, non-ASCII text kept readable."""
    return json.dumps(body, indent=2, ensure_ascii=False)


def clip(text: str, limit: int) -> str:
    """`text` on one line (whitespace runs made one space), cut to `limit` characters."""
    return fit(" ".join(text.split()), limit)


def fit(line: str, limit: int) -> str:
    """`line` cut to `limit` characters, with an ellipsis when it was cut."""
    if len(line) <= limit:
        return line
    return line[: max(limit - 1, 0)] + "…" if limit > 0 else ""


# -- key: value blocks -----------------------------------------------------------------
def block(pairs: list[tuple[str, Any]]) -> str:
    """`key: value` lines, values aligned; None values are left out."""
    shown = [(key, value) for key, value in pairs if value is not None and value != ""]
    if not shown:
        return ""
    pad = max(len(key) for key, _ in shown) + 2
    return "\n".join(f"{key + ':':<{pad}}{value}" for key, value in shown)


def text_section(title: str, text: str | None) -> str:
    """A multi-line text (result, error, question) under its title, indented."""
    if not text:
        return ""
    return f"{title}:\n{textwrap.indent(str(text).strip(), INDENT)}"


def state_label(state: str | None, codegen_status: str | None) -> str:
    """`running (ACTIVE)`: our state, with the Codegen status when there is one."""
    state = state or "?"
    return f"{state} ({codegen_status})" if codegen_status else state


def started(answer: dict[str, Any]) -> str:
    """The answer of new and resume."""
    pairs = [(key, answer.get(key)) for key in ("task_id", "agent_run_id", "state", "web_url")]
    return "\n".join(part for part in (block(pairs), answer.get("message") or "") if part)


def status(view: dict[str, Any]) -> str:
    """A task_status answer: where the task is, then what it said."""
    meta = view.get("metadata") or {}
    prs = [pr.get("url") for pr in view.get("pull_requests") or [] if pr.get("url")]
    delivery = view.get("delivery") or {}
    pairs: list[tuple[str, Any]] = [
        ("task_id", view.get("task_id")),
        ("state", state_label(view.get("state"), view.get("codegen_status"))),
        ("agent_run_id", view.get("agent_run_id")),
        ("web_url", view.get("web_url")),
        ("command", meta.get("command")),
        ("repo", meta.get("repo")),
        ("branch", meta.get("branch")),
        ("pr", meta.get("pr")),
        ("task", meta.get("task_type")),
        ("query", clip(view.get("query") or "", width() - 16) or None),
        ("created_at", view.get("created_at")),
        ("started_at", view.get("started_at")),
        ("completed_at", view.get("completed_at")),
        ("pull_requests", ", ".join(prs) or None),
        ("orchestrator", view.get("orchestrator_run_id")),
        ("delivery", delivery.get("state")),
        ("cancel_scope", view.get("cancel_scope")),
    ]
    if view.get("state") == "paused":
        # A paused run's question: its last message, or its result when the log had none.
        said = text_section("the agent asks", view.get("last_message") or view.get("result"))
    else:
        said = text_section("result", view.get("result"))
    sections = [
        block(pairs),
        said,
        text_section("error", view.get("error")),
        text_section("note", view.get("cancel_note")),
    ]
    return "\n".join(part for part in sections if part)


def cancelled(answer: dict[str, Any]) -> str:
    """The answer of cancel."""
    pairs = [(key, answer.get(key)) for key in ("task_id", "agent_run_id", "state")]
    return "\n".join(part for part in (block(pairs), answer.get("message") or "") if part)


def config(answer: dict[str, Any]) -> str:
    """The answer of config: one `key: value (source)` line per setting, then its message."""
    values = answer.get("config") or [answer]
    lines = [f"{v.get('key')}: {_text(v.get('value'))} ({v.get('source')})" for v in values]
    if answer.get("message"):
        lines.append(str(answer["message"]))
    return "\n".join(lines)


# -- tables ------------------------------------------------------------------------------
LIST_COLUMNS = ("TASK ID", "STATE", "RUN", "REPO", "TYPE", "AGE", "QUERY")


def task_table(tasks: list[dict[str, Any]], now: datetime | None = None) -> str:
    """The answer of list: one row per task, ages counted from `now`."""
    if not tasks:
        return "no tasks"
    rows = [
        [
            task.get("task_id") or "",
            _text(task.get("state")),
            _text(task.get("agent_run_id")),
            _text(task.get("repo")),
            _text(task.get("task_type")),
            age(task.get("created_at"), now),
            " ".join(str(task.get("query") or "").split()),
        ]
        for task in tasks
    ]
    return table(LIST_COLUMNS, rows)


def table(headers: tuple[str, ...], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; the last one clipped to the terminal's width."""
    sizes = [max(len(row[i]) for row in [list(headers), *rows]) for i in range(len(headers))]
    lead = sum(size + 2 for size in sizes[:-1])
    last = max(width() - lead, 12)

    def line(cells: list[str]) -> str:
        padded = [cell.ljust(size) for cell, size in zip(cells[:-1], sizes, strict=False)]
        return "  ".join([*padded, clip(cells[-1], last)]).rstrip()

    return "\n".join(line(row) for row in [list(headers), *rows])


def age(stamp: str | None, now: datetime | None = None) -> str:
    """How long before `now` the ISO time `stamp` was, as `5m ago`; `-` without one."""
    when = parse_time(stamp)
    if when is None:
        return "-"
    seconds = max(int(((now or datetime.now(UTC)) - when).total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def parse_time(stamp: str | None) -> datetime | None:
    """The ISO time `stamp` as an aware datetime (UTC when it names no zone), or None."""
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


# -- the orchestrator tree ---------------------------------------------------------------
def tree(root: dict[str, Any]) -> str:
    """An orchestrator hierarchy drawn with box lines: a line per task or run, its summary below."""
    lines: list[str] = []
    _node(root, lead="", branch="", below="", lines=lines)
    return "\n".join(lines)


def _node(node: dict[str, Any], *, lead: str, branch: str, below: str, lines: list[str]) -> None:
    children = node.get("children") or []
    lines.append(lead + branch + _node_label(node))
    if node.get("summary"):
        prefix = below + ("│   " if children else "    ")
        lines.append(prefix + clip(node["summary"], width() - len(prefix)))
    for index, child in enumerate(children):
        last = index == len(children) - 1
        _node(
            child,
            lead=below,
            branch="└── " if last else "├── ",
            below=below + ("    " if last else "│   "),
            lines=lines,
        )


def _node_label(node: dict[str, Any]) -> str:
    if node.get("agent_run_id") is not None:
        name = f"run {node['agent_run_id']}"
    else:
        name = f"task {node.get('task_id')}"
    parts = [name, state_label(node.get("state"), node.get("codegen_status"))]
    delivery = node.get("delivery")
    if delivery:
        parts.append(f"delivery: {delivery.get('state')}")
    return "  ".join(parts)


# -- agent log lines -----------------------------------------------------------------------
def log_line(entry: dict[str, Any]) -> str:
    """`12:00:01  ACTION  view_file  text`, in local time."""
    when = parse_time(entry.get("at"))
    clock = when.astimezone().strftime("%H:%M:%S") if when else "--:--:--"
    parts = [clock, str(entry.get("type") or "?")]
    if entry.get("tool"):
        parts.append(str(entry["tool"]))
    if entry.get("text"):
        parts.append(" ".join(str(entry["text"]).split()))
    return "  ".join(parts)
