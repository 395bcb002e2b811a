"""The `model` a `new` or `resume` may name: checked against GET /models before anything is
recorded, so an unknown one is refused at once with the list of valid values. (An API without
GET /models, a 404, lets the value through unchecked: Codegen itself then judges it.)

The list is kept in Redis for MODELS_SECONDS (every front and process shares it). A value not
in it re-reads the list, at most once per MODEL_MISS_SECONDS for all callers together, so a
flood of unknown names costs a read or two a minute of the shared read budget, not one each.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from codegen_mcp.api.errors import ApiNotFound
from codegen_mcp.errors import InvalidRequest
from codegen_mcp.services import Services

log = logging.getLogger(__name__)

MODELS_SECONDS = 300
MODEL_MISS_SECONDS = 30
# A check runs inside a front's request: it does not wait long for a read slot.
MODELS_BUDGET_WAIT = 5.0


def check_model(services: Services, model: str, org_id: int | None = None) -> None:
    """Return if `model` is one the runs of organization `org_id` (default: the one in force)
    may use; InvalidRequest naming the `model` field and listing the valid values otherwise."""
    org = org_id if org_id is not None else services.config.credentials().org_id
    key = services.store.keys.models(org)
    known = _cached(services, key)
    if known is None or (model not in known and not services.redis.exists(f"{key}:fresh")):
        try:
            known = _read(services, key, org)
        except ApiNotFound:
            log.warning("the Codegen API has no GET /models: model %r is sent unchecked", model)
            return
    if model not in known:
        shown = ", ".join(known) or "none"
        raise InvalidRequest(
            f"model: unknown model {model!r}; valid models: {shown}",
            field="model",
            details={"valid_models": known},
        )


def model_values(answer: dict[str, Any]) -> list[str]:
    """Every model `value` in a GET /models answer, in its order (unusable entries skipped)."""
    values: list[str] = []
    for provider in answer.get("providers") or []:
        options = provider.get("models") if isinstance(provider, dict) else None
        for option in options or []:
            value = option.get("value") if isinstance(option, dict) else None
            if isinstance(value, str) and value and value not in values:
                values.append(value)
    return values


def _cached(services: Services, key: str) -> list[str] | None:
    raw = services.redis.get(key)
    return None if raw is None else list(json.loads(raw))


def _read(services: Services, key: str, org_id: int) -> list[str]:
    known = model_values(services.client(max_wait=MODELS_BUDGET_WAIT, org_id=org_id).models())
    pipe = services.redis.pipeline(transaction=False)
    pipe.set(key, json.dumps(known), ex=MODELS_SECONDS)
    pipe.set(f"{key}:fresh", "1", ex=MODEL_MISS_SECONDS)
    pipe.execute()
    return known
