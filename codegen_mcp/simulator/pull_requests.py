"""The pull request a completed run opens (one per run; follow-ups push to the same one)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from codegen_mcp.simulator.outcomes import first_line
from codegen_mcp.simulator.statuses import wire_time

if TYPE_CHECKING:
    from codegen_mcp.simulator.run import SimRun

DEFAULT_REPO = "acme/demo"


def pull_request(number: int, run: SimRun, at: float, repo_full_name: str | None) -> dict[str, Any]:
    """The pull request number `number` that run `run` opens at time `at`, as the API lists it on
    the run."""
    slug = re.sub(r"[^a-z0-9]+", "-", run.note.lower()).strip("-")[:40] or "change"
    return {
        "id": 2_400_000_000 + number,
        "title": first_line(run.note, 72),
        "url": f"https://github.com/{repo_full_name or DEFAULT_REPO}/pull/{number}",
        "created_at": wire_time(at),
        "head_branch_name": f"codegen-bot/{slug}-{run.id}",
    }
