"""The Codegen REST client: one request choke point, typed errors, the shared budget.

GETs are retried on transient faults. A POST is never blindly retried after it may have
reached the API (create and resume are not idempotent): ApiUnavailable goes back to the
caller, who checks upstream before trying again. A 429 means nothing was done, so any
request is retried after it, within the caller's patience (`max_wait`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

from codegen_mcp import __version__
from codegen_mcp.api.budget import Budget
from codegen_mcp.api.errors import ApiRateLimited, ApiUnavailable, error_for
from codegen_mcp.api.models import Run

log = logging.getLogger(__name__)

READ_ATTEMPTS = 3


@dataclass(frozen=True)
class Credentials:
    token: str
    org_id: int

    def __repr__(self) -> str:  # never print the token
        return f"Credentials(token=…{self.token[-4:]}, org_id={self.org_id})"


class CodegenClient:
    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        budget: Budget | None = None,
        timeout: float = 30.0,
        max_wait: float = 60.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.budget = budget
        self.timeout = timeout
        self.max_wait = max_wait
        self.session = session or requests.Session()
        # Called with (endpoint name, HTTP status or 0 for no answer) after every request.
        self.observer: Callable[[str, int], None] | None = None
        # Added to what every error says was asked: which task's organization, and why.
        self.context = ""
        # When the last request was sent (wall clock), after any budget wait: a Run read
        # carries it (Run.read_at).
        self.sent_at = 0.0

    # -- agent runs --------------------------------------------------------------------
    def create_run(
        self,
        prompt: str,
        *,
        metadata: dict[str, Any] | None = None,
        repo_id: int | None = None,
        model: str | None = None,
        webhooks: list[dict[str, str]] | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> Run:
        """Start an agent run with `prompt`; the run as the API created it. Never retried once it
        may have been sent: ApiUnavailable means the run may or may not exist. `webhooks`
        ([{url, secret}]) asks Codegen to report the run's end there."""
        body: dict[str, Any] = {"prompt": prompt}
        if webhooks:
            body["webhooks"] = webhooks
        if metadata is not None:
            body["metadata"] = metadata
        if repo_id is not None:
            body["repo_id"] = repo_id
        if model is not None:
            body["model"] = model
        path = self._org("/agent/run")
        return Run.from_api(
            self._request("POST", path, "create", json=body, before_send=before_send)
        )

    def get_run(self, run_id: int) -> Run:
        """The run `run_id` as the API reports it now; ApiNotFound if this organization has no such
        run."""
        data = self._request("GET", self._org(f"/agent/run/{run_id}"), "read")
        return Run.from_api(data, self.sent_at)

    def list_runs(
        self,
        *,
        user_id: int | None = None,
        source_type: str | None = "API",
        skip: int = 0,
        limit: int = 100,
    ) -> tuple[list[Run], int]:
        """One page of the organization's runs with their total count; by default only
        runs started through the API, optionally only `user_id`'s."""
        params: dict[str, Any] = {"skip": skip, "limit": limit}
        if user_id is not None:
            params["user_id"] = user_id
        if source_type:
            params["source_type"] = source_type
        page = self._request("GET", self._org("/agent/runs"), "read", params=params)
        items = [
            Run.from_api(item, self.sent_at) for item in page.get("items") or [] if "id" in item
        ]
        return items, int(page.get("total") or 0)

    def resume_run(
        self,
        run_id: int,
        prompt: str,
        *,
        model: str | None = None,
        webhooks: list[dict[str, str]] | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> Run:
        """Send `prompt` to run `run_id` as a follow-up; the run as it stands after. Like
        create_run, never blindly retried. Without `model` the run keeps its own; `webhooks`
        as in create_run."""
        body: dict[str, Any] = {"agent_run_id": run_id, "prompt": prompt}
        if webhooks:
            body["webhooks"] = webhooks
        if model is not None:
            body["model"] = model
        path = self._org("/agent/run/resume")
        return Run.from_api(
            self._request("POST", path, "resume", json=body, before_send=before_send)
        )

    def run_logs(
        self, run_id: int, *, skip: int = 0, limit: int = 100, reverse: bool = False
    ) -> dict[str, Any]:
        """One page of run `run_id`'s agent log, as the API's alpha logs endpoint answers it."""
        params = {"skip": skip, "limit": limit, "reverse": str(reverse).lower()}
        path = f"/v1/alpha/organizations/{self.credentials.org_id}/agent/run/{run_id}/logs"
        return self._request("GET", path, "logs", params=params)

    def remove_from_pr(self, run_id: int) -> dict[str, Any]:
        """Take the agents off run `run_id`'s pull request (every agent on that PR stops working
        there); the API's answer. The closest thing upstream offers to a cancel."""
        body = {"agent_run_id": run_id}
        return self._request("POST", self._org("/agent/run/remove-from-pr"), "resume", json=body)

    # -- the organization's run webhook (org_webhook.py) ------------------------------
    def org_webhook(self) -> dict[str, Any]:
        """The organization's run webhook: `{url, enabled, has_secret}` (never the secret)."""
        return self._request("GET", self._org("/webhooks/agent-run"), "read")

    def set_org_webhook(self, url: str, enabled: bool, secret: str | None) -> dict[str, Any]:
        """Point the organization's run webhook at `url`; Codegen's answer (without secret)."""
        body: dict[str, Any] = {"url": url, "enabled": enabled}
        if secret is not None:
            body["secret"] = secret
        return self._request("POST", self._org("/webhooks/agent-run"), "resume", json=body)

    def delete_org_webhook(self) -> dict[str, Any]:
        """Forget the organization's run webhook."""
        return self._request("DELETE", self._org("/webhooks/agent-run"), "resume")

    # -- account -----------------------------------------------------------------------
    def models(self) -> dict[str, Any]:
        """The models a run may use, as GET /models answers: `providers[].models[{label,
        value}]` and `default_model`. A read: it counts against the read budget."""
        return self._request("GET", self._org("/models"), "read")

    def me(self) -> dict[str, Any]:
        """The user the token belongs to, as the API describes it; a cheap check that the token
        works."""
        return self._request("GET", "/v1/users/me", "read")

    def iter_repos(self, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every repository of the organization, fetched `page_size` at a time as the caller
        iterates."""
        skip = 0
        while True:
            params = {"skip": skip, "limit": page_size}
            page = self._request("GET", self._org("/repos"), "read", params=params)
            items = page.get("items") or []
            yield from (item for item in items if isinstance(item, dict))
            skip += len(items)
            if not items or skip >= int(page.get("total") or 0):
                return

    # -- the choke point ---------------------------------------------------------------
    def _org(self, path: str) -> str:
        return f"/v1/organizations/{self.credentials.org_id}{path}"

    def _request(
        self,
        method: str,
        path: str,
        bucket: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        before_send: Callable[[], None] | None = None,
    ) -> Any:
        """`before_send` runs after the budget wait, right before each send: the caller's
        last chance to record that a non-idempotent request is going out, or to back off."""
        deadline = time.monotonic() + self.max_wait
        attempt = throttled = 0
        while True:
            attempt += 1
            if self.budget is not None:
                self.budget.acquire(bucket, max(deadline - time.monotonic(), 0.0))
            if before_send is not None:
                before_send()
            try:
                return self._send(method, path, params=params, json=json)
            except ApiRateLimited as exc:
                throttled += 1
                if not exc.from_header:  # no Retry-After: back off further each time
                    exc.retry_after = min(exc.retry_after * 2 ** (throttled - 1), 60.0)
                if self.budget is not None:
                    self.budget.penalize(bucket, exc.retry_after)
                if time.monotonic() + exc.retry_after > deadline:
                    raise
                if self.budget is None:
                    time.sleep(exc.retry_after)
            except ApiUnavailable:
                pause = 0.5 * 2 ** (attempt - 1) + random.uniform(0, 0.2)
                if method != "GET" or attempt >= READ_ATTEMPTS:
                    raise
                if time.monotonic() + pause > deadline + self.timeout:
                    raise  # the caller's patience is spent
                time.sleep(pause)

    def _observe(self, method: str, path: str, status: int) -> None:
        if self.observer is not None:
            self.observer(endpoint_name(method, path), status)

    def _send(self, method: str, path: str, *, params: Any, json: Any) -> Any:
        headers = {
            "Authorization": f"Bearer {self.credentials.token}",
            "Accept": "application/json",
            "User-Agent": f"codegen-mcp/{__version__}",
        }
        self.sent_at = time.time()
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                params=params,
                json=json,
                headers=headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            self._observe(method, path, 0)
            # The exception text holds the URL, never the headers.
            raise ApiUnavailable(
                f"Codegen API unreachable ({type(exc).__name__}) on {method} {path}"
            ) from None
        log.debug("%s %s -> %s", method, path, response.status_code)
        self._observe(method, path, response.status_code)
        if response.status_code >= 400:
            raise error_for(response, f"{method} {path}{self.context}")
        try:
            return response.json()
        except ValueError:
            raise ApiUnavailable(f"Codegen API sent a non-JSON answer to {method} {path}") from None


def endpoint_name(method: str, path: str) -> str:
    """A stable label for metrics: the endpoint, without ids."""
    if path.endswith("/logs"):
        return "logs"
    for suffix, name in (
        ("/agent/run/resume", "resume"),
        ("/agent/run/remove-from-pr", "remove_from_pr"),
        ("/agent/runs", "list"),
        ("/users/me", "me"),
        ("/repos", "repos"),
        ("/models", "models"),
        ("/webhooks/agent-run", "org_webhook"),
    ):
        if path.endswith(suffix):
            return name
    if path.endswith("/agent/run"):
        return "create"
    return "get" if "/agent/run/" in path and method == "GET" else "other"
