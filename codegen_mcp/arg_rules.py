"""The rules of each kind of argument, for schemas.py: patterns, bounds, descriptions.

Each builder returns a marshmallow field (fields.py types) with its rule and the description
the MCP front publishes beside it.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, validate

from codegen_mcp import refname
from codegen_mcp.api.status import filter_state
from codegen_mcp.fields import FullMatch, Text, visible_text
from codegen_mcp.states import State

MAX_QUERY = 50_000
REPO_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,99})/[A-Za-z0-9_.-]{1,100}$"
TASK_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
TASK_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{8,128}$"
MAX_STATUS_WAIT = 25
MAX_TREES = 100  # `tree` without a run: how many hierarchies at most, and by default
DEFAULT_TREES = 10
STATE_NAMES = [s.value for s in State]


def about(text: str) -> dict[str, Any]:
    return {"description": text}


def query(text: str) -> Text:
    return Text(
        required=True,
        validate=[validate.Length(min=1, max=MAX_QUERY), visible_text],
        metadata=about(text),
    )


def task_type(text: str) -> Text:
    error = "Must be a task type such as CREATE_PLAN."
    return Text(validate=FullMatch(TASK_PATTERN, error=error), metadata=about(text))


def task_id(text: str, **kwargs: Any) -> Text:
    rule = FullMatch(TASK_ID_PATTERN, error="Not a valid task id.")
    return Text(validate=rule, metadata=about(text), **kwargs)


def repo(text: str, **kwargs: Any) -> Text:
    rule = FullMatch(REPO_PATTERN, error="Must be a repository as owner/name.")
    return Text(validate=rule, metadata=about(text), **kwargs)


def idempotency_key() -> Text:
    rule = FullMatch(
        IDEMPOTENCY_KEY_PATTERN,
        error="Must be 8 to 128 characters, each a letter, a digit or - _ . : (a UUID fits).",
    )
    return Text(validate=rule, metadata=about(IDEMPOTENCY_KEY))


def branch(value: str) -> None:
    problem = refname.problem(value)
    if problem:
        raise ValidationError(f"Not a valid branch name: {problem}")


def known_status(value: str) -> None:
    if filter_state(value) is None:
        raise ValidationError(
            f"Unknown status; use one of {', '.join(STATE_NAMES)} or a Codegen status."
        )


def exactly_one_of(data: dict[str, Any], first: str, second: str) -> None:
    if (first in data) == (second in data):
        raise ValidationError(f"Give exactly one of {first} or {second}.", first)


MAX_MODEL = 200


def model(text: str) -> Text:
    return Text(
        validate=[validate.Length(min=1, max=MAX_MODEL), visible_text], metadata=about(text)
    )


IDEMPOTENCY_KEY = (
    "A key of your choosing (a fresh UUID) that makes a retry safe: the same key with the "
    "same arguments within 24 h answers with the task the first call made, and starts nothing."
)
