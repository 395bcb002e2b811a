"""The agent's log (the alpha logs endpoint), shaped for reading: time, type, tool, short text."""

from __future__ import annotations

import json
from typing import Any

from codegen_mcp.api.models import parse_timestamp

TEXT = 300
SPEAKING = ("FINAL_ANSWER", "PLAN_EVALUATION", "ACTION", "ERROR")


def entries(page: dict[str, Any]) -> list[dict[str, Any]]:
    """A log page's entries: `logs` as the endpoint sends them, `items` as other pages do."""
    found = page.get("logs") or page.get("items") or []
    return [entry for entry in found if isinstance(entry, dict)]


def shape(entry: dict[str, Any]) -> dict[str, Any]:
    when = parse_timestamp(entry.get("created_at"))
    return {
        "at": when.isoformat(timespec="seconds").replace("+00:00", "Z") if when else None,
        "type": entry.get("message_type"),
        "tool": entry.get("tool_name"),
        "text": _short(_text(entry)),
    }


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
