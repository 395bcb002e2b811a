"""Taking a start (`new`, `resume`): admitted, recorded, indexed and enqueued in one step.

One Lua script (store_scripts.START, one round trip) checks the queue bound and the client's
allowance, records the task with its indexes and its event, and pushes its Celery launch
message onto the broker's list: a task recorded is a task enqueued, and a refused start
leaves nothing behind. (A message lost later, to a worker killed mid-launch, is the sweep's
to send again: it re-sends queued tasks that nobody launches.)

The script also tells where the task stands in line: how many tasks are queued ahead of it,
and where the API budget its run spends (`create` for a `new`, `resume` for a `resume`: the
API limits them separately) stands, so the caller learns at once when the run should start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from codegen_mcp import events, quotas
from codegen_mcp.api.budget import bucket_keys
from codegen_mcp.services import Services
from codegen_mcp.store import new_task_id, now_iso
from codegen_mcp.store_codec import queued_record

# The API budget each start spends (workers/launch.py: create_run, resume_run).
BUCKET = {"new": "create", "resume": "resume"}


@dataclass(frozen=True)
class Taken:
    """A start recorded and enqueued: its task, its place in line (1 = next) and when its
    budget should have a slot for it (epoch seconds)."""

    task_id: str
    created_at: str
    bucket: str
    position: int
    start_at: float

    def start_in(self) -> float:
        """Seconds from now until the estimated start (0 when it is due)."""
        return max(self.start_at - time.time(), 0.0)

    def start_at_iso(self) -> str:
        """The estimated start as ISO 8601 (UTC, milliseconds, Z), like every time we show."""
        moment = datetime.fromtimestamp(self.start_at, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def take(services: Services, fields: dict[str, Any], client: str, token: str) -> Taken:
    """Record `fields` as a queued task of `client` and enqueue its launch, in one step; raises
    QueueFull or TooManyRequests (quotas.py) and records nothing when it may not."""
    store, settings = services.store, services.settings
    bucket = BUCKET[fields["command"]]
    budget = bucket_keys(settings, token, bucket)
    allowance, allowance_key = quotas.run_allowance(services, client)
    task_id, now = fields.get("task_id") or new_task_id(), time.time()
    created = fields.get("created_at") or now_iso()
    record = queued_record(fields, task_id, now, created)
    keys = [
        store.keys.task(task_id),
        store.keys.tasks(),
        store.keys.state("queued"),
        store.keys.events(),
        allowance_key,
        budget.window,
        budget.cooldown,
        services.queue.queue,
        store.keys.orchestrators(),
    ]
    if record.get("repo"):
        keys.append(store.keys.repo(record["repo"].lower()))
    orchestrator = record.get("orchestrator_run_id", "")
    if orchestrator:
        keys.append(store.keys.orch(orchestrator))
    pairs = [item for pair in record.items() for item in pair]
    window = max(int(allowance.rate.window + 0.999), 1)  # `limits` counts whole seconds
    reply = store.start_script(
        keys=keys,
        args=[
            task_id,
            repr(now),
            settings.max_queued,
            allowance.rate.count,
            window,
            budget.count,
            events.KEPT,
            services.queue.launch_message(task_id),
            orchestrator,
            *pairs,
        ],
    )
    if reply[0] == "full":
        raise quotas.queue_full(services, int(reply[1]))
    if reply[0] == "limited":
        wait = float(reply[1]) + window - now
        raise quotas.too_many(allowance, wait, "nothing was recorded")
    ahead, cooldown_ms, entries = int(reply[1]), int(reply[2]), reply[3]
    delay = start_delay(ahead, [float(e) for e in entries], budget.count, budget.seconds, now)
    delay = max(delay, cooldown_ms / 1000)
    return Taken(task_id, created, bucket, ahead + 1, now + delay)


def start_delay(ahead: int, entries: list[float], count: int, seconds: float, now: float) -> float:
    """Seconds until a moving-window budget of `count` per `seconds` (whose slots were taken at
    `entries`) has a slot for the task with `ahead` tasks before it, each taking one in turn.

    The slots come free now (those unused), then as each taken one leaves the window, then
    again one window later, and so on: the task's is the `ahead`-th of that sequence."""
    taken = sorted(t for t in entries if t > now - seconds)[-count:]  # oldest first
    frees = [now] * (count - len(taken)) + [t + seconds for t in taken]
    return max(frees[ahead % count] + seconds * (ahead // count) - now, 0.0)
