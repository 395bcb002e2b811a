"""Marshmallow schemas for every command's arguments: the one validation for all fronts.

HTTP, MCP and the CLI hand the arguments exactly as they arrived to `load`: unknown
arguments are refused, nothing is coerced (see fields.py), and an optional argument sent as
null counts as not given. Each argument's description lives here too, beside its rules: the
MCP front publishes both as its input schemas (input_schema.py).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from codegen_mcp import arg_rules as rules
from codegen_mcp import notify_args, refname, runtime_config
from codegen_mcp.arg_rules import DEFAULT_TREES as DEFAULT_TREES
from codegen_mcp.arg_rules import IDEMPOTENCY_KEY_PATTERN as IDEMPOTENCY_KEY_PATTERN
from codegen_mcp.arg_rules import MAX_STATUS_WAIT as MAX_STATUS_WAIT
from codegen_mcp.arg_rules import MAX_TREES as MAX_TREES
from codegen_mcp.arg_rules import REPO_PATTERN as REPO_PATTERN
from codegen_mcp.arg_rules import STATE_NAMES as STATE_NAMES
from codegen_mcp.arg_rules import TASK_ID_PATTERN as TASK_ID_PATTERN
from codegen_mcp.arg_rules import TASK_PATTERN as TASK_PATTERN
from codegen_mcp.errors import InvalidRequest
from codegen_mcp.fields import MAX_ID, Flag, Number, Text, run_id
from codegen_mcp.settings import Settings


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


class NewArgs(Args):
    repo = rules.repo(
        "The GitHub repository as owner/name (e.g. acme/demo); the Codegen organization "
        "must have it.",
        required=True,
    )
    query = rules.query("What the agent should do, in plain words.")
    branch = Text(
        validate=[validate.Length(max=refname.MAX_LENGTH), rules.branch],
        metadata=rules.about("The branch to work from (a name git accepts)."),
    )
    pr = run_id(metadata=rules.about("The number of a pull request the work is about."))
    task = rules.task_type("A task type stated to the agent, e.g. CREATE_PLAN, IMPLEMENT, REVIEW.")
    orchestrator_run_id = run_id(metadata=rules.about(ORCHESTRATOR))
    notify_url = notify_args.notify_url()
    notify_events = notify_args.notify_events()
    model = rules.model(
        "The model the agent uses, one of the organization's (Codegen's GET /models); "
        "the organization's default when not given."
    )
    idempotency_key = rules.idempotency_key()


class ResumeArgs(Args):
    agent_run_id = run_id(required=True, metadata=rules.about("The agent run to continue."))
    query = rules.query("The follow-up message for the agent.")
    task = rules.task_type("A task type stated to the agent, e.g. IMPLEMENT.")
    orchestrator_run_id = run_id(metadata=rules.about(ORCHESTRATOR))
    notify_url = notify_args.notify_url()
    notify_events = notify_args.notify_events()
    model = rules.model("The model for this follow-up; the run's own model when not given.")
    idempotency_key = rules.idempotency_key()


class ConfigArgs(Args):
    action = Text(
        required=True, validate=validate.OneOf(["set", "get"]), metadata=rules.about("set or get.")
    )
    key = Text(
        validate=validate.Length(min=1, max=64),
        metadata=rules.about(
            "api_token, org_id, webhook_secret or org_webhook; get without a key shows the "
            "first three."
        ),
    )
    value = fields.Raw(
        metadata={
            **rules.about(
                "The new value for set: the token or webhook secret (printable ASCII, no "
                "spaces), the org id (a positive integer, or its digits as a string), or the "
                'org webhook (a URL, {"url", "enabled", "secret"}, or off).'
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
        validate=[validate.Length(min=1, max=32), rules.known_status],
        metadata=rules.about(
            "A task state (queued, running, paused, completed, failed, cancelled) or a "
            "Codegen status such as ACTIVE."
        ),
    )
    limit = fields.Integer(
        strict=True,
        load_default=20,
        validate=validate.Range(min=1, max=100),
        metadata=rules.about("How many tasks at most."),
    )
    repo = rules.repo("Only tasks on this owner/name.")
    orchestrator_run_id = run_id(metadata=rules.about("Only tasks orchestrated by this agent run."))


class TaskStatusArgs(Args):
    task_id = rules.task_id("The task_id new or resume answered.", required=True)
    # Seconds to wait for the task's state to change; hosts time tool calls out after 60 s.
    wait = Number(
        load_default=0.0,
        allow_nan=False,
        validate=validate.Range(min=0, max=MAX_STATUS_WAIT),
        metadata=rules.about("Seconds to wait for a change before answering."),
    )


class TreeArgs(Args):
    agent_run_id = run_id(metadata=rules.about("The agent run at the top."))
    task_id = rules.task_id("A task of the run at the top.")
    limit = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=MAX_TREES),
        metadata=rules.about(
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
    task_id = rules.task_id("The task to cancel.", required=True)
    scope = Text(
        validate=validate.OneOf(["pull_request"], error="The only scope is 'pull_request'."),
        metadata=rules.about("pull_request: stop the agents working on the run's pull request."),
    )


class LogsArgs(Args):
    task_id = rules.task_id("A task whose run to read.")
    agent_run_id = run_id(metadata=rules.about("The agent run to read."))
    limit = fields.Integer(
        strict=True,
        load_default=20,
        validate=validate.Range(min=1, max=100),
        metadata=rules.about("How many entries at most."),
    )
    skip = fields.Integer(
        strict=True,
        load_default=0,
        validate=validate.Range(min=0, max=MAX_ID),
        metadata=rules.about("How many entries to skip first."),
    )
    reverse = Flag(load_default=True, metadata=rules.about("Newest first."))

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **_: Any) -> None:
        rules.exactly_one_of(data, "agent_run_id", "task_id")


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


def load(command: str, args: object, settings: Settings | None = None) -> dict[str, Any]:
    """Validated arguments, or InvalidRequest naming every bad field. With `settings`, a
    notify_url's host is resolved and its addresses checked (notify_target.py)."""
    return load_with(SCHEMAS[command], command, args, settings)


