"""The parts of the API that do not change while the simulator runs: user, org, repos."""

from __future__ import annotations

from typing import Any

from codegen_mcp.simulator.config import SimConfig

ORG_NAME = "Simulated Org"
# GET /models: providers and their models as the 2026 spec shapes them (the values are made up).
MODEL_PROVIDERS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Anthropic",
        (("Claude Sonnet 4.5", "claude-sonnet-4-5"), ("Claude Opus 4.1", "claude-opus-4-1")),
    ),
    ("OpenAI", (("GPT-5", "gpt-5"), ("GPT-5 Codex", "gpt-5-codex"))),
    ("Google", (("Gemini 2.5 Pro", "gemini-2.5-pro"),)),
)
DEFAULT_MODEL = "claude-sonnet-4-5"


def user(user_id: int) -> dict[str, Any]:
    """The simulated user `user_id` as GET /v1/users/me describes a user."""
    return {
        "id": user_id,
        "email": f"sim-user-{user_id}@example.com",
        "github_username": f"sim-user-{user_id}",
        "full_name": f"Sim User {user_id}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{1000 + user_id}",
    }


def organizations(config: SimConfig, token: str | None = None) -> list[dict[str, Any]]:
    """The organizations the simulated user (of `token`) belongs to."""
    named = [(config.org_id, ORG_NAME)]
    named += [(org, f"{ORG_NAME} {org}") for org in config.organizations() if org != config.org_id]
    orgs = config.organizations(token)
    return [{"id": org, "name": name, "settings": {}} for org, name in named if org in orgs]


def repositories(config: SimConfig, org_id: int | None = None) -> list[dict[str, Any]]:
    """Config repos may be partial; fill in every field the real API sends. Every
    organization has the same repositories (under its own organization_id)."""
    org = config.org_id if org_id is None else org_id
    return [_repository(org, repo) for repo in config.repos]


def _repository(org_id: int, repo: dict[str, Any]) -> dict[str, Any]:
    full_name = repo.get("full_name") or f"acme/{repo.get('name', 'repo')}"
    return {
        "id": repo["id"],
        "name": repo.get("name") or full_name.split("/")[-1],
        "full_name": full_name,
        "description": repo.get("description", f"The {full_name} repository"),
        "github_id": repo.get("github_id", 900_000_000 + int(repo["id"])),
        "organization_id": org_id,
        "visibility": repo.get("visibility", "PRIVATE"),
        "archived_time": repo.get("archived_time"),
        "setup_status": repo.get("setup_status", "COMPLETED"),
        "language": repo.get("language", "Python"),
    }


def models() -> dict[str, Any]:
    """What GET /v1/organizations/{org_id}/models answers: providers, their models, the default."""
    providers = [
        {"name": name, "models": [{"label": label, "value": value} for label, value in options]}
        for name, options in MODEL_PROVIDERS
    ]
    return {"providers": providers, "default_model": DEFAULT_MODEL}
