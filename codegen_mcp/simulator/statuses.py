"""The run statuses of the real API and the timestamp form it really sends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from codegen_mcp.simulator.errors import InvalidControl

IN_PROGRESS = frozenset({"ACTIVE", "EVALUATION", "PENDING", "RUNNING"})
FAILED = frozenset({"ERROR", "FAILED", "TIMEOUT", "MAX_ITERATIONS_REACHED", "OUT_OF_TOKENS"})
# Final until reopened: a resume, a PR comment or failing CI sends any of these back to ACTIVE.
FINAL = frozenset({"COMPLETE", "PAUSED", "CANCELLED"}) | FAILED


def is_final(status: str) -> bool:
    """Unknown statuses (e.g. a value the API adds tomorrow) count as not final."""
    return status in FINAL


def wire_time(epoch: float) -> str:
    """`2025-06-21 11:20:04.338398`: space separator, microseconds, no zone (it is UTC)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def status_word(status: Any) -> str:
    """A status a control call names, as the API spells it (trimmed, upper case);
    InvalidControl for anything but a non-empty string."""
    if not isinstance(status, str) or not status.strip():
        raise InvalidControl("status must be a non-empty string such as COMPLETE")
    return status.strip().upper()
