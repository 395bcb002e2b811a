"""How a task is written in its Redis hash: every value a string, read back typed."""

from __future__ import annotations

import json
from typing import Any


def encode(fields: dict[str, Any]) -> dict[str, str]:
    """Hash values are strings: JSON for structures, "" for None (which HDELs the field)."""
    out = {}
    for name, value in fields.items():
        if value is None:
            out[name] = ""
        elif isinstance(value, (dict, list, tuple)):
            out[name] = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, bool):
            out[name] = "1" if value else "0"
        else:
            out[name] = str(value)
    return out


JSON_FIELDS = ("pull_requests", "metadata", "delivers")
INT_FIELDS = (
    "delivery_seq",
    "delivery_attempts",
    "agent_run_id",
    "pr",
    "orchestrator_run_id",
    "repo_id",
    "outcome_seq",
    "reopen_count",
)


def queued_record(
    fields: dict[str, Any], task_id: str, now: float, created_at: str
) -> dict[str, str]:
    """The hash of a new queued task made of `fields`, encoded (no empty values)."""
    record = {
        **fields,
        "task_id": task_id,
        "state": "queued",
        "created_at": fields.get("created_at") or created_at,
        "created_ts": repr(now),
        "updated_at": repr(now),
    }
    return {name: value for name, value in encode(record).items() if value != ""}


def decode(raw: dict[Any, Any]) -> dict[str, Any]:
    """A task hash as read, typed: JSON structures parsed, counters and ids as int."""
    task: dict[str, Any] = {text(k): text(v) for k, v in raw.items()}
    for name in JSON_FIELDS:
        if name in task:
            task[name] = json.loads(task[name])
    for name in INT_FIELDS:
        if name in task:
            task[name] = int(task[name])
    return task


def text(value: Any) -> str:
    """A Redis reply as str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def optional(value: Any) -> str | None:
    """A Redis reply as str, None kept."""
    return None if value is None else text(value)


def outbox_entry(entry: str) -> tuple[str, int]:
    """An outbox or inbox member "task id:seq" as (task id, seq)."""
    task_id, _, seq = entry.rpartition(":")
    return task_id, int(seq)
