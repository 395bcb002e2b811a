"""Request validation that fails the way FastAPI (pydantic v2) does.

Errors across path, query and body are collected and sent together as one 422
`{"detail": [{"type", "loc", "msg", "input", "ctx"?}, ...]}`, like the real API.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from codegen_mcp.simulator.errors import ApiError

_MISSING = object()
_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}


class Checks:
    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []

    def fail(self, kind: str, loc: list[Any], msg: str, value: Any, **ctx: Any) -> None:
        """Record one validation error in FastAPI's shape; reported together by `done`."""
        error: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": value}
        if ctx:
            error["ctx"] = ctx
        self.errors.append(error)

    def done(self) -> None:
        """Raise the 422 listing every recorded error, if any."""
        if self.errors:
            raise ApiError(422, {"detail": self.errors})

    # -- path and query -------------------------------------------------------------------

    def path_int(self, name: str, raw: str) -> int:
        """Path parameter `name` as an integer (an error recorded otherwise)."""
        return self.as_int(["path", name], raw, 0)

    def query_int(
        self,
        args: Mapping[str, str],
        name: str,
        default: int,
        ge: int | None = None,
        le: int | None = None,
    ) -> int:
        """Query parameter `name` as an integer within the bounds, `default` when absent; errors
        recorded as FastAPI words them."""
        raw = args.get(name)
        if raw is None:
            return default
        value = self.as_int(["query", name], raw, default)
        if ge is not None and value < ge:
            self.fail(
                "greater_than_equal",
                ["query", name],
                f"Input should be greater than or equal to {ge}",
                raw,
                ge=ge,
            )
        elif le is not None and value > le:
            self.fail(
                "less_than_equal",
                ["query", name],
                f"Input should be less than or equal to {le}",
                raw,
                le=le,
            )
        return value

    def query_bool(self, args: Mapping[str, str], name: str, default: bool) -> bool:
        """Query parameter `name` as a boolean the way FastAPI reads one, `default` when absent."""
        raw = args.get(name)
        if raw is None:
            return default
        if raw.strip().lower() in _TRUE:
            return True
        if raw.strip().lower() not in _FALSE:
            self.fail(
                "bool_parsing",
                ["query", name],
                "Input should be a valid boolean, unable to interpret input",
                raw,
            )
        return False

    # -- JSON body -----------------------------------------------------------------------

    def json_object(self, raw: bytes) -> dict[str, Any]:
        """The body as an object, or {} after recording why it is not one."""
        if not raw.strip():
            self.fail("missing", ["body"], "Field required", None)
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            pos = getattr(exc, "pos", 0)
            self.fail(
                "json_invalid", ["body", pos], "JSON decode error", {}, error=str(exc).split(":")[0]
            )
            return {}
        if value is None:  # FastAPI reads a JSON null body as no body at all
            self.fail("missing", ["body"], "Field required", None)
            return {}
        if not isinstance(value, dict):
            msg = "Input should be a valid dictionary or object to extract fields from"
            self.fail("model_attributes_type", ["body"], msg, value)
            return {}
        return value

    def body_str(
        self, body: dict[str, Any], name: str, *, required: bool = False, min_length: int = 0
    ) -> str | None:
        """Body field `name` as a string of at least `min_length` characters; None when absent or
        wrong (an error recorded)."""
        value = self._field(body, name, required)
        if value is _MISSING or (value is None and not required):
            return None
        if not isinstance(value, str):
            self.fail("string_type", ["body", name], "Input should be a valid string", value)
            return None
        if len(value) < min_length:
            plural = "character" if min_length == 1 else "characters"
            msg = f"String should have at least {min_length} {plural}"
            self.fail("string_too_short", ["body", name], msg, value, min_length=min_length)
            return None
        return value

    def body_int(self, body: dict[str, Any], name: str, *, required: bool = False) -> int | None:
        """Body field `name` as an integer; None when absent or wrong (an error recorded)."""
        value = self._field(body, name, required)
        if value is _MISSING or (value is None and not required):
            return None
        return self.as_int(["body", name], value, None)

    def body_dict(self, body: dict[str, Any], name: str) -> dict[str, Any] | None:
        """Body field `name` as an object; None when absent, null or wrong (an error recorded)."""
        value = self._field(body, name, False)
        if value is _MISSING:
            return None
        if value is not None and not isinstance(value, dict):
            self.fail("dict_type", ["body", name], "Input should be a valid dictionary", value)
            return None
        return value

    def body_str_list(self, body: dict[str, Any], name: str) -> list[str] | None:
        """Body field `name` as a list of strings; None when absent or null, errors recorded for
        each wrong item."""
        value = self._field(body, name, False)
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, list):
            self.fail("list_type", ["body", name], "Input should be a valid list", value)
            return None
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(
                    "string_type", ["body", name, index], "Input should be a valid string", item
                )
        return value

    def body_choice(self, body: dict[str, Any], name: str, choices: tuple[str, ...]) -> str | None:
        """Body field `name` as one of `choices`; None when absent or not one of them (an error
        recorded)."""
        value = self._field(body, name, False)
        if value is _MISSING:
            return None
        if value is not None and value not in choices:
            expected = " or ".join(f"'{c}'" for c in choices)
            self.fail(
                "literal_error",
                ["body", name],
                f"Input should be {expected}",
                value,
                expected=expected,
            )
            return None
        return value

    # -- helpers ---------------------------------------------------------------------------

    def _field(self, body: dict[str, Any], name: str, required: bool) -> Any:
        """The raw value, or _MISSING when absent (recorded as an error if required).

        An explicit null on a required field is a type error in pydantic, not "missing".
        """
        value = body.get(name, _MISSING)
        if value is _MISSING and required:
            self.fail("missing", ["body", name], "Field required", body)
        return value

    def as_int(self, loc: list[Any], value: Any, fallback: Any) -> Any:
        """pydantic's lax int: ints, bools, whole floats and numeric strings pass."""
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            if value.is_integer():
                return int(value)
            self.fail(
                "int_from_float",
                loc,
                "Input should be a valid integer, got a number with a fractional part",
                value,
            )
            return fallback
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                self.fail(
                    "int_parsing",
                    loc,
                    "Input should be a valid integer, unable to parse string as an integer",
                    value,
                )
                return fallback
        self.fail("int_type", loc, "Input should be a valid integer", value)
        return fallback
