"""Run webhooks: where a settled run is reported, what is sent, and how it is signed.

The 2026 API lets an organization set one webhook (`/webhooks/agent-run`) and lets a create or
resume carry `webhooks: [{url, secret}]`, which "overrides the org-level webhook config" for that
run. The payload and the signature are not documented; the simulator's choice (docs/simulator.md):

- body: the run object as `GET /agent/run/{id}` shows it at that moment, plus `event_type`,
  `delivery_id` (the same on a duplicate) and `occurred_at` (wire time, no zone);
- header `X-Codegen-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
  sent only when the target has a secret; `X-Codegen-Event` and `X-Codegen-Delivery` always.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

SIGNATURE_HEADER = "X-Codegen-Signature"
EVENT_HEADER = "X-Codegen-Event"
DELIVERY_HEADER = "X-Codegen-Delivery"
USER_AGENT = "codegen-sim-webhooks/1.0"
COMPLETED = "agent_run.completed"
STATUS_CHANGED = "agent_run.status_changed"
TEST_EVENT = "webhook.test"


@dataclass(frozen=True)
class Target:
    """One place a run's events go: a URL and the secret to sign with (None: unsigned)."""

    url: str
    secret: str | None = None


@dataclass
class OrgWebhook:
    """The organization's webhook: used for every run that carries no `webhooks` of its own."""

    url: str | None = None
    secret: str | None = None
    enabled: bool = False

    def view(self) -> dict[str, Any]:
        """What GET /webhooks/agent-run answers: never the secret, only whether there is one."""
        return {"url": self.url, "enabled": self.enabled, "has_secret": bool(self.secret)}

    def target(self) -> Target | None:
        """Where org-level events go, or None when no URL is set or it is disabled."""
        if not self.enabled or not self.url:
            return None
        return Target(self.url, self.secret)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Codegen-Signature value for `body` sent at `timestamp` (unix seconds)."""
    signed = f"{timestamp}.".encode() + body
    mac = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def payload_body(run: dict[str, Any], event_type: str, delivery_id: str, at: str) -> bytes:
    """The raw JSON body of one delivery: the run object plus the event's own fields."""
    fields = {**run, "event_type": event_type, "delivery_id": delivery_id, "occurred_at": at}
    return json.dumps(fields).encode()


def headers_for(
    event_type: str, delivery_id: str, body: bytes, secret: str | None, timestamp: int
) -> dict[str, str]:
    """The headers one delivery attempt carries (a signature only when there is a secret)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event_type,
        DELIVERY_HEADER: delivery_id,
    }
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return headers
