"""Typed errors of the Codegen client, each carrying the HTTP status and the API's message,
and `error_for`, which maps an error answer to one."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from codegen_mcp.errors import CodegenMCPError

DEFAULT_BACKOFF = 2.0  # seconds to pause a bucket after a 429 without Retry-After


class ApiError(CodegenMCPError):
    """The Codegen API answered with an error, or could not be reached."""

    http_status = 502
    code = "upstream_error"

    def __init__(self, message: str, *, status_code: int | None = None, body: Any = None) -> None:
        super().__init__(message, details={"upstream_status": status_code})
        self.status_code = status_code
        self.body = body


FIX_TOKEN = "fix it with `config set api_token` or CODEGEN_API_TOKEN"
FIX_ORG = "`config set org_id` or CODEGEN_ORG_ID"


class ApiAuthError(ApiError):
    """401 or 403: the Codegen API token is wrong or not a member of the organization.

    A 502, not a 401: the caller's own credentials were fine, ours were refused upstream,
    so no front may answer as if the caller's token had been refused.
    """

    http_status = 502
    code = "upstream_auth"

    def __init__(self, message: str, *, status_code: int | None = None, body: Any = None) -> None:
        # Rebuilt from its args (unpickled, as Celery carries exceptions), it has its advice.
        if not message.endswith(tuple(f"({_auth_advice(code)})" for code in (401, 403))):
            message = f"{message} ({_auth_advice(status_code)})"
        super().__init__(message, status_code=status_code, body=body)


def _auth_advice(status_code: int | None) -> str:
    if status_code == 403:
        return (
            f"the Codegen API token may not act in this organization: {FIX_TOKEN}, "
            f"or the organization id with {FIX_ORG}"
        )
    return f"Codegen refused the Codegen API token: {FIX_TOKEN}"


class ApiNotFound(ApiError):
    http_status = 404
    code = "upstream_not_found"


class ApiQuotaExceeded(ApiError):
    """402: the plan's run quota is used up."""

    http_status = 402
    code = "upstream_quota"


class ApiRejected(ApiError):
    """Any other 4xx (400, 409, 422, ...): the API refused the request as sent."""

    http_status = 422
    code = "upstream_rejected"


class ApiRateLimited(ApiError):
    """429, or our own budget would make us wait too long; nothing was done upstream."""

    http_status = 503
    code = "upstream_rate_limited"
    retry_after: float

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        status_code: int | None = 429,
        from_header: bool = False,
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after
        self.from_header = from_header  # the API said how long; else it is our own guess

    @property
    def ours(self) -> bool:
        """Our own budget said wait: nothing was sent upstream."""
        return self.status_code is None


class ApiUnavailable(ApiError):
    """5xx, timeout or a broken connection.

    For a POST this is ambiguous: the API may have acted before the answer was lost.
    """

    http_status = 502
    code = "upstream_unavailable"


def error_for(response: requests.Response, what: str) -> ApiError:
    """The typed error for an API answer of 400 or more, its message naming `what` was asked.

    A 429 carries how long to back off: Retry-After when the API sent it, else a jittered
    default. Never reads the request's headers, so the token stays out of every message.
    """
    status = response.status_code
    body = _body(response)
    message = f"Codegen API {status} on {what}: {_message(body) or response.reason}"
    if status == 429:
        retry_after = _retry_after(response)
        if retry_after is None:
            return ApiRateLimited(message, retry_after=DEFAULT_BACKOFF + random.uniform(0, 1.0))
        return ApiRateLimited(message, retry_after=retry_after, from_header=True)
    if status in (401, 403):
        return ApiAuthError(message, status_code=status, body=body)
    if status == 402:
        return ApiQuotaExceeded(message, status_code=status, body=body)
    if status == 404:
        return ApiNotFound(message, status_code=status, body=body)
    if status < 500:
        return ApiRejected(message, status_code=status, body=body)
    return ApiUnavailable(message, status_code=status, body=body)


def _body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def _message(body: Any) -> str:
    """`message` for Codegen's own errors, FastAPI's `detail` (a string or a list) otherwise."""
    if not isinstance(body, dict):
        return str(body or "")[:300]
    if isinstance(body.get("message"), str):
        return body["message"]
    detail = body.get("detail")
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg')}"
            for item in detail
            if isinstance(item, dict)
        )
    return str(detail or "")


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from Retry-After (a number or an HTTP date); None when absent or unreadable."""
    header = response.headers.get("Retry-After", "").strip()
    if not header:
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(header) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.5), 300.0)
