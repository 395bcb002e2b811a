"""Marshmallow schemas for every command's arguments: the one validation for all fronts.

HTTP, MCP and the CLI hand the arguments exactly as they arrived to `load`: unknown
arguments are refused, nothing is coerced (see fields.py), and an optional argument sent as
null counts as not given. Each argument's description lives here too, beside its rules: the
MCP front publishes both as its input schemas (input_schema.py).
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from codegen_mcp import refname, runtime_config
from codegen_mcp.api.status import filter_state
from codegen_mcp.errors import InvalidRequest
from codegen_mcp.fields import MAX_ID, Flag, FullMatch, Number, Text, run_id, visible_text
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


def _about(text: str) -> dict[str, Any]:
    return {"description": text}


def _query(text: str) -> Text:
    return Text(
        required=True,
        validate=[validate.Length(min=1, max=MAX_QUERY), visible_text],
        metadata=_about(text),
    )


def _task_type(text: str) -> Text:
    error = "Must be a task type such as CREATE_PLAN."
    return Text(validate=FullMatch(TASK_PATTERN, error=error), metadata=_about(text))


def _task_id(text: str, **kwargs: Any) -> Text:
    rule = FullMatch(TASK_ID_PATTERN, error="Not a valid task id.")
    return Text(validate=rule, metadata=_about(text), **kwargs)


def _repo(text: str, **kwargs: Any) -> Text:
    rule = FullMatch(REPO_PATTERN, error="Must be a repository as owner/name.")
    return Text(validate=rule, metadata=_about(text), **kwargs)


def _idempotency_key() -> Text:
    rule = FullMatch(
        IDEMPOTENCY_KEY_PATTERN,
        error="Must be 8 to 128 characters, each a letter, a digit or - _ . : (a UUID fits).",
    )
    return Text(validate=rule, metadata=_about(IDEMPOTENCY_KEY))


def _branch(value: str) -> None:
    problem = refname.problem(value)
    if problem:
        raise ValidationError(f"Not a valid branch name: {problem}")


def _known_status(value: str) -> None:
    if filter_state(value) is None:
        raise ValidationError(
            f"Unknown status; use one of {', '.join(STATE_NAMES)} or a Codegen status."
        )


def _exactly_one_of(data: dict[str, Any], first: str, second: str) -> None:
    if (first in data) == (second in data):
        raise ValidationError(f"Give exactly one of {first} or {second}.", first)


class Args(Schema):
    """Unknown arguments are refused; null for an optional argument means not given."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _null_is_not_given(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, dict):
            return data
        optional = {name for name, field in self.fields.items() if not field.required}
        return {k: v for k, v in data.items() if not (v is None and k in optional)}


ORCHESTRATOR = "The agent run that orchestrates this one: the result is delivered to it."
MAX_MODEL = 200


def _model(text: str) -> Text:
    return Text(
        validate=[validate.Length(min=1, max=MAX_MODEL), visible_text], metadata=_about(text)
    )


IDEMPOTENCY_KEY = (
    "A key of your choosing (a fresh UUID) that makes a retry safe: the same key with the "
    "same arguments within 24 h answers with the task the first call made, and starts nothing."
)


class NewArgs(Args):
    repo = _repo(
        "The GitHub repository as owner/name (e.g. acme/demo); the Codegen organization "
        "must have it.",
        required=True,
    )
    query = _query("What the agent should do, in plain words.")
    branch = Text(
        validate=[validate.Length(max=refname.MAX_LENGTH), _branch],
        metadata=_about("The branch to work from (a name git accepts)."),
    )
    pr = run_id(metadata=_about("The number of a pull request the work is about."))
    task = _task_type("A task type stated to the agent, e.g. CREATE_PLAN, IMPLEMENT, REVIEW.")
    orchestrator_run_id = run_id(metadata=_about(ORCHESTRATOR))
    model = _model(
        "The model the agent uses, one of the organization's (Codegen's GET /models); "
        "the organization's default when not given."
    )
    idempotency_key = _idempotency_key()


class ResumeArgs(Args):
    agent_run_id = run_id(required=True, metadata=_about("The agent run to continue."))
    query = _query("The follow-up message for the agent.")
    task = _task_type("A task type stated to the agent, e.g. IMPLEMENT.")
    orchestrator_run_id = run_id(metadata=_about(ORCHESTRATOR))
    model = _model("The model for this follow-up; the run's own model when not given.")
    idempotency_key = _idempotency_key()


