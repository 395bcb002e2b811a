"""The HTTP front: POST / with {"command": ..., "args": {...}}; one JSON envelope for all.

Three blueprints: `commands` (the command endpoint), `ops` (/healthz, /metrics) and the
dashboard; every error, whichever blueprint raised it, leaves as the one error envelope.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from werkzeug.exceptions import HTTPException

from codegen_mcp import (
    __version__,
    clients,
    commands,
    dashboard,
    idempotency,
    metrics,
    secret,
    web_edge,
    web_events,
    webhooks_in,
)
from codegen_mcp.errors import CodegenMCPError, InvalidRequest, StoreUnavailable
from codegen_mcp.redis_conn import UNREACHABLE
from codegen_mcp.services import Services
from codegen_mcp.web_edge import MAX_BODY

log = logging.getLogger(__name__)

ACCEPTED = {"new", "resume"}


def create_app(services: Services) -> Flask:
    """The HTTP front over `services`: commands, ops and dashboard, behind the edge checks
    (Host, Origin, bearer token), answering every error with the one envelope."""
    secret.install(services.settings, services.redis_url)  # no log line shows a secret
    app = Flask("codegen_mcp")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions["codegen_mcp"] = services
    app.register_blueprint(dashboard.blueprint())
    # Host, Origin and bearer token; the dashboard's page holds no data, its calls carry it.
    web_edge.install(app, services.settings, exempt_blueprint=dashboard.NAME)
    app.register_blueprint(commands_blueprint(services))
    app.register_blueprint(ops_blueprint(services))
    app.register_blueprint(web_events.blueprint(services))
    app.register_blueprint(webhooks_in.blueprint(services))  # Codegen's run webhooks
    install_envelope(app)
    return app


def commands_blueprint(services: Services) -> Blueprint:
    """POST / runs one command over `services` (202 for a start, 200 otherwise); GET / says how."""
    blueprint = Blueprint("commands", __name__)

    @blueprint.post("/")
    def command() -> tuple[Response, int]:
        """The command's answer in the success envelope, or the error envelope."""
        body = web_edge.read_json_body()
        if not isinstance(body, dict):
            raise InvalidRequest(
                'the body must be a JSON object like {"command": "new", "args": {...}}'
            )
        unknown = sorted(set(body) - {"command", "args"})
        if unknown:
            raise InvalidRequest(
                f"unknown top-level field(s) {unknown}: only 'command' and 'args' are read"
            )
        if "command" not in body:
            raise InvalidRequest("missing 'command'", details={"field": "command"})
        who = clients.of_http(request.remote_addr, request.headers, services.settings)
        header = request.headers.get(idempotency.HEADER)
        args = idempotency.with_header(body["command"], body.get("args"), header)
        result = commands.execute(services, body["command"], args, who)
        return jsonify({"status": "success", **result}), 202 if body["command"] in ACCEPTED else 200

    @blueprint.get("/")
    def about() -> Response:
        """What this server is and which commands it takes."""
        return jsonify(
            {
                "name": "codegen-mcp",
                "version": __version__,
                "usage": 'POST / {"command": ..., "args": {...}}',
                "commands": list(commands.COMMANDS),
            }
        )

    return blueprint


def ops_blueprint(services: Services) -> Blueprint:
    """/healthz (200 or 503 with Retry-After) and /metrics (Prometheus text) for `services`."""
    blueprint = Blueprint("ops", __name__)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics.RedisCollector(services))

    @blueprint.get("/healthz")
    def healthz() -> tuple[Response, int]:
        """200 when Redis answers, a worker consumes and sweeps run; else 503 with the checks.
        A nearly full Redis (the memory guard on) is 200 "degraded": reads still work."""
        healthy, checks = metrics.health(services)
        status = "success" if healthy else "error"
        if healthy and str(checks.get("memory", "")).startswith("degraded"):
            status = "degraded"
        response = jsonify({"status": status, **checks})
        if not healthy:
            response.headers["Retry-After"] = str(math.ceil(StoreUnavailable.retry_after or 5))
        return response, 200 if healthy else 503

    @blueprint.get("/metrics")
    def prometheus() -> Response:
        """The metrics read from Redis at scrape time, in Prometheus' text format."""
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return blueprint


def install_envelope(app: Flask) -> None:
    """Every error `app` answers, ours, HTTP's or unexpected, as the one JSON envelope
    {"status": "error", "error": code, "message": ..., ...details}."""

    @app.errorhandler(CodegenMCPError)
    def _ours(exc: CodegenMCPError) -> tuple[Response, int]:
        response, status = _envelope(exc.http_status, exc.code, exc.message, exc.details)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(max(math.ceil(exc.retry_after), 1))
        return response, status

    def _store_down(exc: Exception) -> tuple[Response, int]:
        # /metrics and anything else that reads Redis outside a command.
        return _ours(StoreUnavailable.from_exception(exc))

    for error in UNREACHABLE:
        app.register_error_handler(error, _store_down)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        code = exc.code or 500
        return _envelope(
            code, (exc.name or "error").lower().replace(" ", "_"), exc.description or exc.name
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unexpected error while handling %s %s", request.method, request.path)
        return _envelope(
            500, "internal_error", f"internal error ({type(exc).__name__}); see the server log"
        )


def _envelope(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> tuple[Response, int]:
    body = {"status": "error", "error": code, "message": message, **(details or {})}
    response = jsonify(body)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="codegen-mcp"'
    return response, status
