"""The 2026 routes: the org's run webhook, its test, and the models a run can use.

Limits: GET /models is a read (60 / 30 s, the spec's figure, counted in the read bucket); the
test has its own 10 a minute; the webhook config's GET is a read, its POST and DELETE are not
limited (the spec states none).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request

from codegen_mcp.simulator import catalog
from codegen_mcp.simulator.hooks_validation import check_bool, check_http_url
from codegen_mcp.simulator.state import SimState
from codegen_mcp.simulator.validation import Checks

ORG = "/v1/organizations/<org_id>"
HOOK = f"{ORG}/webhooks/agent-run"


def webhook_routes(state: SimState, route: Any, member: Callable[[Checks, int], None]) -> None:
    """Register the webhook config, webhook test and models routes through `route`."""

    def org_only(org_id: str) -> None:
        checks = Checks()
        member(checks, checks.path_int("org_id", org_id))

    @route(HOOK, "webhook_get", "read", "GET")
    def get_webhook(user_id: int, org_id: str) -> Any:
        org_only(org_id)
        with state.lock:
            return state.events.org_webhook.view()

    @route(HOOK, "webhook_set", None, "POST")
    def set_webhook(user_id: int, org_id: str) -> Any:
        checks = Checks()
        org = checks.path_int("org_id", org_id)
        body, parsed = _body(checks)
        url = check_http_url(checks, body, "url") if parsed else None
        secret = checks.body_str(body, "secret")
        enabled = check_bool(checks, body, "enabled", True)
        member(checks, org)
        assert url is not None
        with state.lock:
            view = state.events.set_org_webhook(url, secret, enabled)
        return {"message": "Webhook configuration updated.", **view}

    @route(HOOK, "webhook_delete", None, "DELETE")
    def delete_webhook(user_id: int, org_id: str) -> Any:
        org_only(org_id)
        with state.lock:
            state.events.reset_org_webhook()
        return {"message": "Webhook configuration deleted."}

    @route(f"{HOOK}/test", "webhook_test", "webhook_test", "POST")
    def test_webhook(user_id: int, org_id: str) -> Any:
        checks = Checks()
        org = checks.path_int("org_id", org_id)
        body, parsed = _body(checks)
        url = check_http_url(checks, body, "url") if parsed else None
        member(checks, org)
        assert url is not None
        with state.lock:
            secret = state.events.org_webhook.secret
        return state.events.dispatcher.send_test(url, secret)  # outside the lock: it waits

    @route(f"{ORG}/models", "models", "read", "GET")
    def models(user_id: int, org_id: str) -> Any:
        org_only(org_id)
        return catalog.models()


def _body(checks: Checks) -> tuple[dict[str, Any], bool]:
    """The JSON body, and whether it was an object at all (else its fields are not checked)."""
    before = len(checks.errors)
    body = checks.json_object(request.get_data())
    return body, len(checks.errors) == before
