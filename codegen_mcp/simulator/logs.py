"""The alpha logs endpoint's entries, derived from a run's history when they are asked for.

One ACTION per second of ACTIVE time (the first at the moment the agent starts, so even a fast
scripted run shows some work), a PLAN_EVALUATION when it enters EVALUATION, a FINAL_ANSWER when
it completes or pauses, an ERROR when it fails, and a USER_MESSAGE for every resume it took,
carrying the resume prompt verbatim (callers search logs for markers placed in prompts).
"""

from __future__ import annotations

from typing import Any

from codegen_mcp.simulator.pages import page
from codegen_mcp.simulator.run import SimRun
from codegen_mcp.simulator.statuses import FAILED, wire_time

ACTION_EVERY = 1.0
# A run stuck for days would otherwise grow its log without bound.
MAX_ACTIONS_PER_STRETCH = 2000
TOOLS = (
    ("ripgrep_search", {"query": "def main"}, "Found 3 matches in 2 files"),
    ("view_file", {"path": "src/app.py"}, "120 lines"),
    ("edit_file", {"path": "src/app.py", "edit": "..."}, "File updated"),
    ("run_command", {"command": "pytest -q"}, "42 passed"),
    ("git_commit", {"message": "Apply requested change"}, "Committed 1 file"),
)


def logs_page(run: SimRun, now: float, skip: int, limit: int, reverse: bool) -> dict[str, Any]:
    """The logs endpoint's answer: the run's head fields and one page of its log."""
    entries = log_entries(run, now)
    if reverse:
        entries.reverse()
    paged = page(entries, skip, limit)
    public = run.public()
    head = ("id", "organization_id", "status", "created_at", "web_url", "result", "metadata")
    return {
        **{key: public[key] for key in head},
        "logs": paged["items"],
        "total_logs": paged["total"],
        "page": paged["page"],
        "size": paged["size"],
        "pages": paged["pages"],
    }


def log_entries(run: SimRun, now: float) -> list[dict[str, Any]]:
    """Every log entry of `run` up to `now`, oldest first."""
    timed: list[tuple[float, int, dict[str, Any]]] = []
    for resume in run.resumes:
        timed.append((resume["at"], 0, _entry(run, resume["at"], "USER_MESSAGE", resume["prompt"])))
    for index, change in enumerate(run.history):
        end = run.history[index + 1]["at"] if index + 1 < len(run.history) else now
        if change["status"] == "ACTIVE":
            timed.extend(
                (at, 1, _action(run, at, n)) for n, at in enumerate(_ticks(change["at"], end, now))
            )
        elif change["status"] == "EVALUATION":
            text = "Reviewing the changes against the request before finishing."
            timed.append((change["at"], 1, _entry(run, change["at"], "PLAN_EVALUATION", text)))
    for final in run.finals:
        kind = "ERROR" if final["status"] in FAILED else "FINAL_ANSWER"
        if final["status"] == "CANCELLED":
            continue
        text = final["result"] if kind == "FINAL_ANSWER" else final["summary"]
        timed.append((final["at"], 2, _entry(run, final["at"], kind, text)))
    timed.sort(key=lambda item: (item[0], item[1]))
    return [entry for _, _, entry in timed]


def _ticks(start: float, end: float, now: float) -> list[float]:
    ticks: list[float] = []
    at = start
    while (at < end or at == start) and at <= now and len(ticks) < MAX_ACTIONS_PER_STRETCH:
        ticks.append(at)
        at = start + ACTION_EVERY * len(ticks)
    return ticks


def _action(run: SimRun, at: float, n: int) -> dict[str, Any]:
    tool, tool_input, output = TOOLS[n % len(TOOLS)]
    entry = _entry(run, at, "ACTION", {"status": "success", "results": [output]})
    entry.update(
        thought=f"Working on: {run.note}",
        tool_name=tool,
        tool_input=dict(tool_input),
        tool_output=output,
    )
    return entry


def _entry(run: SimRun, at: float, message_type: str, observation: Any) -> dict[str, Any]:
    return {
        "agent_run_id": run.id,
        "created_at": wire_time(at),
        "message_type": message_type,
        "thought": None,
        "tool_name": None,
        "tool_input": None,
        "tool_output": None,
        "observation": observation,
    }
