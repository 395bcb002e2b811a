"""Typed errors of the Codegen client: each carries the HTTP status and the API's message."""

from __future__ import annotations

from typing import Any

from codegen_mcp.errors import CodegenMCPError


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
