"""Marshmallow schemas for every command's arguments: the one validation for all fronts."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from codegen_mcp.api.status import State
from codegen_mcp.errors import InvalidRequest

MAX_QUERY = 50_000
REPO_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,99})/[A-Za-z0-9_.-]{1,100}$"
TASK_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
BRANCH_PATTERN = r"^[^\s~^:?*\[\\]{1,255}$"
MAX_STATUS_WAIT = 25
MAX_TREES = 100
DEFAULT_TREES = 10


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("Must not be blank.")


def _query() -> fields.String:
    return fields.String(required=True, validate=[validate.Length(max=MAX_QUERY), _not_blank])


def _run_id(**kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=1), **kwargs)


def _task_type() -> fields.String:
    return fields.String(
        validate=validate.Regexp(TASK_PATTERN, error="Must be a task type such as CREATE_PLAN.")
    )


class NewArgs(Schema):
    repo = fields.String(
        required=True,
        validate=validate.Regexp(REPO_PATTERN, error="Must be a repository as owner/name."),
    )
    query = _query()
    branch = fields.String(
        validate=validate.Regexp(BRANCH_PATTERN, error="Not a valid branch name.")
    )
    pr = _run_id()
    task = _task_type()
    orchestrator_run_id = _run_id()


class ResumeArgs(Schema):
    agent_run_id = _run_id(required=True)
    query = _query()
    task = _task_type()
    orchestrator_run_id = _run_id()


class ConfigArgs(Schema):
    action = fields.String(required=True, validate=validate.OneOf(["set", "get"]))
    key = fields.String(validate=validate.Length(min=1, max=64))
    value = fields.Raw(allow_none=False)

    @validates_schema
    def _set_needs_key_and_value(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("action") != "set":
            return
        errors = {
            name: ["Required when action is 'set'."]
            for name in ("key", "value")
            if name not in data
        }
        if errors:
            raise ValidationError(errors)


class ListArgs(Schema):
    status = fields.String(validate=validate.Length(min=1, max=32))
    limit = fields.Integer(strict=True, load_default=20, validate=validate.Range(min=1, max=100))
    repo = fields.String(validate=validate.Length(min=1, max=201))
    orchestrator_run_id = _run_id()


class TaskStatusArgs(Schema):
    task_id = fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$", error="Not a valid task id."),
    )
    # Seconds to wait for the task's state to change; hosts time tool calls out after 60 s.
    wait = fields.Float(
        load_default=0.0, allow_nan=False, validate=validate.Range(min=0, max=MAX_STATUS_WAIT)
    )


class TreeArgs(Schema):
    agent_run_id = _run_id()
    task_id = fields.String(
        validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$", error="Not a valid task id.")
    )
    # Without a run or task: how many hierarchies, newest first (default DEFAULT_TREES).
    limit = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_TREES))

    @validates_schema
    def _at_most_one(self, data: dict[str, Any], **_: Any) -> None:
        if "agent_run_id" in data and "task_id" in data:
            raise ValidationError("Give at most one of agent_run_id or task_id.", "agent_run_id")
        if "limit" in data and ("agent_run_id" in data or "task_id" in data):
            raise ValidationError(
                "Only without agent_run_id and task_id: it bounds how many hierarchies.", "limit"
            )


def _task_id(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$", error="Not a valid task id."), **kwargs
    )


class CancelArgs(Schema):
    task_id = _task_id(required=True)
    scope = fields.String(
        validate=validate.OneOf(["pull_request"], error="The only scope is 'pull_request'.")
    )


class LogsArgs(Schema):
    task_id = _task_id()
    agent_run_id = _run_id()
    limit = fields.Integer(strict=True, load_default=20, validate=validate.Range(min=1, max=100))
    skip = fields.Integer(strict=True, load_default=0, validate=validate.Range(min=0))
    reverse = fields.Boolean(load_default=True)

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **_: Any) -> None:
        if ("agent_run_id" in data) == ("task_id" in data):
            raise ValidationError("Give exactly one of agent_run_id or task_id.", "agent_run_id")


SCHEMAS: dict[str, type[Schema]] = {
    "new": NewArgs,
    "resume": ResumeArgs,
    "config": ConfigArgs,
    "list": ListArgs,
    "task_status": TaskStatusArgs,
    "tree": TreeArgs,
    "cancel": CancelArgs,
    "logs": LogsArgs,
}

STATE_NAMES = [s.value for s in State]


def load(command: str, args: object) -> dict[str, Any]:
    """Validated arguments, or InvalidRequest naming every bad field."""
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise InvalidRequest(
            f"'args' of {command!r} must be a JSON object, got {type(args).__name__}"
        )
    try:
        return SCHEMAS[command]().load(args)
    except ValidationError as exc:
        messages = exc.normalized_messages()
        raise InvalidRequest(
            f"invalid arguments for {command!r}: {_describe(messages)}",
            details={"fields": messages},
        ) from None


def _describe(messages: Any) -> str:
    if isinstance(messages, dict):
        return "; ".join(f"{name}: {_describe(msg)}" for name, msg in messages.items())
    if isinstance(messages, list):
        return " ".join(str(m) for m in messages)
    return str(messages)
