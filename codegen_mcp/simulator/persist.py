"""The simulator's runs on disk, so a simulator restarted on the same file goes on where it
stopped: the same runs, the next ids after the last ones, runs in progress still progressing
(their schedules are wall-clock times, so a run due to finish while we were down has finished).

One JSON file, rewritten whole (atomically, mode 0600) whenever a request changed something.
Only `codegen-mcp up --simulate` gives a file; a simulator without one keeps all in memory.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codegen_mcp.simulator.directives import Script
from codegen_mcp.simulator.outcomes import Round
from codegen_mcp.simulator.run import SimRun, Step

if TYPE_CHECKING:
    from codegen_mcp.simulator.state import SimState

FORMAT = 1
# Plain attributes of a SimRun, saved and restored as they are.
RUN_FIELDS = (
    *("id", "org_id", "user_id", "source_type", "created", "prompt", "note", "web_url"),
    *("create_body", "metadata", "repo_id", "status", "result", "summary", "pull_requests"),
    *("history", "finals", "resumes", "completed_at", "finishes", "reopen_blocked"),
)


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._saved: object = None

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None if there is no file yet; ValueError for a file this version
        cannot read."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{self.path} is not a simulator state file this version reads")
        self._saved = data
        return data

    def save(self, data: dict[str, Any]) -> None:
        """Write `data` unless it is what the file already holds."""
        if data == self._saved:
            return
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        os.replace(temporary, self.path)
        self._saved = data


def persist(state: SimState) -> None:
    """Save the state's runs to its file, if it has one and anything changed."""
    if state.store is not None:
        with state.lock:
            state.store.save(snapshot(state))


def snapshot(state: SimState) -> dict[str, Any]:
    """Everything a restarted simulator needs (the caller holds the state's lock)."""
    return {
        "format": FORMAT,
        "next_run_id": state._next_run_id,
        "next_pr_number": state._next_pr_number,
        "creates": state._creates,
        "resume_on_active": state.resume_on_active,
        "runs": [_run(run) for run in state._runs.values()],
    }


def restore(state: SimState, data: dict[str, Any]) -> None:
    """Put a snapshot back into a freshly reset state (the caller holds its lock)."""
    state._next_run_id = int(data["next_run_id"])
    state._next_pr_number = int(data["next_pr_number"])
    state._creates = int(data["creates"])
    state.resume_on_active = str(data["resume_on_active"])
    for saved in data["runs"]:
        run = _restored_run(saved, state)
        state._runs[run.id] = run


def _run(run: SimRun) -> dict[str, Any]:
    saved = {name: getattr(run, name) for name in RUN_FIELDS}
    saved["model"], saved["webhooks"] = run.model, run.webhooks
    saved["steps"] = [
        {
            "at": step.at,
            "status": step.status,
            "work": asdict(step.work),
            "script": asdict(step.script) if step.script else None,
        }
        for step in run._steps
    ]
    return saved


def _restored_run(saved: dict[str, Any], state: SimState) -> SimRun:
    run = SimRun(
        run_id=saved["id"],
        org_id=saved["org_id"],
        user_id=saved["user_id"],
        source_type=saved["source_type"],
        created=saved["created"],
        prompt=saved["prompt"],
        note=saved["note"],
        web_url=saved["web_url"],
        new_pull_request=state._new_pull_request,
    )
    for name in RUN_FIELDS:
        setattr(run, name, saved[name])
    # Added in 2026: a file saved before has neither.
    run.model, run.webhooks = saved.get("model"), saved.get("webhooks")
    run.on_status = state.events.status_changed
    run._steps = [
        Step(
            at=step["at"],
            status=step["status"],
            work=Round(**step["work"]),
            script=Script(**step["script"]) if step["script"] else None,
        )
        for step in saved["steps"]
    ]
    return run
