"""The one error family of codegen-mcp: each error knows the HTTP status that fits it."""

from __future__ import annotations

from typing import Any


class CodegenMCPError(Exception):
    """Base of every error a front can show to its caller."""

    http_status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers: dict[str, str] = {}  # HTTP headers the answer carries (Retry-After)


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