def load_with(
    schema: type[Schema], command: str, args: object, settings: Settings | None = None
) -> dict[str, Any]:
    """`args` validated by `schema` (for `command`: the messages name it), or InvalidRequest."""
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise InvalidRequest(
            f"'args' of {command!r} must be a JSON object, got {type(args).__name__}"
        )
    try:
        loaded: dict[str, Any] = _instance(schema).load(args)
        notify_args.check(loaded, settings)
        return loaded
    except ValidationError as exc:
        messages = _printable(_flat(exc.normalized_messages(), args))
        raise InvalidRequest(
            f"invalid arguments for {command!r}: {_describe(messages)}",
            details={"fields": messages},
        ) from None


@cache
def _instance(schema: type[Schema]) -> Schema:
    # Built once per schema: a Schema's construction costs more than a load, and marshmallow 4
    # keeps no per-load state on the instance (no context), so threads can share it.
    return schema()


def _flat(messages: Any, args: dict[str, Any]) -> Any:
    """Each argument's messages as one list, as every error shows them: a list argument's
    errors, which marshmallow keys by item index, name the item instead."""
    if not isinstance(messages, dict):
        return messages
    return {name: _items(msg, args.get(name)) for name, msg in messages.items()}


def _items(messages: Any, given: object) -> Any:
    if not isinstance(messages, dict) or not all(isinstance(key, int) for key in messages):
        return messages
    items = given if isinstance(given, list) else []
    return [
        f"{_name(repr(items[index]) if index < len(items) else index)}: {text}"
        for index, texts in sorted(messages.items())
        for text in (texts if isinstance(texts, list) else [texts])
    ]


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
