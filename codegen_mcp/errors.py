"""The one error family of codegen-mcp: each error knows the HTTP status that fits it."""

from __future__ import annotations

from typing import Any


class CodegenMCPError(Exception):
    """Base of every error a front can show to its caller."""

    http_status = 500
    code = "internal_error"
    # Seconds after which a retry may succeed; the HTTP front sends it as Retry-After.
    retry_after: float | None = None

    def __init__(
        self, message: str, *, field: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        """`field` names the input at fault. Every error that names one carries it in one
        shape, `fields: {name: [messages]}` (marshmallow's), whether it came as `field=...` or
        as `details={"field": ...}`."""
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})
        field = field or self.details.pop("field", None)
        if field:
            self.details.setdefault("fields", {field: [message]})


class InvalidRequest(CodegenMCPError):
    http_status = 400
    code = "invalid_request"


class Unauthorized(CodegenMCPError):
    http_status = 401
    code = "unauthorized"


class NotFound(CodegenMCPError):
    http_status = 404
    code = "not_found"


class Conflict(CodegenMCPError):
    """The request is valid but the task's current state does not allow it."""

    http_status = 409
    code = "conflict"


class NotConfigured(CodegenMCPError):
    """The Codegen token or org id is missing: nothing can be sent upstream."""

    http_status = 400
    code = "not_configured"


class TaskFailed(CodegenMCPError):
    """A task that failed before it reached a running state (e.g. unknown repository)."""

    http_status = 422
    code = "task_failed"


class ConfigurationError(CodegenMCPError):
    """The process environment is wrong: raised at start-up, never from a request."""

    code = "configuration_error"


class StoreUnavailable(CodegenMCPError):
    """Redis (the task store) refused, dropped or did not answer a call in time."""

    http_status = 503
    code = "redis_unavailable"
    retry_after = 5.0

    @classmethod
    def from_exception(cls, exc: Exception) -> StoreUnavailable:
        """The one wording every front shows; the exception's text may hold the URL."""
        return cls(
            f"the task store (Redis) is unreachable ({type(exc).__name__}); try again in a "
            "few seconds, and check REDIS_URL or that the codegen-mcp stack is running"
        )


class TooManyStreams(CodegenMCPError):
    """This process already serves as many event streams (GET /events) as it may."""

    http_status = 503
    code = "too_many_streams"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
