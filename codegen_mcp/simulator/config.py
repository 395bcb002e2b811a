"""SimConfig: everything a simulator instance can be told at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Limit = tuple[int, float]

# What the real API documents (codegen-api.md). The simulator enforces the limits it was
# configured with, but also counts requests that would have broken these, so a benchmark run
# against a generous simulator still learns whether a client would have been throttled for real.
DOCUMENTED_LIMITS: dict[str, Limit] = {
    "read": (60, 30.0),
    "create": (10, 60.0),
    "resume": (60, 30.0),
    "logs": (60, 60.0),
    "webhook_test": (10, 60.0),
}


def default_repos() -> list[dict[str, Any]]:
    """The repositories a simulator starts with unless told otherwise."""
    return [
        {"id": 101, "name": "codegen.py", "full_name": "Zeeeepa/codegen.py", "language": "Python"},
        {"id": 102, "name": "demo", "full_name": "acme/demo", "language": "Python"},
        {"id": 103, "name": "web", "full_name": "acme/web", "language": "TypeScript"},
        {"id": 104, "name": "infra", "full_name": "acme/infra", "language": "HCL"},
    ]


@dataclass(frozen=True)
class SimConfig:
    tokens: dict[str, int] = field(default_factory=lambda: {"sim-token": 7})
    org_id: int = 1
    # More organizations every token belongs to. A run lives in the organization it was
    # created in: asked for in another one, it is a 404, as on the real API.
    org_ids: tuple[int, ...] = ()
    # Tokens that belong to some of the organizations only (a 403 in the others).
    token_orgs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    repos: list[dict[str, Any]] = field(default_factory=default_repos)
    read_limit: Limit = (60, 30.0)
    create_limit: Limit = (10, 60.0)
    resume_limit: Limit = (60, 30.0)
    logs_limit: Limit = (60, 60.0)
    webhook_test_limit: Limit = (10, 60.0)
    active_seconds: float = 3.0
    evaluation_seconds: float = 1.0
    resume_on_active: str = "accept"
    retry_after: bool = True
    run_quota: int | None = None
    web_base: str = "https://codegen.com"
    # Seed for the fault dice, so a benchmark can replay the same sequence of faults.
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.resume_on_active not in ("accept", "reject"):
            raise ValueError("resume_on_active must be 'accept' or 'reject'")
        if not self.tokens:
            raise ValueError("at least one token is needed")

    def organizations(self, token: str | None = None) -> tuple[int, ...]:
        """The organizations `token` belongs to (every token: org_id, then org_ids)."""
        if token is not None and token in self.token_orgs:
            return tuple(self.token_orgs[token])
        return (self.org_id, *(org for org in self.org_ids if org != self.org_id))

    def limits(self) -> dict[str, Limit]:
        """The rate limit of each bucket (read, create, resume, logs, webhook_test) this simulator
        enforces."""
        return {
            "read": self.read_limit,
            "create": self.create_limit,
            "resume": self.resume_limit,
            "logs": self.logs_limit,
            "webhook_test": self.webhook_test_limit,
        }

    def repo(self, repo_id: int) -> dict[str, Any] | None:
        """The configured repository with id `repo_id`, or None."""
        return next((r for r in self.repos if r.get("id") == repo_id), None)
