"""The parts of the API that do not change while the simulator runs: user, org, repos."""

from __future__ import annotations

from typing import Any

from codegen_mcp.simulator.config import SimConfig

ORG_NAME = "Simulated Org"


def user(user_id: int) -> dict[str, Any]:
    """The simulated user `user_id` as GET /v1/users/me describes a user."""
    return {
        "id": user_id,
        "email": f"sim-user-{user_id}@example.com",
        "github_username": f"sim-user-{user_id}",
        "full_name": f"Sim User {user_id}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{1000 + user_id}",
    }


def organizations(config: SimConfig) -> list[dict[str, Any]]:
    """The organizations the simulated user belongs to: the one configured."""
    return [{"id": config.org_id, "name": ORG_NAME, "settings": {}}]


def repositories(config: SimConfig) -> list[dict[str, Any]]:
    """Config repos may be partial; fill in every field the real API sends."""
    return [_repository(config, repo) for repo in config.repos]


def _repository(config: SimConfig, repo: dict[str, Any]) -> dict[str, Any]:
    full_name = repo.get("full_name") or f"acme/{repo.get('name', 'repo')}"
    return {
        "id": repo["id"],
        "name": repo.get("name") or full_name.split("/")[-1],
        "full_name": full_name,
        "description": repo.get("description", f"The {full_name} repository"),
        "github_id": repo.get("github_id", 900_000_000 + int(repo["id"])),
        "organization_id": config.org_id,
        "visibility": repo.get("visibility", "PRIVATE"),
        "archived_time": repo.get("archived_time"),
        "setup_status": repo.get("setup_status", "COMPLETED"),
        "language": repo.get("language", "Python"),
    }
