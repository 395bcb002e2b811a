"""What can go wrong between the API and a webhook receiver, scripted per simulator.

Rates are drawn per delivery from the simulator's seeded dice; `*_next` counts hit the next N
deliveries for certain (and count down), so a test can aim at exactly one. `attempts` and
`backoff` say how a 5xx or unreachable receiver is retried; `events` which status changes fire.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from codegen_mcp.simulator.errors import InvalidControl

RATES = ("lose_rate", "duplicate_rate", "wrong_signature_rate")
COUNTS = ("lose_next", "duplicate_next", "wrong_signature_next", "hold_next")
EVENTS = ("settled", "all")


@dataclass
class WebhookFaults:
    lose_rate: float = 0.0
    lose_next: int = 0
    duplicate_rate: float = 0.0
    duplicate_next: int = 0
    wrong_signature_rate: float = 0.0
    wrong_signature_next: int = 0
    # Out of order: the next N deliveries wait until a later one has been sent (or hold_seconds).
    hold_next: int = 0
    hold_seconds: float = 10.0
    delay: float = 0.0
    attempts: int = 4
    backoff: float = 0.5
    events: str = "settled"

    def validate(self) -> None:
        """Raise InvalidControl naming the field for any value out of its range."""
        for name in RATES:
            _check(name, getattr(self, name), lambda v: 0.0 <= v <= 1.0, "between 0 and 1")
        for name in COUNTS:
            _check(name, getattr(self, name), lambda v: v >= 0 and v == int(v), "an integer >= 0")
        for name in ("delay", "backoff", "hold_seconds"):
            _check(name, getattr(self, name), lambda v: v >= 0, "a number of seconds >= 0")
        _check("attempts", self.attempts, lambda v: 1 <= v <= 20 and v == int(v), "1 to 20")
        if self.events not in EVENTS:
            raise InvalidControl(f"events must be one of {list(EVENTS)}, got {self.events!r}")

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-ready data."""
        return asdict(self)


def _check(name: str, value: Any, ok: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not ok(value):
        raise InvalidControl(f"{name} must be {what}, got {value!r}")
