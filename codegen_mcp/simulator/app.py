"""The simulator's WSGI app: the /v1 API, the /_sim control API, and the request record."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from codegen_mcp.simulator.api import api_blueprint
from codegen_mcp.simulator.control import control_blueprint
from codegen_mcp.simulator.gate import json_response
from codegen_mcp.simulator.persist import persist
from codegen_mcp.simulator.state import SimState

CONTROL_PREFIX = "/_sim"


def create_app(state: SimState) -> Flask:
    """The simulator's Flask app over `state`: the REST API, the /_sim control endpoints, injected
    latency, and errors shaped like the real API's (FastAPI's)."""
    app = Flask("codegen_mcp.simulator")
    app.register_blueprint(api_blueprint(state))
    app.register_blueprint(control_blueprint(state))

    @app.before_request
    def delay() -> None:
        g.sim_started = time.time()
        if request.path.startswith("/v1"):
            latency = state.traffic.faults.latency
            if latency > 0:
                time.sleep(latency)  # outside the lock: a slow API is not a stalled one

    @app.errorhandler(HTTPException)
    def fastapi_error(error: HTTPException) -> Response:
        # Unknown routes and methods answer like FastAPI: {"detail": "Not Found"}.
        return json_response({"detail": error.name}, error.code or 500)

    @app.after_request
    def record(response: Response) -> Response:
        if not request.path.startswith(CONTROL_PREFIX):
            entry = {
                "at": g.get("sim_started", time.time()),
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "endpoint": g.get("sim_endpoint", "other"),
                "fault": g.get("sim_fault"),
            }
            state.traffic.record(entry, rate_limited=g.get("sim_rate_limited", False))
        persist(state)  # a no-op without a state file, or when nothing changed
        return response

    return app
