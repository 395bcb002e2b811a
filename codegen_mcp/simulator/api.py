"""The /v1 routes of the Codegen REST API: parse like FastAPI, call the state, return its body.

Route shapes are part of the fidelity: resume takes the run id in the body, so
`POST .../agent/run/{id}/resume` matches nothing (404), and `GET .../agent/run/resume` matches
the get route and fails its integer check (422), exactly as on the real API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, g, request

from codegen_mcp.simulator import catalog, pr_actions
from codegen_mcp.simulator.api_webhooks import webhook_routes
from codegen_mcp.simulator.errors import NOT_A_MEMBER, message_error, run_not_found
from codegen_mcp.simulator.gate import View, guarded
from codegen_mcp.simulator.hooks_validation import check_webhooks
from codegen_mcp.simulator.pages import page
from codegen_mcp.simulator.state import SimState
from codegen_mcp.simulator.validation import Checks

ORG = "/v1/organizations/<org_id>"
AGENT_TYPES = ("codegen", "claude_code")

Route = Callable[[str, str, str | None, str], Callable[[View], View]]
Member = Callable[[Checks, int], None]


def api_blueprint(state: SimState) -> Blueprint:
    """The simulated Codegen REST API over `state`: every documented endpoint, behind the same auth,
    rate limits, faults and validation the real one applies."""
    bp = Blueprint("sim_api", __name__)
    route, member = _router(bp, state), _membership(state)
    _agent_run_routes(state, route, member)
    _account_routes(state, route, member)
    webhook_routes(state, route, member)
    return bp


def _router(bp: Blueprint, state: SimState) -> Route:
    """A decorator factory registering a view on `bp` behind the gate (auth, limits, faults)."""

    def route(rule: str, endpoint: str, bucket: str | None, method: str) -> Callable[[View], View]:
        def register(view: View) -> View:
            wrapped = guarded(state, endpoint, bucket)(view)
            # No automatic OPTIONS: FastAPI answers it with 405 like any other wrong method.
            bp.add_url_rule(
                rule,
                endpoint=endpoint,
                view_func=wrapped,
                methods=[method],
                provide_automatic_options=False,
            )
            return view

        return register

    return route


def _membership(state: SimState) -> Member:
    """The check every organization route ends its validation with."""

    def member(checks: Checks, org: int) -> None:
        """Send every validation error found (422), then check membership (403)."""
        checks.done()
        if org not in state.config.organizations(g.get("sim_token")):
            raise message_error(403, NOT_A_MEMBER)

    return member


def _agent_run_routes(state: SimState, route: Route, member: Member) -> None:
    """Create, read, list and resume agent runs; ban, unban and remove from a PR."""

    @route(f"{ORG}/agent/run", "create", "create", "POST")
    def create(user_id: int, org_id: str) -> Any:
        checks = Checks()
        org = checks.path_int("org_id", org_id)
        body = checks.json_object(request.get_data())
        prompt = checks.body_str(body, "prompt", required=True, min_length=1)
        checks.body_str_list(body, "images")
        checks.body_dict(body, "metadata")
        repo_id = checks.body_int(body, "repo_id")
        checks.body_str(body, "model")
        checks.body_choice(body, "agent_type", AGENT_TYPES)
        check_webhooks(checks, body)
        member(checks, org)
        assert prompt is not None  # checks.done() passed, so the field was a string
        return state.create_run(user_id, prompt, repo_id, body, org=org)

    @route(f"{ORG}/agent/run/<run_id>", "get", "read", "GET")
    def get_run(user_id: int, org_id: str, run_id: str) -> Any:
        checks = Checks()
        org = checks.path_int("org_id", org_id)
        agent_run_id = checks.path_int("agent_run_id", run_id)
        member(checks, org)
        return _in_org(state, agent_run_id, org)

    @route(f"{ORG}/agent/runs", "list", "read", "GET")
    def list_runs(user_id: int, org_id: str) -> Any:
        # Only user_id and source_type filter; anything else (status=, repo=...) is ignored.
        checks = Checks()
        org = checks.path_int("org_id", org_id)
        args = request.args
        wanted_user = checks.query_int(args, "user_id", 0) if "user_id" in args else None
        skip, limit = _paging(checks)
        member(checks, org)
        return state.list_runs(org, wanted_user, args.get("source_type"), skip, limit)

    @route(f"{ORG}/agent/run/resume", "resume", "resume", "POST")
    def resume(user_id: int, org_id: str) -> Any:
        checks = Checks()
        org = checks.path_int("org_id", org_id)
        body = checks.json_object(request.get_data())
        agent_run_id = checks.body_int(body, "agent_run_id", required=True)
        prompt = checks.body_str(body, "prompt", required=True)
        checks.body_str_list(body, "images")
        checks.body_str(body, "model")
        check_webhooks(checks, body)
        member(checks, org)
        assert agent_run_id is not None and prompt is not None
        _in_org(state, agent_run_id, org)
        return state.resume_run(agent_run_id, prompt, body)

    def pr_action(action: str) -> View:
        def act(user_id: int, org_id: str) -> Any:
            checks = Checks()
            org = checks.path_int("org_id", org_id)
            body = checks.json_object(request.get_data())
            agent_run_id = checks.body_int(body, "agent_run_id", required=True)
            member(checks, org)
            assert agent_run_id is not None
            _in_org(state, agent_run_id, org)
            if action == "unban":
                return pr_actions.unban(state, agent_run_id)
            return pr_actions.stop_agents_on_pr(state, agent_run_id, action)

        return act

    for path, action in (("ban", "ban"), ("remove-from-pr", "remove_from_pr"), ("unban", "unban")):
        route(f"{ORG}/agent/run/{path}", action, None, "POST")(pr_action(action))


def _account_routes(state: SimState, route: Route, member: Member) -> None:
    """Logs, the user, the organizations and their repositories."""

    @route("/v1/alpha/organizations/<org_id>/agent/run/<run_id>/logs", "logs", "logs", "GET")
    def logs(user_id: int, org_id: str, run_id: str) -> Any:
        checks = Checks()
        org = checks.path_int("org_id", org_id)
        agent_run_id = checks.path_int("agent_run_id", run_id)
        skip, limit = _paging(checks)
        reverse = checks.query_bool(request.args, "reverse", False)
        member(checks, org)
        _in_org(state, agent_run_id, org)
        return state.run_logs(agent_run_id, skip, limit, reverse)

    @route("/v1/users/me", "me", "read", "GET")
    def me(user_id: int) -> Any:
        return catalog.user(user_id)

    @route("/v1/organizations", "orgs", "read", "GET")
    def organizations(user_id: int) -> Any:
        checks = Checks()
        skip, limit = _paging(checks)
        checks.done()
        return page(catalog.organizations(state.config, g.get("sim_token")), skip, limit)

    @route(f"{ORG}/repos", "repos", "read", "GET")
    def repos(user_id: int, org_id: str) -> Any:
        checks = Checks()
        org = checks.path_int("org_id", org_id)
        skip, limit = _paging(checks)
        member(checks, org)
        return page(catalog.repositories(state.config, org), skip, limit)


def _in_org(state: SimState, run_id: int, org: int) -> dict[str, Any]:
    """Run `run_id` as the API shows it; the API's 404 if it is not in organization `org`."""
    run = state.get_run(run_id)
    if run["organization_id"] != org:
        raise run_not_found()
    return run


def _paging(checks: Checks) -> tuple[int, int]:
    skip = checks.query_int(request.args, "skip", 0, ge=0)
    limit = checks.query_int(request.args, "limit", 100, ge=1, le=100)
    return skip, limit
