"""`/_sim/webhooks`, `/_sim/webhook-faults`, `/_sim/deliveries`: steering and watching the
webhooks the simulator sends (control API rules: no auth, `{"error"}` on a bad call)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request

from codegen_mcp.simulator.errors import InvalidControl
from codegen_mcp.simulator.gate import json_response
from codegen_mcp.simulator.state import SimState
from codegen_mcp.simulator.webhook_faults import WebhookFaults

WEBHOOK_FAULT_KEYS = {f.name for f in dataclasses.fields(WebhookFaults)}


def webhook_control_routes(
    bp: Blueprint, state: SimState, read_body: Callable[[set[str]], dict[str, Any]]
) -> None:
    """Register the webhook control endpoints on `bp`; `read_body(allowed)` reads a JSON body."""
    dispatcher = state.events.dispatcher

    @bp.get("/webhooks")
    def webhooks() -> Response:
        with state.lock:
            org = state.events.org_webhook.view()
        return json_response(
            {"org": org, "faults": dispatcher.faults_view(), "pending": dispatcher.pending()}
        )

    @bp.get("/webhook-faults")
    def webhook_faults() -> Response:
        return json_response(dispatcher.faults_view())

    @bp.post("/webhook-faults")
    def set_webhook_faults() -> Response:
        # Like /_sim/faults: an omitted setting goes back to its default.
        return json_response(dispatcher.set_faults(WebhookFaults(**read_body(WEBHOOK_FAULT_KEYS))))

    @bp.get("/deliveries")
    def deliveries() -> Response:
        found = dispatcher.deliveries()
        run_id = request.args.get("run_id")
        if run_id is not None:
            if not run_id.isdigit():
                raise InvalidControl("run_id must be an integer")
            found = [d for d in found if d["run_id"] == int(run_id)]
        return json_response(found)
