"""The Redis task store: the one source of truth for every task's state.

One hash per task, a sorted set per index, and every state change through one Lua
script (`transition`), so indexes, the watch set and the finished-outbox always agree
with the hash, whatever process changes it and whenever it dies. Beside it: the key names
(`store_keys.py`, the one place they are spelled), the Lua scripts (`store_scripts.py`) and
how a hash encodes values (`store_codec.py`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from codegen_mcp import events
from codegen_mcp.redis_conn import RedisClient
from codegen_mcp.states import State
from codegen_mcp.store_codec import decode, encode, optional, outbox_entry, queued_record, text
from codegen_mcp.store_keys import Keys
from codegen_mcp.store_scripts import ACCEPT, DELIVERED, START, TRANSITION


def now_iso() -> str:
    """Now, UTC, as ISO 8601 with milliseconds and a Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_task_id() -> str:
    """A fresh task id (a UUID4)."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Transition:
    """What a transition did: applied or not, the state it found, the new outcome's seq
    (0 when it made none), and whether it queued an event for the task's webhook."""

    applied: bool
    old_state: str
    outcome_seq: int
    hooked: bool = False


class TaskStore:
    """Every read and write of tasks, their indexes and their delivery bookkeeping."""

    def __init__(self, client: RedisClient, prefix: str = "cgm") -> None:
        self.redis = client
        self.prefix = prefix
        self.keys = Keys(prefix)
        self._transition = client.register_script(TRANSITION)
        self._accept = client.register_script(ACCEPT)
        self._delivered = client.register_script(DELIVERED)
        self.start_script = client.register_script(START)  # intake.py's one step

    # -- writes ------------------------------------------------------------------------
    def create(self, fields: dict[str, Any], pipe: Any = None) -> str:
        """Record a new queued task and index it; returns its id.

        With `pipe` (a MULTI pipeline), the writes join that transaction and the caller
        executes it.
        """
        task_id = fields.get("task_id") or new_task_id()
        now = time.time()
        record = queued_record(fields, task_id, now, now_iso())
        own = pipe is None
        pipe = self.redis.pipeline(transaction=True) if own else pipe
        pipe.hset(self.keys.task(task_id), mapping=record)
        pipe.zadd(self.keys.tasks(), {task_id: now})
        pipe.zadd(self.keys.state(State.QUEUED.value), {task_id: now})
        if record.get("repo"):
            pipe.zadd(self.keys.repo(str(record["repo"]).lower()), {task_id: now})
        if record.get("orchestrator_run_id") is not None:
            pipe.zadd(self.keys.orch(record["orchestrator_run_id"]), {task_id: now})
            # Every orchestrator, by the time its first child came: `tree` lists them.
            pipe.zadd(self.keys.orchestrators(), {str(record["orchestrator_run_id"]): now}, nx=True)
        events.append(pipe, self.keys.events(), record, None)
        if own:
            pipe.execute()
        return task_id

    def update(self, task_id: str, **fields: Any) -> None:
        """Write fields that do not change the state (progress notes, upstream details).

        Not for `api_status`: a new Codegen status is an event, so it goes through
        `transition` (to the same state)."""
        values = encode(fields)
        empty = [name for name, value in values.items() if value == ""]
        pipe = self.redis.pipeline(transaction=True)
        if values := {k: v for k, v in values.items() if v != ""}:
            pipe.hset(self.keys.task(task_id), mapping=values)
        if empty:
            pipe.hdel(self.keys.task(task_id), *empty)
        pipe.execute()

    def transition(
        self,
        task_id: str,
        state: State,
        *,
        allowed: Iterable[State] = (),
        renew: bool = False,
        **fields: Any,
    ) -> Transition:
        """Move a task to `state` (only from `allowed` states, when given) with `fields`.

        `renew` makes it a new outcome even when the state does not change (a run that
        re-opened and finished again between two looks).
        """
        pairs: list[str] = []
        for name, value in encode(fields).items():
            pairs += [name, value]
        allowed_text = ",".join(s.value for s in allowed)
        applied, old, seq, hooked = self._transition(
            keys=[
                self.keys.task(task_id),
                self.keys.watch(),
                self.keys.outbox(),
                self.keys.recent(),
                self.keys.events(),
                self.keys.notify(task_id),
                self.keys.notify_pending(),
                self.keys.settled(),
            ],
            args=[
                self.keys.state(""),
                task_id,
                state.value,
                allowed_text,
                repr(time.time()),
                "1" if renew else "0",
                events.KEPT,
                *pairs,
            ],
        )
        return Transition(bool(applied), text(old), int(seq), bool(hooked))

    def attach_run(self, task_id: str, run_id: int) -> None:
        """Index the task under its agent run; the newest task of a run is its owner."""
        created = self.redis.hget(self.keys.task(task_id), "created_ts")
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(self.keys.run(run_id), {task_id: float(created or time.time())})
        pipe.hset(self.keys.runowner(), str(run_id), task_id)
        pipe.execute()

    def set_repo(self, task_id: str, repo: str) -> None:
        """Name the repository of a task created without one (a resume), and index it."""
        created = self.redis.hget(self.keys.task(task_id), "created_ts")
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.task(task_id), "repo", repo)
        pipe.zadd(self.keys.repo(repo.lower()), {task_id: float(created or time.time())})
        pipe.execute()

    def repo_of_run(self, run_id: int) -> str | None:
        """The repository of a run, as the first of its tasks that names one says."""
        rows = self.fields(self.tasks_for_run(run_id), "repo")
        return next((row["repo"] for row in rows if row["repo"]), None)

    def detach_run(self, task_id: str, run_id: int) -> None:
        """Undo attach_run (a resume the API refused): the previous task owns the run again."""
        self.redis.zrem(self.keys.run(run_id), task_id)
        newest = self.redis.zrevrange(self.keys.run(run_id), 0, 0)
        if newest:
            self.redis.hset(self.keys.runowner(), str(run_id), text(newest[0]))
        else:
            self.redis.hdel(self.keys.runowner(), str(run_id))

    # -- delivery bookkeeping: a child's delivery_* fields (inbox.py moves the entries) --
    def accept_outcome(self, task_id: str, seq: int, at: float, orchestrator: int) -> bool:
        """Put outcome `seq` of a child in its orchestrator's inbox (ordered by `at`) and
        mark its delivery pending; False when that outcome, or a newer one, already was."""
        keys = [self.keys.task(task_id), self.keys.inbox(orchestrator), self.keys.pending()]
        return bool(self._accept(keys=keys, args=[seq, at, f"{task_id}:{seq}", orchestrator]))

    def mark_delivered(self, resume_id: str, delivers: list[dict[str, Any]]) -> int:
        """Mark the children a resume carried as delivered by it; returns how many were not
        yet. A child keeps its first delivery time, and one with a newer outcome waiting is
        left alone."""
        keys = [self.keys.task(entry["task_id"]) for entry in delivers]
        seqs = [entry["seq"] for entry in delivers]
        return int(self._delivered(keys=keys, args=[resume_id, now_iso(), *seqs]))

    def delivery_taken(self, pipe: Any, task_id: str, resume_id: str) -> None:
        """In `pipe`: the child's outcome rides in resume `resume_id` (one more attempt)."""
        pipe.hset(self.keys.task(task_id), "delivery_task_id", resume_id)
        pipe.hincrby(self.keys.task(task_id), "delivery_attempts", 1)

    def delivery_pending(self, pipe: Any, task_id: str, *, uncount: bool = False) -> None:
        """In `pipe`: the child's outcome waits in the inbox again; `uncount` takes back the
        attempt (the orchestrator was busy: not the delivery's fault)."""
        pipe.hset(self.keys.task(task_id), "delivery_state", "pending")
        pipe.hdel(self.keys.task(task_id), "delivery_task_id")
        if uncount:
            pipe.hincrby(self.keys.task(task_id), "delivery_attempts", -1)

    def delivery_failed(self, pipe: Any, task_id: str, error: str) -> None:
        """In `pipe`: the child's outcome will not be delivered, for the reason `error`."""
        fields = {"delivery_state": "failed", "delivery_error": error}
        pipe.hset(self.keys.task(task_id), mapping=fields)

    def mark_once(self, task_id: str, name: str, value: str = "1") -> bool:
        """Set field `name` of a task unless it is set; True for the one caller that set it
        (a first attempt's time, a latency recorded once, a resume returned once)."""
        return bool(self.redis.hsetnx(self.keys.task(task_id), name, value))

    # -- reads -------------------------------------------------------------------------
    def get(self, task_id: str) -> dict[str, Any] | None:
        """The task, decoded (JSON and integer fields typed); None if there is none."""
        raw = self.redis.hgetall(self.keys.task(task_id))
        return decode(raw) if raw else None

    def get_many(self, task_ids: list[str]) -> list[dict[str, Any] | None]:
        """The tasks, in the order asked, in one round trip; None for each missing one."""
        pipe = self.redis.pipeline(transaction=False)
        for task_id in task_ids:
            pipe.hgetall(self.keys.task(task_id))
        return [decode(raw) if raw else None for raw in pipe.execute()]

    def fields(self, task_ids: list[str], *names: str) -> list[dict[str, str | None]]:
        """Some raw fields of each task, in the order asked, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for task_id in task_ids:
            pipe.hmget(self.keys.task(task_id), names)
        return [dict(zip(names, map(optional, row), strict=True)) for row in pipe.execute()]

    def tasks_for_run(self, run_id: int) -> list[str]:
        """The tasks of an agent run, oldest first (the last one owns the run)."""
        return [text(t) for t in self.redis.zrange(self.keys.run(run_id), 0, -1)]

    def owners(self, run_ids: list[int]) -> dict[int, str]:
        """The task that owns each run, for the runs that have one."""
        if not run_ids:
            return {}
        found = self.redis.hmget(self.keys.runowner(), [str(r) for r in run_ids])
        return {run_id: text(t) for run_id, t in zip(run_ids, found, strict=True) if t}

    def watched(self) -> list[tuple[str, float]]:
        """Running tasks with the time each was last checked upstream, oldest check first."""
        return [
            (text(t), s) for t, s in self.redis.zrange(self.keys.watch(), 0, -1, withscores=True)
        ]

    def mark_checked(self, task_ids: list[str]) -> None:
        """Note that these running tasks were just checked upstream (others are untouched)."""
        if task_ids:
            now = time.time()
            self.redis.zadd(self.keys.watch(), dict.fromkeys(task_ids, now), xx=True)

    def recently_settled(self, window: float) -> int:
        """How many tasks settled within `window` seconds (their runs may still re-open)."""
        self.redis.zremrangebyscore(self.keys.recent(), "-inf", time.time() - window)
        return int(self.redis.zcard(self.keys.recent()))

    def in_state(self, state: State, *, older_than: float | None = None) -> list[str]:
        """The tasks in `state`, those created more than `older_than` seconds ago if given."""
        top = "+inf" if older_than is None else time.time() - older_than
        return [
            text(t) for t in self.redis.zrangebyscore(self.keys.state(state.value), "-inf", top)
        ]

    def outbox(self, *, older_than: float = 0.0) -> list[tuple[str, int]]:
        """The outcomes (task id, seq) whose finished-hook has not cleared them, at least
        `older_than` seconds old."""
        entries = self.redis.zrangebyscore(self.keys.outbox(), "-inf", time.time() - older_than)
        return [outbox_entry(text(e)) for e in entries]

    def clear_outbox(self, task_id: str, seq: int) -> bool:
        """Clear an outcome whose hook ran; False if another run of the hook had."""
        return bool(self.redis.zrem(self.keys.outbox(), f"{task_id}:{seq}"))

    def iter_newest(self, index: str | None = None, batch: int = 200) -> Iterator[str]:
        """The task ids of an index (a key from `keys`; every task by default), newest first,
        read in batches."""
        key = index or self.keys.tasks()
        start = 0
        while True:
            chunk = self.redis.zrevrange(key, start, start + batch - 1)
            if not chunk:
                return
            yield from (text(t) for t in chunk)
            start += batch

    def counts(self) -> dict[str, int]:
        """How many tasks are in each state."""
        pipe = self.redis.pipeline(transaction=False)
        for state in State:
            pipe.zcard(self.keys.state(state.value))
        return {state.value: n for state, n in zip(State, pipe.execute(), strict=True)}
