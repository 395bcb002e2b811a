"""JSON Schemas for the MCP tools' inputs, read from schemas.py: one source for the rules.

They publish what schemas.py enforces (types, patterns, ranges, choices, what is required,
that nothing else is accepted) so a model can get arguments right the first time; they check
nothing themselves: every front hands its arguments to schemas.load.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, missing, validate

from codegen_mcp.fields import Flag, Number


def input_schema(schema: type[Schema]) -> dict[str, Any]:
    """The JSON Schema of one command's arguments (an object with no other properties)."""
    declared = schema().fields
    return {
        "type": "object",
        "properties": {name: _property(field) for name, field in declared.items()},
        "required": [name for name, field in declared.items() if field.required],
        "additionalProperties": False,
    }


def _property(field: fields.Field[Any]) -> dict[str, Any]:
    # One plain type where there is one: hosts turn a typed-in "20" into 20 by reading it
    # (the MCP Inspector does not for ["number", "null"]). Optional arguments are simply not
    # required; schemas.py still takes null for "not given", as hosts may send it.
    spec: dict[str, Any] = {"type": field.metadata.get("json_type") or _json_type(field)}
    spec["description"] = field.metadata["description"]
    if "items" in field.metadata:  # a list's items (notify_events)
        spec["items"] = field.metadata["items"]
    if field.load_default is not missing:
        spec["default"] = field.load_default
    for rule in field.validators:
        spec.update(_rule(rule))
    return spec


def _json_type(field: fields.Field[Any]) -> str:
    if isinstance(field, fields.Integer):
        return "integer"
    if isinstance(field, Number):
        return "number"
    if isinstance(field, Flag):
        return "boolean"
    return "string"


def _rule(rule: Any) -> dict[str, Any]:
    if isinstance(rule, validate.Regexp):
        return {"pattern": rule.regex.pattern}
    if isinstance(rule, validate.Length):
        return _bounds("minLength", rule.min, "maxLength", rule.max)
    if isinstance(rule, validate.Range):
        low = "minimum" if rule.min_inclusive else "exclusiveMinimum"
        high = "maximum" if rule.max_inclusive else "exclusiveMaximum"
        return _bounds(low, rule.min, high, rule.max)
    if isinstance(rule, validate.OneOf):
        return {"enum": list(rule.choices)}
    return {}  # a rule in code (branch names, visible text): the description says it


def _bounds(low_key: str, low: Any, high_key: str, high: Any) -> dict[str, Any]:
    return {key: value for key, value in ((low_key, low), (high_key, high)) if value is not None}
