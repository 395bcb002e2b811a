"""The error bodies the real API sends, in its two shapes.

Application errors use `{"message", "status_code"}`; FastAPI's own errors (401 from the auth
dependency, 404/405 for unknown routes, 422 validation) use `{"detail": ...}`.
"""

from __future__ import annotations

from typing import Any

RUN_NOT_FOUND = "Agent run not found."
NOT_A_MEMBER = "You are not a member of this organization."
RATE_LIMITED = "Rate limit exceeded. Please try again later."


class ApiError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def message_error(status: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
    """An API error whose body carries a `message`, as most Codegen endpoints answer."""
    return ApiError(status, {"message": message, "status_code": status}, headers)


def detail_error(status: int, detail: Any) -> ApiError:
    """An API error whose body carries a FastAPI-style `detail`."""
    return ApiError(status, {"detail": detail})


def run_not_found() -> ApiError:
    """The 404 the API answers for a run this organization does not have."""
    return message_error(404, RUN_NOT_FOUND)


class ControlError(Exception):
    """A bad call to the control API (`/_sim/`) or to the Simulator's Python methods."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class UnknownRun(ControlError, LookupError):
    def __init__(self, run_id: int) -> None:
        super().__init__(404, f"no run {run_id}")


class InvalidControl(ControlError, ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class ControlConflict(ControlError, ValueError):
    """The call does not fit the run's current state (e.g. reopening a run still running)."""

    def __init__(self, message: str) -> None:
        super().__init__(409, message)
