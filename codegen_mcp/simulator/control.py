"""`/_sim/`: the control API, for processes that cannot call the Simulator's methods.

No auth, no faults, no rate limits, not in the request log: it is the test bench, not the API.
Errors are `{"error": "..."}` with 400 (bad input), 404 (unknown run) or 409 (wrong state).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, Response, request

from codegen_mcp.simulator.control_webhooks import webhook_control_routes
from codegen_mcp.simulator.errors import ControlError, InvalidControl
from codegen_mcp.simulator.faults import Faults
from codegen_mcp.simulator.gate import json_response
from codegen_mcp.simulator.state import SimState

FAULT_KEYS = {f.name for f in dataclasses.fields(Faults)} | {"resume_on_active"}
FOREIGN_KEYS = {"user_id", "source_type", "status", "prompt", "same_pr_as"}


def control_blueprint(state: SimState) -> Blueprint:
    """The /_sim control endpoints over `state`: read the config, set faults, read runs and move
    them on, inspect traffic. Not part of the Codegen API."""
    bp = Blueprint("sim_control", __name__, url_prefix="/_sim")

    @bp.errorhandler(ControlError)
    def control_error(error: ControlError) -> Response:
        return json_response({"error": error.message}, error.status)

    _bench_routes(bp, state)
    _run_routes(bp, state)
    webhook_control_routes(bp, state, _body)
    return bp


def _bench_routes(bp: Blueprint, state: SimState) -> None:
    """The simulator's config, faults, traffic log and stats, and reset."""

    @bp.get("/config")
    def config() -> Response:
        cfg = state.config
        return json_response(
            {
                "org_id": cfg.org_id,
                "org_ids": list(cfg.organizations()),
                "tokens": cfg.tokens,
                "limits": cfg.limits(),
                "active_seconds": cfg.active_seconds,
                "evaluation_seconds": cfg.evaluation_seconds,
                "retry_after": cfg.retry_after,
                "run_quota": cfg.run_quota,
                "web_base": cfg.web_base,
                "faults": state.faults(),
            }
        )

    @bp.get("/faults")
    def faults() -> Response:
        return json_response(state.faults())

    @bp.post("/faults")
    def set_faults() -> Response:
        # Same semantics as Simulator.set_faults: an omitted rate goes back to 0.
        body = _body(FAULT_KEYS)
        resume_on_active = body.pop("resume_on_active", None)
        return json_response(state.set_faults(Faults(**body), resume_on_active))

    @bp.get("/requests")
    def requests_log() -> Response:
        return json_response(state.traffic.requests_log())

    @bp.get("/stats")
    def stats() -> Response:
        return json_response(state.stats())

    @bp.post("/reset")
    def reset() -> Response:
        state.reset()
        return json_response({"reset": True})


def _run_routes(bp: Blueprint, state: SimState) -> None:
    """Read runs, move them on (transition, reopen) and add runs not started through the API."""

    @bp.get("/runs")
    def runs() -> Response:
        return json_response(state.records())

    @bp.get("/runs/<int:run_id>")
    def run(run_id: int) -> Response:
        return json_response(state.record(run_id))

    @bp.post("/runs/<int:run_id>/transition")
    def transition(run_id: int) -> Response:
        body = _body({"status", "result"})
        if "status" not in body:
            raise InvalidControl("status is required")
        return json_response(state.transition(run_id, body["status"], _text(body, "result")))

    @bp.post("/runs/<int:run_id>/reopen")
    def reopen(run_id: int) -> Response:
        body = _body({"result"})
        return json_response(state.reopen(run_id, _text(body, "result")))

    @bp.post("/foreign-runs")
    def foreign_run() -> Response:
        body = _body(FOREIGN_KEYS)
        if "user_id" not in body:
            raise InvalidControl("user_id is required")
        try:
            return json_response(state.add_foreign_run(**body), 201)
        except ControlError:
            raise
        except (TypeError, ValueError) as exc:
            raise InvalidControl(str(exc)) from None


def _body(allowed: set[str]) -> dict[str, Any]:
    body = request.get_json(silent=True) if request.get_data() else {}
    if not isinstance(body, dict):
        raise InvalidControl("the body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise InvalidControl(f"unknown keys: {sorted(unknown)}; allowed: {sorted(allowed)}")
    return body


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidControl(f"{key} must be a string")
    return value
