"""Argument types for schemas.py: text UTF-8 can carry, whole-string patterns, ids the API
can take, and no coercion (a string is never read as a number or a yes/no).

JSON allows what Python strings allow and Redis, HTTP and the Codegen API do not: a lone
surrogate ("\\ud800") parses fine and fails only when it is encoded, long after validation.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from marshmallow import ValidationError, fields, validate

MAX_ID = 2**63 - 1  # the API's ids are 64-bit signed integers
# Control characters a written text may hold; the others (NUL and friends) mean garbage.
TEXT_CONTROLS = frozenset("\t\n\r")


class Text(fields.String):
    """A string that is valid Unicode text (encodable as UTF-8: no lone surrogates)."""

    default_error_messages = {  # noqa: RUF012 (marshmallow merges it along the MRO)
        "surrogate": "Must be valid Unicode text (no lone surrogates)."
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise self.make_error("surrogate") from None
        return text


class Number(fields.Float):
    """A JSON number: strings ("5") and booleans are refused, not converted."""

    def _validated(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._validated(value)


class Flag(fields.Boolean):
    """true or false: "yes", 1 and "true" are refused, not converted."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class FullMatch(validate.Regexp):
    """A pattern the whole string must match: Python's `$` also matches before a final
    newline, so `re.match(r"^x$", "x\\n")` succeeds; fullmatch does not."""

    def __call__(self, value: Any) -> Any:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def run_id(**kwargs: Any) -> fields.Integer:
    """A positive id the API can take (strict: 7.0, "7" and true are refused)."""
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def visible_text(value: str) -> None:
    """At least one character that shows (not only spaces, NULs or zero-width characters),
    and no control characters besides tab and newline."""
    if any(unicodedata.category(c) == "Cc" and c not in TEXT_CONTROLS for c in value):
        raise ValidationError("Must not contain control characters (NUL and the like).")
    if not any(unicodedata.category(c)[0] not in "CZ" for c in value):
        raise ValidationError("Must not be blank.")  # blank: no character that shows
