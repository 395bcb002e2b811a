"""The Redis task store: the one source of truth for every task's state.

One hash per task, a sorted set per index, and every state change through one Lua
script (`transition`), so indexes, the watch set and the finished-outbox always agree
with the hash, whatever process changes it and whenever it dies.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from codegen_mcp.redis_conn import RedisClient
from codegen_mcp.states import State

# KEYS[1]: the task hash. ARGV: prefix, task id, new state, allowed old states ("" = any),
# now (epoch), renew ("1": a new outcome even in the same state), then field/value pairs.
# Returns {applied, old state, outcome seq}.
_TRANSITION = """
local old = redis.call('HGET', KEYS[1], 'state')
if not old then return {0, '', 0} end
local prefix, id, new, allowed, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if allowed ~= '' and not string.find(',' .. allowed .. ',', ',' .. old .. ',', 1, true) then
  return {0, old, 0}
end
for i = 7, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i])
  else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('HSET', KEYS[1], 'state', new, 'updated_at', ARGV[5])
local created = redis.call('HGET', KEYS[1], 'created_ts')
if old ~= new then
  redis.call('ZREM', prefix .. ':state:' .. old, id)
  redis.call('ZADD', prefix .. ':state:' .. new, created, id)
end
if new == 'running' then
  redis.call('ZADD', prefix .. ':watch', 'NX', now, id)
else
  redis.call('ZREM', prefix .. ':watch', id)
end
local seq = 0
local settled = {paused = true, completed = true, failed = true, cancelled = true}
if settled[new] and (old ~= new or ARGV[6] == '1') then
  seq = redis.call('HINCRBY', KEYS[1], 'outcome_seq', 1)
  redis.call('ZADD', prefix .. ':outbox', now, id .. ':' .. seq)
  redis.call('ZADD', prefix .. ':recent', now, id)
end
return {1, old, seq}
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_task_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Transition:
    applied: bool
    old_state: str
    outcome_seq: int


