"""Codegen run statuses (the upstream vocabulary) and the task states they map to.

The API sends statuses in UPPERCASE while Codegen's own docs compare with lowercase
"completed"; everything here compares case-insensitively. An unknown status is taken to
mean the run is still in progress (the watcher caps how long it waits).
"""

from __future__ import annotations

from codegen_mcp.states import State

IN_PROGRESS = frozenset({"ACTIVE", "EVALUATION", "PENDING", "RUNNING"})
NEEDS_INPUT = frozenset({"PAUSED"})
SUCCEEDED = frozenset({"COMPLETE", "COMPLETED"})
FAILED = frozenset({"ERROR", "FAILED", "TIMEOUT", "MAX_ITERATIONS_REACHED", "OUT_OF_TOKENS"})
CANCELLED = frozenset({"CANCELLED", "CANCELED"})


def normalize(status: object) -> str:
    """An API status as compared everywhere: stripped, UPPERCASE ("" for none)."""
    return str(status or "").strip().upper()


def state_for(status: object) -> State:
    """The task state for an API run status; unknown values count as in progress."""
    value = normalize(status)
    if value in SUCCEEDED:
        return State.COMPLETED
    if value in FAILED:
        return State.FAILED
    if value in CANCELLED:
        return State.CANCELLED
    if value in NEEDS_INPUT:
        return State.PAUSED
    return State.RUNNING


# Every status the API is known to send: the one list (`list --status` takes any of them).
KNOWN = IN_PROGRESS | NEEDS_INPUT | SUCCEEDED | FAILED | CANCELLED


def filter_state(name: str) -> State | None:
    """The task state a status filter names: one of ours (case-insensitive) or one of the
    API's statuses (mapped); None for anything else, surrounding spaces included."""
    if name != name.strip():
        return None
    try:
        return State(name.lower())
    except ValueError:
        pass
    upstream = normalize(name)
    return state_for(upstream) if upstream in KNOWN else None
