"""Injected faults: what the network and the API's gateway do to a client on a bad day."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from codegen_mcp.simulator.errors import InvalidControl

# The real API sits behind a gateway: its 5xx bodies are not always the JSON envelope, so a
# client must not assume they are. 500 is FastAPI's own plain-text crash page.
ERROR_RESPONSES: tuple[tuple[int, str, str], ...] = (
    (500, "text/plain; charset=utf-8", "Internal Server Error"),
    (502, "application/json", '{"message": "Bad gateway"}'),
    (
        503,
        "text/html",
        "<html><head><title>503 Service Temporarily Unavailable</title></head>"
        "<body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>",
    ),
)
DROPPED_BODY = {"message": "Bad gateway"}


@dataclass
class Faults:
    error_rate: float = 0.0
    throttle_rate: float = 0.0
    drop_after_act_rate: float = 0.0
    latency: float = 0.0

    def validate(self) -> None:
        """Raise InvalidControl naming the field if any rate is outside 0..1 or the latency is
        negative."""
        for name in ("error_rate", "throttle_rate", "drop_after_act_rate"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise InvalidControl(f"{name} must be a number between 0 and 1, got {value!r}")
        if not isinstance(self.latency, int | float) or self.latency < 0:
            raise InvalidControl(f"latency must be a number of seconds >= 0, got {self.latency!r}")

    def as_dict(self) -> dict[str, Any]:
        """The faults as plain JSON-ready data."""
        return asdict(self)


class Dice:
    """The random draws behind the faults, seedable so a benchmark can replay them."""

    def __init__(self, seed: int | None) -> None:
        self._random = random.Random(seed)

    def chance(self, rate: float) -> bool:
        """True with probability `rate` (never when it is 0), from this simulator's seeded
        randomness."""
        return rate > 0 and self._random.random() < rate

    def error_response(self) -> tuple[int, str, str]:
        """A transient error to inject: status, error word and message, picked at random."""
        return self._random.choice(ERROR_RESPONSES)