class ConfigArgs(Args):
    action = Text(
        required=True, validate=validate.OneOf(["set", "get"]), metadata=_about("set or get.")
    )
    key = Text(
        validate=validate.Length(min=1, max=64),
        metadata=_about("api_token, org_id or org_webhook; get without a key: the first two."),
    )
    value = fields.Raw(
        metadata={
            **_about(
                "The new value for set: the token (printable ASCII), the org id (a positive "
                'integer), or the org webhook (a URL, {"url", "enabled", "secret"}, or off).'
            ),
            "json_type": ["string", "integer", "object"],
        },
    )

    @validates_schema
    def _key_and_value(self, data: dict[str, Any], **_: Any) -> None:
        if "key" in data:
            try:
                data["key"] = runtime_config.canonical_key(data["key"])
            except ValueError as exc:
                raise ValidationError(str(exc), "key") from None
        if data.get("action") != "set":
            return
        missing = [name for name in ("key", "value") if name not in data]
        if missing:
            raise ValidationError({name: ["Required when action is 'set'."] for name in missing})
        try:
            data["value"] = runtime_config.check_value(data["key"], data["value"])
        except ValueError as exc:
            raise ValidationError(str(exc), "value") from None


class ListArgs(Args):
    status = Text(
        validate=[validate.Length(min=1, max=32), _known_status],
        metadata=_about(
            "A task state (queued, running, paused, completed, failed, cancelled) or a "
            "Codegen status such as ACTIVE."
        ),
    )
    limit = fields.Integer(
        strict=True,
        load_default=20,
        validate=validate.Range(min=1, max=100),
        metadata=_about("How many tasks at most."),
    )
    repo = _repo("Only tasks on this owner/name.")
    orchestrator_run_id = run_id(metadata=_about("Only tasks orchestrated by this agent run."))


class TaskStatusArgs(Args):
    task_id = _task_id("The task_id new or resume answered.", required=True)
    # Seconds to wait for the task's state to change; hosts time tool calls out after 60 s.
    wait = Number(
        load_default=0.0,
        allow_nan=False,
        validate=validate.Range(min=0, max=MAX_STATUS_WAIT),
        metadata=_about("Seconds to wait for a change before answering."),
    )


class TreeArgs(Args):
    agent_run_id = run_id(metadata=_about("The agent run at the top."))
    task_id = _task_id("A task of the run at the top.")
    limit = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=MAX_TREES),
        metadata=_about(
            f"Without agent_run_id and task_id: how many hierarchies, newest first "
            f"(default {DEFAULT_TREES})."
        ),
    )

    @validates_schema
    def _at_most_one(self, data: dict[str, Any], **_: Any) -> None:
        if "agent_run_id" in data and "task_id" in data:
            raise ValidationError("Give at most one of agent_run_id or task_id.", "agent_run_id")
        if "limit" in data and ("agent_run_id" in data or "task_id" in data):
            raise ValidationError(
                "Only without agent_run_id and task_id: it bounds how many hierarchies.", "limit"
            )


class CancelArgs(Args):
    task_id = _task_id("The task to cancel.", required=True)
    scope = Text(
        validate=validate.OneOf(["pull_request"], error="The only scope is 'pull_request'."),
        metadata=_about("pull_request: stop the agents working on the run's pull request."),
    )


class LogsArgs(Args):
    task_id = _task_id("A task whose run to read.")
    agent_run_id = run_id(metadata=_about("The agent run to read."))
    limit = fields.Integer(
        strict=True,
        load_default=20,
        validate=validate.Range(min=1, max=100),
        metadata=_about("How many entries at most."),
    )
    skip = fields.Integer(
        strict=True,
        load_default=0,
        validate=validate.Range(min=0, max=MAX_ID),
        metadata=_about("How many entries to skip first."),
    )
    reverse = Flag(load_default=True, metadata=_about("Newest first."))

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **_: Any) -> None:
        _exactly_one_of(data, "agent_run_id", "task_id")


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
        messages = _printable(exc.normalized_messages())
        raise InvalidRequest(
            f"invalid arguments for {command!r}: {_describe(messages)}",
            details={"fields": messages},
        ) from None


def _printable(messages: Any) -> Any:
    """Messages keyed by argument names a JSON answer can carry: an unknown argument's name is
    the caller's text (a lone surrogate would break UTF-8 transports; a megabyte is noise)."""
    if not isinstance(messages, dict):
        return messages
    return {_name(key): _printable(value) for key, value in messages.items()}


def _name(key: object, limit: int = 64) -> str:
    text = str(key)
    if len(text) <= limit and text.isprintable():  # lone surrogates are not printable
        return text
    shown = ascii(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _describe(messages: Any) -> str:
    if isinstance(messages, dict):
        return "; ".join(f"{name}: {_describe(msg)}" for name, msg in messages.items())
    if isinstance(messages, list):
        return " ".join(str(m) for m in messages)
    return str(messages)
