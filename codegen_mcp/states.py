"""Our task states: what a task is, as users see it, whatever the upstream run says.

The upstream vocabulary (the API's run statuses and how they map to these states) lives in
`codegen_mcp.api.status`; this module knows nothing of it.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """A task's state as users see it."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def settled(self) -> bool:
        """The run is no longer working: its outcome can be reported."""
        return self in SETTLED


# The states with an outcome to report (the store's transition script spells the same set).
SETTLED = frozenset({State.PAUSED, State.COMPLETED, State.FAILED, State.CANCELLED})
