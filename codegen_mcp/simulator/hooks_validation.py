"""Validation of the 2026 webhook fields, failing the way FastAPI (pydantic v2) does.

The org webhook's `url` is a pydantic `HttpUrl` (1..2083 characters, http or https); a per-run
`webhooks[].url` is a plain string in the spec, so anything goes there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from codegen_mcp.simulator.validation import Checks

MAX_URL = 2083
_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}


def check_http_url(checks: Checks, body: dict[str, Any], name: str) -> str | None:
    """Required body field `name` as an http(s) URL; None (an error recorded) otherwise."""
    loc: list[Any] = ["body", name]
    if name not in body:
        checks.fail("missing", loc, "Field required", body)
        return None
    value = body[name]
    if not isinstance(value, str):
        checks.fail("url_type", loc, "URL input should be a string or URL", value)
        return None
    if len(value) > MAX_URL:
        msg = f"URL should have at most {MAX_URL} characters"
        checks.fail("url_too_long", loc, msg, value, max_length=MAX_URL)
        return None
    parts = urlsplit(value.strip())
    if not parts.scheme or not parts.netloc:
        msg = "Input should be a valid URL, relative URL without a base"
        checks.fail("url_parsing", loc, msg, value, error="relative URL without a base")
        return None
    if parts.scheme not in ("http", "https"):
        expected = "'http' or 'https'"
        msg = f"URL scheme should be {expected}"
        checks.fail("url_scheme", loc, msg, value, expected_schemes=expected)
        return None
    return value.strip()


def check_bool(checks: Checks, body: dict[str, Any], name: str, default: bool) -> bool:
    """Body field `name` as pydantic's lax boolean, `default` when absent."""
    value = body.get(name, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    kind = "bool_parsing" if isinstance(value, str) else "bool_type"
    tail = ", unable to interpret input" if isinstance(value, str) else ""
    checks.fail(kind, ["body", name], f"Input should be a valid boolean{tail}", value)
    return default


def check_webhooks(checks: Checks, body: dict[str, Any]) -> None:
    """`webhooks: [{url: str, secret: str | null}] | null` on a create or a resume."""
    value = body.get("webhooks")
    if value is None:
        return
    if not isinstance(value, list):
        checks.fail("list_type", ["body", "webhooks"], "Input should be a valid list", value)
        return
    for index, entry in enumerate(value):
        loc: list[Any] = ["body", "webhooks", index]
        if not isinstance(entry, dict):
            msg = "Input should be a valid dictionary or instance of WebhookOverride"
            checks.fail("model_type", loc, msg, entry, class_name="WebhookOverride")
            continue
        checks.body_str(entry, "url", required=True)
        checks.body_str(entry, "secret")
        for error in checks.errors:  # body_str names the entry's field; put it under webhooks[i]
            if error["loc"][:1] == ["body"] and error["loc"][1:2] in (["url"], ["secret"]):
                error["loc"] = [*loc, *error["loc"][1:]]
