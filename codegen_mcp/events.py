"""The event stream: one entry per change of a task, in the order Redis applied them.

Every state change (the store's transition script), every new task and every change of a
running task's Codegen status adds an entry to one Redis stream, in the same atomic step as
the change itself, so a reader that resumes after entry X misses nothing that happened after
it (while the stream still holds it: it keeps about `KEPT` entries, trimmed as it grows).
Readers: the wake-ups of waiting commands, `GET /events`, the caller's webhooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codegen_mcp.redis_conn import RedisClient
from codegen_mcp.store_codec import text

KEPT = 10_000  # entries the stream keeps (approximately: Redis trims whole nodes)


@dataclass(frozen=True)
class Event:
    """One change of one task: its new state (and the one it left), its Codegen status, its
    orchestrator, the outcome's seq when the change settled it (else 0), and when (epoch)."""

    id: str
    task_id: str
    state: str
    previous: str | None
    api_status: str | None
    orchestrator_run_id: str | None
    seq: int
    at: float

    @classmethod
    def from_entry(cls, entry_id: Any, fields: dict[Any, Any]) -> Event:
        """Decode one stream entry as XREAD/XRANGE return it."""
        values = {text(k): text(v) for k, v in fields.items()}
        return cls(
            id=text(entry_id),
            task_id=values["task_id"],
            state=values["state"],
            previous=values.get("from") or None,
            api_status=values.get("api_status") or None,
            orchestrator_run_id=values.get("orchestrator_run_id") or None,
            seq=int(values.get("seq") or 0),
            at=float(values.get("at") or 0),
        )


def append(pipe: Any, stream: str, record: dict[str, Any], previous: str | None) -> None:
    """In `pipe`: add the event of `record` (a task's fields after a change made in the same
    pipeline) having left state `previous` (None for a new task)."""
    fields = {"task_id": record["task_id"], "state": record["state"], "seq": 0}
    fields["at"] = record.get("updated_at") or 0
    if previous:
        fields["from"] = previous
    for name in ("api_status", "orchestrator_run_id"):
        if record.get(name) not in (None, ""):
            fields[name] = str(record[name])
    pipe.xadd(stream, fields, maxlen=KEPT, approximate=True)


def read(
    client: RedisClient, stream: str, after: str, *, block_ms: int | None = None, count: int = 500
) -> list[Event]:
    """The events after entry id `after` ("$" for only those still to come, "0" for all kept),
    at most `count`; with `block_ms`, wait that long for the first one."""
    answer = client.xread({stream: after}, count=count, block=block_ms)
    return [Event.from_entry(i, f) for _, entries in answer or [] for i, f in entries]


def last_id(client: RedisClient, stream: str) -> str:
    """The id of the newest entry kept ("0-0" when there is none): read after it for what
    comes next."""
    newest = client.xrevrange(stream, count=1)
    return text(newest[0][0]) if newest else "0-0"
