"""ban / remove-from-pr / unban: the API's only way to stop an agent acts on its pull request.

Functions over the state (like `persist.py`, they reach into it under its lock).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from codegen_mcp.simulator.errors import message_error
from codegen_mcp.simulator.outcomes import Round
from codegen_mcp.simulator.statuses import is_final

if TYPE_CHECKING:
    from codegen_mcp.simulator.run import SimRun
    from codegen_mcp.simulator.state import SimState


def stop_agents_on_pr(state: SimState, run_id: int, action: str) -> dict[str, Any]:
    """ban / remove-from-pr: stop every in-progress run on this run's pull request(s)."""
    with state.lock:
        now = state.clock()
        stopped = 0
        for run in _sharing_pr(state, state._found(run_id)):
            run.advance(now)
            run.reopen_blocked = True
            run.drop_schedule()
            if not is_final(run.status):
                run.force("CANCELLED", now, Round(run.note))
                stopped += 1
        verb = "Banned the agent from" if action == "ban" else "Removed the agent from"
        return {"message": f"{verb} the pull request; stopped {stopped} running agent run(s)."}


def unban(state: SimState, run_id: int) -> dict[str, Any]:
    """Let the agents on run `run_id`'s PR reopen by themselves again; the API's answer."""
    with state.lock:
        for run in _sharing_pr(state, state._found(run_id)):
            run.reopen_blocked = False
        return {"message": "Unbanned the agent on the pull request."}


def _sharing_pr(state: SimState, run: SimRun) -> list[SimRun]:
    urls = {pr.get("url") for pr in run.pull_requests}
    if not urls:
        raise message_error(400, "Agent run has no pull request.")
    return [
        other
        for other in state._runs.values()
        if urls & {pr.get("url") for pr in other.pull_requests}
    ]
