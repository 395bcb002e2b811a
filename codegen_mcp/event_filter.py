"""Which events a reader of GET /events wants: its filters, validated like every other input
(schemas.py), and where it resumes (Last-Event-ID)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import fields, validate

from codegen_mcp import schemas
from codegen_mcp.events import Event
from codegen_mcp.fields import FullMatch, Text, run_id

EVENT_ID_PATTERN = r"^[0-9]{1,20}(?:-[0-9]{1,20})?$"
MAX_TASKS = 100
STATE_ERROR = f"Must be one of {', '.join(schemas.STATE_NAMES)}."


class EventsArgs(schemas.Args):
    """The query of GET /events; the Last-Event-ID header arrives as last_event_id."""

    task_id = fields.List(
        Text(validate=FullMatch(schemas.TASK_ID_PATTERN, error="Not a valid task id.")),
        validate=validate.Length(min=1, max=MAX_TASKS),
        metadata={"description": f"Only the events of these tasks (at most {MAX_TASKS})."},
    )
    orchestrator_run_id = run_id(
        metadata={"description": "Only the events of tasks this agent run orchestrates."}
    )
    state = fields.List(
        Text(validate=validate.OneOf(schemas.STATE_NAMES, error=STATE_ERROR)),
        validate=validate.Length(min=1, max=len(schemas.STATE_NAMES)),
        metadata={"description": "Only the events that leave a task in one of these states."},
    )
    last_event_id = Text(
        validate=FullMatch(EVENT_ID_PATTERN, error="Must be an event id such as 1764273000000-0."),
        metadata={"description": "Resume after this event (the id: of the last one received)."},
    )


@dataclass(frozen=True)
class EventFilter:
    """The events one reader wants (an empty filter wants them all), and where it resumes."""

    task_ids: frozenset[str] = frozenset()
    orchestrator_run_id: int | None = None
    states: frozenset[str] = frozenset()
    last_event_id: str | None = None

    def wants(self, event: Event) -> bool:
        """Whether `event` passes every filter given."""
        if self.task_ids and event.task_id not in self.task_ids:
            return False
        if self.orchestrator_run_id is not None and event.orchestrator_run_id != str(
            self.orchestrator_run_id
        ):
            return False
        return not self.states or event.state in self.states


def parse(query: dict[str, list[str]], last_event_id_header: str | None) -> EventFilter:
    """The filter of a query string (every parameter as the list of its values; task_id and
    state may also be comma-separated); InvalidRequest naming the parameter at fault.

    The Last-Event-ID header, which a browser's EventSource sends when it reconnects, wins
    over the last_event_id parameter of the URL it was opened with."""
    args: dict[str, Any] = {}
    for name, values in query.items():
        if name in ("task_id", "state"):
            args[name] = [part.strip() for value in values for part in value.split(",")]
        else:
            args[name] = values[0] if len(values) == 1 else values
    if last_event_id_header and last_event_id_header.strip():
        args["last_event_id"] = last_event_id_header.strip()
    run = args.get("orchestrator_run_id")
    if isinstance(run, str) and run.isascii() and run.isdigit():
        # a query string is text: digits are the number (anything else is refused by name)
        args["orchestrator_run_id"] = int(run)
    loaded = schemas.load_with(EventsArgs, "GET /events", args)
    return EventFilter(
        task_ids=frozenset(loaded.get("task_id") or ()),
        orchestrator_run_id=loaded.get("orchestrator_run_id"),
        states=frozenset(loaded.get("state") or ()),
        last_event_id=loaded.get("last_event_id"),
    )
