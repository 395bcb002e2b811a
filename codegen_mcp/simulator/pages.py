"""The page envelope of list, repos and logs: `{"items", "total", "page", "size", "pages"}`."""

from __future__ import annotations

import math
from typing import Any


def page(items: list[Any], skip: int, limit: int) -> dict[str, Any]:
    """One page of `items` in the API's pagination shape (items, total, page, size, pages)."""
    total = len(items)
    return {
        "items": items[skip : skip + limit],
        "total": total,
        "page": skip // limit + 1,
        "size": limit,
        "pages": math.ceil(total / limit),
    }
