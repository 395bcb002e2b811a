"""One simulated agent run: its record, its schedule, and how the clock moves it.

Status is computed lazily: a run holds a list of scheduled steps and, whenever it is read,
applies every step whose time has come, stamping each with the time the schedule gave it (not
the time of the read). So the history is exact without any background thread.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from codegen_mcp.simulator.directives import Script
from codegen_mcp.simulator.outcomes import CREATE, FOLLOW_UP, Round, result_for, summary_for
from codegen_mcp.simulator.statuses import is_final, wire_time

PullRequestFactory = Callable[["SimRun", float], dict[str, Any]]
StatusHook = Callable[["SimRun"], None]


@dataclass(frozen=True)
class Step:
    at: float
    status: str
    work: Round
    # Set on a round's last step only: what happens after it (a scripted reopen).
    script: Script | None = None


def plan(script: Script, start: float, work: Round) -> list[Step]:
    """The steps of one round of work starting at `start`."""
    steps = []
    at = start
    if script.pending > 0:
        steps.append(Step(at, "PENDING", work))
        at += script.pending
    steps.append(Step(at, "ACTIVE", work))
    if script.final is None:
        return steps
    at += script.active
    if script.evaluation > 0:
        steps.append(Step(at, "EVALUATION", work))
        at += script.evaluation
    steps.append(Step(at, script.final, work, script))
    return steps


class SimRun:
    def __init__(
        self,
        *,
        run_id: int,
        org_id: int,
        user_id: int,
        source_type: str,
        created: float,
        prompt: str,
        note: str,
        web_url: str,
        new_pull_request: PullRequestFactory,
        create_body: dict[str, Any] | None = None,
        metadata: Any = None,
        repo_id: int | None = None,
    ) -> None:
        self.id = run_id
        self.org_id = org_id
        self.user_id = user_id
        self.source_type = source_type
        self.created = created
        self.prompt = prompt
        self.note = note
        self.web_url = web_url
        self.create_body = create_body
        self.metadata = metadata
        self.repo_id = repo_id
        self.status = ""
        self.result: str | None = None
        self.summary: str | None = None
        self.pull_requests: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.finals: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.completed_at: float | None = None
        self.finishes = 0
        # Set once the agent is banned or removed from its PR: no more reopening by itself.
        self.reopen_blocked = False
        # 2026: the model it works with, and its own webhooks ([{url, secret}]; None: the org's).
        self.model: str | None = None
        self.webhooks: list[dict[str, Any]] | None = None
        # Told of every status change, whoever advanced the clock (a read or the ticker).
        self.on_status: StatusHook | None = None
        self._steps: list[Step] = []
        self._new_pull_request = new_pull_request

    # -- moving through time -------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Apply every scheduled status change due by `now`, in order."""
        while self._steps and self._steps[0].at <= now:
            self._apply(self._steps.pop(0))

    def reschedule(self, steps: list[Step], now: float) -> None:
        """Replace whatever was still to come by `steps` (the first of them due now)."""
        self.advance(now)
        self._steps = steps
        self.advance(now)

    def start_round(self, script: Script, now: float, work: Round) -> None:
        """Begin a new round of work at `now`, replacing whatever was scheduled with `script`'s plan
        for it."""
        self.reschedule(plan(script, now, work), now)

    def force(self, status: str, now: float, work: Round) -> None:
        """Put the run into `status` now and hold it there."""
        self.reschedule([Step(now, status, work)], now)

    def drop_schedule(self) -> None:
        """Cancel every scheduled status change: the run stays as it is until told otherwise."""
        self._steps = []

    def next_due(self) -> float | None:
        """When the next scheduled status change is due, or None if nothing is scheduled."""
        return self._steps[0].at if self._steps else None

    def round_kind(self) -> str:
        """Whether the run's next round is its first (create) or a follow-up."""
        return FOLLOW_UP if self.finishes else CREATE

    def _apply(self, step: Step) -> None:
        if step.status == self.status and not is_final(step.status):
            return  # e.g. a follow-up delivered to a running agent: it just keeps running
        self.status = step.status
        self.history.append({"status": step.status, "at": step.at})
        if is_final(step.status):
            self._finish(step)
        else:
            self.result = self.summary = None
        if self.on_status is not None:
            self.on_status(self)

    def _finish(self, step: Step) -> None:
        if step.status == "COMPLETE" and not self.pull_requests:
            self.pull_requests.append(self._new_pull_request(self, step.at))
        pr_url = self.pull_requests[0].get("url") if self.pull_requests else None
        self.result = result_for(step.status, step.work, pr_url)
        self.summary = summary_for(step.status, step.work)
        self.completed_at = step.at
        self.finishes += 1
        self.finals.append(
            {"at": step.at, "status": step.status, "result": self.result, "summary": self.summary}
        )
        self._schedule_reopen(step)

    def _schedule_reopen(self, step: Step) -> None:
        script = step.script
        if step.status != "COMPLETE" or script is None or script.reopen_after is None:
            return
        if self.reopen_blocked:
            return
        again = replace(script, pending=0.0, final="COMPLETE", reopen_after=None)
        work = Round(note="a new comment on the pull request", kind=FOLLOW_UP)
        self._steps.extend(plan(again, step.at + script.reopen_after, work))

    # -- views -----------------------------------------------------------------------------

    def public(self) -> dict[str, Any]:
        """The run object exactly as the API sends it."""
        return {
            "id": self.id,
            "organization_id": self.org_id,
            "status": self.status,
            "created_at": wire_time(self.created),
            "web_url": self.web_url,
            "result": self.result,
            "summary": self.summary,
            "source_type": self.source_type,
            "github_pull_requests": copy.deepcopy(self.pull_requests),
            "metadata": copy.deepcopy(self.metadata),
        }

    def record(self) -> dict[str, Any]:
        """The public object plus what only the simulator knows (for tests and benchmarks)."""
        return {
            **self.public(),
            "prompt": self.prompt,
            "create_body": _masked(self.create_body),
            "user_id": self.user_id,
            "repo_id": self.repo_id,
            "history": copy.deepcopy(self.history),
            "completed_at": self.completed_at,
            "finishes": self.finishes,
            "resumes": copy.deepcopy(self.resumes),
            "model": self.model,
            "webhooks": _webhook_views(self.webhooks),
        }


def _masked(body: dict[str, Any] | None) -> dict[str, Any] | None:
    """A create body as sent, with its webhooks' secrets masked (never shown anywhere)."""
    shown = copy.deepcopy(body)
    for entry in (shown or {}).get("webhooks") or []:
        if isinstance(entry, dict) and entry.get("secret"):
            entry["secret"] = "***"
    return shown


def _webhook_views(webhooks: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """A run's own webhooks without their secrets."""
    if webhooks is None:
        return None
    return [{"url": w["url"], "has_secret": bool(w.get("secret"))} for w in webhooks]
