"""A small Server-Sent Events client for the tests: GET /events with a streaming requests
response, read message by message as the wire carries them."""

from __future__ import annotations

import json
from typing import Any

import requests


class Stream:
    """One open GET /events; `status` and `headers` as the server answered."""

    def __init__(
        self,
        base_url: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        read_timeout: float = 15.0,
    ) -> None:
        self.response = requests.get(
            base_url + "/events",
            params=params,
            headers=headers,
            stream=True,
            timeout=(5, read_timeout),
        )
        self.status = self.response.status_code
        self.last_id: str | None = None
        self.heartbeats = 0
        self._lines = self.response.iter_lines(decode_unicode=True)

    def next(self) -> dict[str, Any]:
        """The next dispatched message: {"id", "event", "data"} (data parsed as JSON).
        Comments count as heartbeats; an id-only message moves `last_id` and is skipped."""
        fields: dict[str, str] = {}
        for line in self._lines:
            if line == "":
                if "data" in fields:
                    return {
                        "id": fields.get("id"),
                        "event": fields.get("event", "message"),
                        "data": json.loads(fields["data"]),
                    }
                fields = {}
                continue
            if line.startswith(":"):
                self.heartbeats += 1
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            fields[name] = value
            if name == "id":
                self.last_id = value
        raise EOFError("the stream ended")

    def wait_heartbeats(self, count: int) -> None:
        """Read on until `count` more heartbeats came: the server's clock, not ours."""
        goal = self.heartbeats + count
        for line in self._lines:
            self.heartbeats += line.startswith(":")
            if self.heartbeats >= goal:
                return
        raise EOFError("the stream ended")

    def read_to_id(self, target: str) -> None:
        """Read on (through heartbeats and messages) until an `id:` line says `target`."""
        for line in self._lines:
            if line.startswith("id:") and line[3:].strip() == target:
                self.last_id = target
                return
        raise EOFError(f"the stream ended before id {target}")

    def until(self, wanted: Any, limit: int = 200) -> list[dict[str, Any]]:
        """The messages read up to and including the first for which `wanted(message)`."""
        seen = []
        for _ in range(limit):
            seen.append(self.next())
            if wanted(seen[-1]):
                return seen
        raise AssertionError(f"no wanted message in {limit}: {[m['event'] for m in seen]}")

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
