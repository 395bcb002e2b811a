"""What every /v1 request goes through before and after its route does any work.

Order: injected faults (a gateway in front of the API answers before the app sees anything),
then auth, then the rate limit (refused requests do not use budget), then the route, then the
chance of the response being lost after the action was taken.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from flask import Response, g, request

from codegen_mcp.simulator.errors import RATE_LIMITED, ApiError, detail_error, message_error
from codegen_mcp.simulator.faults import DROPPED_BODY
from codegen_mcp.simulator.ratelimit import retry_after_header
from codegen_mcp.simulator.state import SimState

View = Callable[..., Any]
# Only these act on something whose answer can be lost on the way back.
ACTING_ENDPOINTS = frozenset({"create", "resume"})


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """`body` as a JSON response with `status` and `headers`."""
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def error_response(error: ApiError) -> Response:
    """The response that tells the client about `error`: its status, body and headers."""
    return json_response(error.body, error.status, error.headers)


def guarded(state: SimState, endpoint: str, bucket: str | None) -> Callable[[View], View]:
    """Wrap a route `view(user_id, **path_args) -> body` in the request pipeline."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(**path_args: str) -> Response:
            g.sim_endpoint = endpoint
            try:
                injected = _injected_fault(state)
                if injected is not None:
                    return injected
                token, user_id = _authenticate(state)
                if bucket is not None:
                    _take_budget(state, bucket, token)
                body = view(user_id, **path_args)
            except ApiError as error:
                return error_response(error)
            if endpoint in ACTING_ENDPOINTS and state.traffic.drop_response():
                g.sim_fault = "drop"
                return json_response(DROPPED_BODY, 502)
            return json_response(body)

        return wrapper

    return decorate


def _injected_fault(state: SimState) -> Response | None:
    fault = state.traffic.injected_fault()
    if fault is None:
        return None
    g.sim_fault = fault
    if fault == "throttle":
        return error_response(_too_many(state, 1.0))
    status, content_type, text = state.traffic.error_response()
    return Response(text, status=status, content_type=content_type)


def _authenticate(state: SimState) -> tuple[str, int]:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    user_id = state.user_for(token.strip()) if scheme.lower() == "bearer" else None
    if user_id is None:
        raise detail_error(401, "Invalid or missing API token")
    g.sim_token = token.strip()  # the membership check asks which organizations it has
    return token.strip(), user_id


def _take_budget(state: SimState, bucket: str, token: str) -> None:
    wait = state.traffic.take_budget(bucket, token, state.clock())
    if wait is not None:
        g.sim_rate_limited = True
        raise _too_many(state, wait)


def _too_many(state: SimState, wait: float) -> ApiError:
    headers = {"Retry-After": retry_after_header(wait)} if state.config.retry_after else None
    return message_error(429, RATE_LIMITED, headers)
