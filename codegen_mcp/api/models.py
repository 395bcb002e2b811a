"""The run object as the API sends it, read defensively: only `id` is guaranteed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from codegen_mcp.api.status import normalize, state_for
from codegen_mcp.states import State


def parse_timestamp(value: object) -> datetime | None:
    """Both forms the API uses: "2025-06-21 11:20:04.338398" (UTC, no zone) and ISO with Z."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class PullRequest:
    url: str | None
    title: str | None = None
    head_branch_name: str | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The pull request as plain JSON-ready data, every field present (None when unknown)."""
        return {
            "id": self.id,
            "url": self.url,
            "title": self.title,
            "head_branch_name": self.head_branch_name,
        }


@dataclass(frozen=True)
class Run:
    id: int
    status: str
    result: str | None = None
    summary: str | None = None
    web_url: str | None = None
    created_at: datetime | None = None
    metadata: dict[str, Any] | None = None
    source_type: str | None = None
    pull_requests: tuple[PullRequest, ...] = field(default_factory=tuple)
    # When the request that returned it was sent (wall clock; 0: not from a read): what it
    # shows was true then, however long it waited to be used.
    read_at: float = field(default=0.0, compare=False)

    @property
    def state(self) -> State:
        """Our task state for the run's upstream status (unknown statuses count as running)."""
        return state_for(self.status)

    @classmethod
    def from_api(cls, data: dict[str, Any], read_at: float = 0.0) -> Run:
        """A Run from the API's JSON (read by a request sent at `read_at`); absent, empty or
        ill-typed optional fields become None rather than errors. Needs `id`."""
        metadata = data.get("metadata")
        return cls(
            id=int(data["id"]),
            status=normalize(data.get("status")),
            result=_text(data.get("result")),
            summary=_text(data.get("summary")),
            web_url=_text(data.get("web_url")),
            created_at=parse_timestamp(data.get("created_at")),
            metadata=metadata if isinstance(metadata, dict) else None,
            source_type=_text(data.get("source_type")),
            pull_requests=tuple(_pull_requests(data.get("github_pull_requests"))),
            read_at=read_at,
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _pull_requests(items: object) -> list[PullRequest]:
    if not isinstance(items, list):
        return []
    return [
        PullRequest(
            url=_text(item.get("url")),
            title=_text(item.get("title")),
            head_branch_name=_text(item.get("head_branch_name")),
            id=item.get("id") if isinstance(item.get("id"), int) else None,
        )
        for item in items
        if isinstance(item, dict)
    ]
