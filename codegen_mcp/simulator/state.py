"""The simulator's state and every operation on it, behind one lock.

The HTTP fronts (`api.py`, `control.py`) and the `Simulator` methods all come here; nothing
else touches a run. Callers have already authenticated and validated their input.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from codegen_mcp.simulator.config import SimConfig
from codegen_mcp.simulator.directives import Script, parse_script
from codegen_mcp.simulator.errors import (
    ApiError,
    ControlConflict,
    InvalidControl,
    UnknownRun,
    message_error,
    run_not_found,
)
from codegen_mcp.simulator.events import RunEvents
from codegen_mcp.simulator.faults import Faults
from codegen_mcp.simulator.logs import logs_page
from codegen_mcp.simulator.outcomes import FOLLOW_UP, Round, note_for
from codegen_mcp.simulator.pages import page
from codegen_mcp.simulator.persist import StateFile, restore
from codegen_mcp.simulator.pull_requests import pull_request
from codegen_mcp.simulator.run import SimRun, Step
from codegen_mcp.simulator.statuses import is_final, status_word
from codegen_mcp.simulator.traffic import Traffic

FIRST_RUN_ID = 41000
FIRST_PR_NUMBER = 101
REOPEN_NOTE = "a new comment on the pull request"
# The real text is unknown; the shape ({"message", "status_code"}) is documented.
NO_SUCH_REPO = "No repos found in the organization matching the given repo_id."


class SimState:
    def __init__(
        self,
        config: SimConfig,
        clock: Callable[[], float] = time.time,
        store: StateFile | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.traffic = Traffic(config, self.lock)
        self.events = RunEvents(config.seed)
        self.store = store
        self.reset()
        if store is not None and (saved := store.load()) is not None:
            restore(self, saved)  # nobody else can hold the lock yet

    def reset(self) -> None:
        """Forget every run and all traffic; ids start over and faults are cleared."""
        with self.lock:
            self._runs: dict[int, SimRun] = {}
            self._next_run_id = FIRST_RUN_ID
            self._next_pr_number = FIRST_PR_NUMBER
            self._creates = 0
            self.resume_on_active = self.config.resume_on_active
            self.traffic.clear()
            self.events.reset()

    def user_for(self, token: str) -> int | None:
        """The user id `token` authenticates as, or None for an unknown token."""
        return self.config.tokens.get(token)

    # -- the agent-run API -------------------------------------------------------------------

    def create_run(
        self,
        user_id: int,
        prompt: str,
        repo_id: int | None,
        body: dict[str, Any],
        org: int | None = None,
    ) -> dict[str, Any]:
        """`body` is what the client sent: kept as is, and its metadata echoed back. The run
        lives in organization `org` (default: the configured org_id)."""
        with self.lock:
            quota = self.config.run_quota
            if quota is not None and self._creates >= quota:
                raise message_error(402, "You have used all agent runs in your plan.")
            if repo_id is not None and self.config.repo(repo_id) is None:
                raise message_error(404, NO_SUCH_REPO)
            now = self.clock()
            run = self._new_run(now, user_id, "API", prompt, repo_id)
            run.org_id = self.config.org_id if org is None else org
            run.create_body = body
            run.metadata = body.get("metadata")
            self.events.created(run, body)
            self._creates += 1
            run.start_round(self._script(prompt), now, Round(run.note))
            return run.public()

    def get_run(self, run_id: int) -> dict[str, Any]:
        """Run `run_id` as the API shows it now; a 404 API error if there is none."""
        with self.lock:
            return self._found(run_id).public()

    def list_runs(
        self, org: int, user_id: int | None, source_type: str | None, skip: int, limit: int
    ) -> dict[str, Any]:
        """One page of organization `org`'s runs, newest first, filtered by user and source
        type as the API does."""
        with self.lock:
            runs = [
                run
                for run in self._newest_first()
                if run.org_id == org
                and (user_id is None or run.user_id == user_id)
                and (source_type is None or run.source_type == source_type)
            ]
            return page([run.public() for run in runs], skip, limit)

    def resume_run(self, run_id: int, prompt: str, body: dict[str, Any]) -> dict[str, Any]:
        """Resume run `run_id` with `prompt` (a 409 for an active run if set to reject); the run.
        `body` may name a model and webhooks for the run from now on."""
        with self.lock:
            run = self._found(run_id)
            before = run.status
            if not is_final(before) and self.resume_on_active == "reject":
                raise message_error(
                    409, "Agent run is currently running; wait for it to finish before resuming."
                )
            now = self.clock()
            self.events.resumed(run, body)
            work = Round(note_for(prompt, "the follow-up message"), FOLLOW_UP)
            # Resumes the same run: same id, a new round of work, no result until it ends again.
            run.start_round(self._script(prompt), now, work)
            run.resumes.append(
                {"at": now, "prompt": prompt, "status_before": before, "model": run.model}
            )
            return run.public()

    def run_logs(self, run_id: int, skip: int, limit: int, reverse: bool) -> dict[str, Any]:
        """One page of run `run_id`'s agent log as it stands now."""
        with self.lock:
            return logs_page(self._found(run_id), self.clock(), skip, limit, reverse)

    def tick(self) -> float | None:
        """Bring every run up to now (so settling fires without a read); the next due change."""
        with self.lock:
            now = self.clock()
            for run in self._runs.values():
                run.advance(now)
            dues = [due for run in self._runs.values() if (due := run.next_due()) is not None]
            return min(dues, default=None)

    # -- control ------------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """Every run's full record (for the control endpoints), newest first."""
        with self.lock:
            return [run.record() for run in self._newest_first()]

    def record(self, run_id: int) -> dict[str, Any]:
        """Run `run_id`'s full record; UnknownRun if there is none."""
        with self.lock:
            return self._known(run_id).record()

    def transition(self, run_id: int, status: str, result: str | None = None) -> dict[str, Any]:
        """Force run `run_id` to `status` now (ACTIVE, EVALUATION then finish); its record."""
        status = status_word(status)
        with self.lock:
            run = self._known(run_id)
            now = self.clock()
            run.advance(now)
            work = Round(run.note, run.round_kind(), result)
            if status == "ACTIVE":
                run.start_round(self._default_script(), now, work)
            elif status == "EVALUATION":
                done = now + self.config.evaluation_seconds
                run.reschedule([Step(now, status, work), Step(done, "COMPLETE", work)], now)
            else:
                run.force(status, now, work)
            return run.record()

    def reopen(self, run_id: int, result: str | None = None) -> dict[str, Any]:
        """Reopen finished run `run_id` as a PR comment would; ControlConflict if it is not."""
        with self.lock:
            run = self._known(run_id)
            now = self.clock()
            run.advance(now)
            if not is_final(run.status):
                raise ControlConflict(
                    f"run {run_id} is {run.status}: only a finished run can reopen"
                )
            run.start_round(self._default_script(), now, Round(REOPEN_NOTE, FOLLOW_UP, result))
            return run.record()

    def add_foreign_run(
        self,
        user_id: int,
        source_type: str = "SLACK",
        status: str = "ACTIVE",
        prompt: str | None = None,
        same_pr_as: int | None = None,
    ) -> dict[str, Any]:
        """A run started elsewhere (Slack, GitHub...): it holds `status` until told otherwise."""
        status = status_word(status)
        with self.lock:
            now = self.clock()
            text = prompt or f"A request that came in through {source_type}"
            run = self._new_run(now, int(user_id), str(source_type), text, repo_id=None)
            if same_pr_as is not None:
                run.pull_requests = [dict(pr) for pr in self._known(same_pr_as).pull_requests]
                if not run.pull_requests:
                    del self._runs[run.id]
                    raise ControlConflict(f"run {same_pr_as} has no pull request to share")
            run.force(status, now, Round(run.note))
            return run.record()

    def set_faults(self, faults: Faults, resume_on_active: str | None) -> dict[str, Any]:
        """Apply `faults` and the resume-on-active policy; InvalidControl for a bad value."""
        faults.validate()
        if resume_on_active not in (None, "accept", "reject"):
            raise InvalidControl("resume_on_active must be 'accept' or 'reject'")
        with self.lock:
            self.traffic.faults = faults
            if resume_on_active is not None:
                self.resume_on_active = resume_on_active
            return self.faults()

    def faults(self) -> dict[str, Any]:
        """The faults in force and the resume-on-active policy."""
        with self.lock:
            return {**self.traffic.faults.as_dict(), "resume_on_active": self.resume_on_active}

    def stats(self) -> dict[str, Any]:
        """Traffic figures plus how many runs exist and how many were created."""
        with self.lock:
            return {**self.traffic.stats(), "runs": len(self._runs), "creates": self._creates}

    # -- helpers ------------------------------------------------------------------------------

    def _new_run(
        self, now: float, user_id: int, source_type: str, prompt: str, repo_id: int | None
    ) -> SimRun:
        run_id = self._next_run_id
        self._next_run_id += 1
        run = SimRun(
            run_id=run_id,
            org_id=self.config.org_id,
            user_id=user_id,
            source_type=source_type,
            created=now,
            prompt=prompt,
            note=note_for(prompt, "the requested change"),
            web_url=f"{self.config.web_base.rstrip('/')}/agent/trace/{run_id}",
            new_pull_request=self._new_pull_request,
            repo_id=repo_id,
        )
        run.on_status = self.events.status_changed
        self._runs[run_id] = run
        return run

    def _new_pull_request(self, run: SimRun, at: float) -> dict[str, Any]:
        number = self._next_pr_number
        self._next_pr_number += 1
        repo = self.config.repo(run.repo_id) if run.repo_id is not None else None
        return pull_request(number, run, at, repo.get("full_name") if repo else None)

    def _found(self, run_id: int) -> SimRun:
        """The run, brought up to date, or the API's 404."""
        run = self._runs.get(run_id)
        if run is None:
            raise run_not_found()
        run.advance(self.clock())
        return run

    def _known(self, run_id: int) -> SimRun:
        try:
            return self._found(run_id)
        except ApiError:
            raise UnknownRun(run_id) from None

    def _newest_first(self) -> list[SimRun]:
        now = self.clock()
        for run in self._runs.values():
            run.advance(now)
        return sorted(self._runs.values(), key=lambda run: (run.created, run.id), reverse=True)

    def _script(self, prompt: str) -> Script:
        return parse_script(prompt, self.config.active_seconds, self.config.evaluation_seconds)

    def _default_script(self) -> Script:
        return Script(active=self.config.active_seconds, evaluation=self.config.evaluation_seconds)
