"""The webhook arguments of `new` and `resume` (schemas.py declares them with these):
`notify_url`, checked by notify_target.py, and `notify_events`, the states that send one."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from codegen_mcp import notify_target
from codegen_mcp.fields import Text
from codegen_mcp.settings import Settings
from codegen_mcp.states import State

NOTIFY_EVENTS = [s.value for s in State if s != State.QUEUED]  # a task starts queued


def _about(text: str) -> dict[str, Any]:
    return {"description": text}


def _webhook_url(value: str) -> None:
    problem = notify_target.url_problem(value)
    if problem:
        raise ValidationError(problem)


def notify_url() -> Text:
    """The notify_url argument: an http(s) URL, checked before any name is resolved."""
    return Text(
        validate=[validate.Length(min=1, max=notify_target.MAX_URL), _webhook_url],
        metadata=_about(
            "An http(s) URL on a public address that gets a signed POST for each change of "
            "the task's state (docs/webhooks.md)."
        ),
    )


def _event_names(value: list[str]) -> None:
    if not 1 <= len(value) <= len(NOTIFY_EVENTS) + 1:
        # front-neutral words: ['all'] is Python's spelling, neither JSON's nor the CLI's
        raise ValidationError(f"Give 1 to {len(NOTIFY_EVENTS)} states, or all.")
    unknown = [name for name in value if name not in (*NOTIFY_EVENTS, "all")]
    if unknown:
        raise ValidationError(
            f"Unknown state {unknown[0]!r}; use {', '.join(NOTIFY_EVENTS)} or all."
        )


def notify_events() -> fields.List:
    """The notify_events argument: a list of states, or [\"all\"]."""
    return fields.List(
        Text(validate=validate.Length(max=32)),
        validate=_event_names,
        metadata={
            **_about(
                "With notify_url: the states that send an event (default: every change of "
                f"state); any of {', '.join(NOTIFY_EVENTS)}, or all."
            ),
            "json_type": "array",
            "items": {"type": "string", "enum": [*NOTIFY_EVENTS, "all"]},
        },
    )


def check(data: dict[str, Any], settings: Settings | None) -> None:
    """What the fields alone cannot judge: notify_events needs notify_url, and (given the
    settings) every address of notify_url's host may get webhooks."""
    if "notify_events" in data and "notify_url" not in data:
        raise ValidationError("Only with notify_url.", "notify_events")
    if settings is not None and "notify_url" in data:
        reachable(data["notify_url"], settings)


def reachable(url: str, settings: Settings) -> None:
    """ValidationError on notify_url unless every address of its host may get webhooks."""
    try:
        notify_target.check(url, settings.notify_allow_private)
    except notify_target.Refused as exc:
        raise ValidationError(str(exc), "notify_url") from None


def selected(events: list[str] | None) -> str | None:
    """notify_events as the task hash keeps it: the states, comma-separated; None for all."""
    if not events or "all" in events:
        return None
    return ",".join(name for name in NOTIFY_EVENTS if name in events)
