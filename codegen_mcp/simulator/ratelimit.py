"""A sliding-window rate limit per key: at most `count` accepted hits in any `window` seconds."""

from __future__ import annotations

import math
from collections import deque


class SlidingWindow:
    def __init__(self, count: int, window: float) -> None:
        self.count = count
        self.window = window
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float) -> float | None:
        """Count a hit and return None, or return the seconds until a slot frees.

        A refused hit is not counted: a 429 must not eat into the budget it reports.
        """
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.count:
            return hits[0] + self.window - now
        hits.append(now)
        return None

    def clear(self) -> None:
        """Forget every hit: the window starts empty."""
        self._hits.clear()


def retry_after_header(wait: float) -> str:
    """Whole seconds, at least 1, never telling a client to come back before a slot frees."""
    return str(max(1, math.ceil(wait)))