class TaskStore:
    def __init__(self, client: RedisClient, prefix: str = "cgm") -> None:
        self.redis = client
        self.prefix = prefix
        self._transition = client.register_script(_TRANSITION)

    # -- keys --------------------------------------------------------------------------
    def key(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    def task_key(self, task_id: str) -> str:
        return self.key("task", task_id)

    # -- writes ------------------------------------------------------------------------
    def create(self, fields: dict[str, Any], pipe: Any = None) -> str:
        """Record a new queued task and index it; returns its id.

        With `pipe` (a MULTI pipeline), the writes join that transaction and the caller
        executes it.
        """
        task_id = fields.get("task_id") or new_task_id()
        now = time.time()
        record = {
            **fields,
            "task_id": task_id,
            "state": State.QUEUED.value,
            "created_at": now_iso(),
            "created_ts": repr(now),
            "updated_at": repr(now),
        }
        own = pipe is None
        pipe = self.redis.pipeline(transaction=True) if own else pipe
        values = {name: value for name, value in _encode(record).items() if value != ""}
        pipe.hset(self.task_key(task_id), mapping=values)
        pipe.zadd(self.key("tasks"), {task_id: now})
        pipe.zadd(self.key("state", State.QUEUED.value), {task_id: now})
        if record.get("repo"):
            pipe.zadd(self.key("repo", str(record["repo"]).lower()), {task_id: now})
        if record.get("orchestrator_run_id") is not None:
            pipe.zadd(self.key("orch", record["orchestrator_run_id"]), {task_id: now})
            # Every orchestrator, by the time its first child came: `tree` lists them.
            pipe.zadd(self.key("orchestrators"), {str(record["orchestrator_run_id"]): now}, nx=True)
        if own:
            pipe.execute()
        return task_id

    def update(self, task_id: str, **fields: Any) -> None:
        """Write fields that do not change the state (progress notes, upstream details)."""
        values = _encode(fields)
        empty = [name for name, value in values.items() if value == ""]
        pipe = self.redis.pipeline(transaction=True)
        if values := {k: v for k, v in values.items() if v != ""}:
            pipe.hset(self.task_key(task_id), mapping=values)
        if empty:
            pipe.hdel(self.task_key(task_id), *empty)
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
        for name, value in _encode(fields).items():
            pairs += [name, value]
        allowed_text = ",".join(s.value for s in allowed)
        applied, old, seq = self._transition(
            keys=[self.task_key(task_id)],
            args=[
                self.prefix,
                task_id,
                state.value,
                allowed_text,
                repr(time.time()),
                "1" if renew else "0",
                *pairs,
            ],
        )
        return Transition(bool(applied), _str(old), int(seq))

    def attach_run(self, task_id: str, run_id: int) -> None:
        """Index the task under its agent run; the newest task of a run is its owner."""
        created = self.redis.hget(self.task_key(task_id), "created_ts")
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(self.key("run", run_id), {task_id: float(created or time.time())})
        pipe.hset(self.key("runowner"), str(run_id), task_id)
        pipe.execute()

    def set_repo(self, task_id: str, repo: str) -> None:
        """Name the repository of a task created without one (a resume), and index it."""
        created = self.redis.hget(self.task_key(task_id), "created_ts")
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.task_key(task_id), "repo", repo)
        pipe.zadd(self.key("repo", repo.lower()), {task_id: float(created or time.time())})
        pipe.execute()

    def repo_of_run(self, run_id: int) -> str | None:
        """The repository of a run, as the first of its tasks that names one says."""
        rows = self.fields(self.tasks_for_run(run_id), "repo")
        return next((row["repo"] for row in rows if row["repo"]), None)

    def detach_run(self, task_id: str, run_id: int) -> None:
        """Undo attach_run (a resume the API refused): the previous task owns the run again."""
        self.redis.zrem(self.key("run", run_id), task_id)
        newest = self.redis.zrevrange(self.key("run", run_id), 0, 0)
        if newest:
            self.redis.hset(self.key("runowner"), str(run_id), _str(newest[0]))
        else:
            self.redis.hdel(self.key("runowner"), str(run_id))

    # -- reads -------------------------------------------------------------------------
    def get(self, task_id: str) -> dict[str, Any] | None:
        raw = self.redis.hgetall(self.task_key(task_id))
        return _decode(raw) if raw else None

    def get_many(self, task_ids: list[str]) -> list[dict[str, Any] | None]:
        pipe = self.redis.pipeline(transaction=False)
        for task_id in task_ids:
            pipe.hgetall(self.task_key(task_id))
        return [_decode(raw) if raw else None for raw in pipe.execute()]

    def fields(self, task_ids: list[str], *names: str) -> list[dict[str, str | None]]:
        pipe = self.redis.pipeline(transaction=False)
        for task_id in task_ids:
            pipe.hmget(self.task_key(task_id), names)
        return [dict(zip(names, map(_opt, row), strict=True)) for row in pipe.execute()]

    def tasks_for_run(self, run_id: int) -> list[str]:
        return [_str(t) for t in self.redis.zrange(self.key("run", run_id), 0, -1)]

    def owners(self, run_ids: list[int]) -> dict[int, str]:
        if not run_ids:
            return {}
        found = self.redis.hmget(self.key("runowner"), [str(r) for r in run_ids])
        return {run_id: _str(t) for run_id, t in zip(run_ids, found, strict=True) if t}

    def watched(self) -> list[tuple[str, float]]:
        """Running tasks with the time each was last checked upstream, oldest check first."""
        return [
            (_str(t), s) for t, s in self.redis.zrange(self.key("watch"), 0, -1, withscores=True)
        ]

    def mark_checked(self, task_ids: list[str]) -> None:
        if task_ids:
            now = time.time()
            self.redis.zadd(self.key("watch"), dict.fromkeys(task_ids, now), xx=True)

    def recently_settled(self, window: float) -> int:
        """How many tasks settled within `window` seconds (their runs may still re-open)."""
        self.redis.zremrangebyscore(self.key("recent"), "-inf", time.time() - window)
        return int(self.redis.zcard(self.key("recent")))

    def in_state(self, state: State, *, older_than: float | None = None) -> list[str]:
        top = "+inf" if older_than is None else time.time() - older_than
        return [
            _str(t) for t in self.redis.zrangebyscore(self.key("state", state.value), "-inf", top)
        ]

    def outbox(self, *, older_than: float = 0.0) -> list[tuple[str, int]]:
        entries = self.redis.zrangebyscore(self.key("outbox"), "-inf", time.time() - older_than)
        return [_outbox_entry(_str(e)) for e in entries]

    def clear_outbox(self, task_id: str, seq: int) -> bool:
        return bool(self.redis.zrem(self.key("outbox"), f"{task_id}:{seq}"))

    def iter_newest(self, index: tuple[str, ...] = ("tasks",), batch: int = 200) -> Iterator[str]:
        start = 0
        while True:
            chunk = self.redis.zrevrange(self.key(*index), start, start + batch - 1)
            if not chunk:
                return
            yield from (_str(t) for t in chunk)
            start += batch

    def counts(self) -> dict[str, int]:
        pipe = self.redis.pipeline(transaction=False)
        for state in State:
            pipe.zcard(self.key("state", state.value))
        return {state.value: n for state, n in zip(State, pipe.execute(), strict=True)}


def _encode(fields: dict[str, Any]) -> dict[str, str]:
    """Hash values are strings: JSON for structures, "" for None (which HDELs the field)."""
    out = {}
    for name, value in fields.items():
        if value is None:
            out[name] = ""
        elif isinstance(value, (dict, list, tuple)):
            out[name] = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, bool):
            out[name] = "1" if value else "0"
        else:
            out[name] = str(value)
    return out


JSON_FIELDS = ("pull_requests", "metadata", "delivers")
INT_FIELDS = (
    "delivery_seq",
    "delivery_attempts",
    "agent_run_id",
    "pr",
    "orchestrator_run_id",
    "repo_id",
    "outcome_seq",
    "reopen_count",
)


def _decode(raw: dict[Any, Any]) -> dict[str, Any]:
    task: dict[str, Any] = {_str(k): _str(v) for k, v in raw.items()}
    for name in JSON_FIELDS:
        if name in task:
            task[name] = json.loads(task[name])
    for name in INT_FIELDS:
        if name in task:
            task[name] = int(task[name])
    return task


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _opt(value: Any) -> str | None:
    return None if value is None else _str(value)


def _outbox_entry(entry: str) -> tuple[str, int]:
    task_id, _, seq = entry.rpartition(":")
    return task_id, int(seq)
