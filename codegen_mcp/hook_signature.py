"""Check the HMAC signature of a run webhook from Codegen, in whichever likely form it comes.

Codegen's spec says only that a webhook's secret is "for HMAC signature verification": the
header's name and the encoding are not documented. So every form in common use is accepted,
and the one that matched is recorded (a metric label) so operators learn what Codegen sends:

| form | header value | signed bytes |
|---|---|---|
| `t_v1` | `t=<unix>,v1=<hex>` (Stripe; the simulator's) | `<t>.<body>` |
| `sha256_hex`, `sha256_base64` | `sha256=<hex or base64>` (GitHub) | `<body>` |
| `standard_webhooks` | `v1,<base64>` (`webhook-id`, `-timestamp`) | `<id>.<ts>.<body>` |
| `hex`, `base64` | the bare digest | `<body>` |
| `ts_hex`, `ts_base64` | the bare digest, a timestamp header beside it | `<ts>.<body>` |

A present signature that matches no form is refused; an absent one is let through (the real
header's name is unknown), which costs at most one read: the webhook is only a hint.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

SIGNATURE_HEADERS = (
    "X-Codegen-Signature",
    "X-Codegen-Signature-256",
    "X-Signature",
    "X-Signature-256",
    "X-Hub-Signature-256",
    "X-Webhook-Signature",
    "Webhook-Signature",
)
TIMESTAMP_HEADERS = ("X-Codegen-Timestamp", "X-Signature-Timestamp", "X-Timestamp")
MAX_HEADER = 1024


@dataclass(frozen=True)
class Verdict:
    """`state` is "absent" (no signature header), "ok" (one matched) or "bad"."""

    state: str
    form: str | None = None


def verify(headers: Mapping[str, str], body: bytes, secret: str | None) -> Verdict:
    """Whether `body` is signed with `secret` in any accepted form (see the module's table).
    Header names are matched in any case."""
    headers = {name.lower(): value for name, value in headers.items()}
    present = [
        (name, headers[name.lower()][:MAX_HEADER])
        for name in SIGNATURE_HEADERS
        if headers.get(name.lower()) is not None
    ]
    if not present:
        return Verdict("absent")
    if not secret:
        return Verdict("bad")  # a signature we cannot check: someone else's
    for name, value in present:
        for form, signed, given in _candidates(name, value.strip(), headers, body):
            if _matches(secret, form, signed, given):
                return Verdict("ok", form)
    return Verdict("bad")


def _candidates(
    name: str, value: str, headers: Mapping[str, str], body: bytes
) -> Iterator[tuple[str, bytes, str]]:
    """(form, the bytes signed, the digest given) for every reading of one header."""
    if value.startswith("t=") or ",v1=" in value:
        parts = [part.strip().split("=", 1) for part in value.split(",") if "=" in part]
        stamp = next((v for k, v in parts if k == "t"), "")
        for key, given in parts:
            if key == "v1":
                yield "t_v1", stamp.encode() + b"." + body, given
        return
    if value.lower().startswith("sha256="):
        given = value[len("sha256=") :]
        yield "sha256_hex", body, given
        yield "sha256_base64", body, given
        return
    webhook_id = headers.get("webhook-id")
    webhook_ts = headers.get("webhook-timestamp")
    if webhook_id and webhook_ts:
        signed = f"{webhook_id}.{webhook_ts}.".encode() + body
        for item in value.split():
            version, _, given = item.partition(",")
            if version == "v1":
                yield "standard_webhooks", signed, given
    yield "hex", body, value
    yield "base64", body, value
    header_stamp = next(
        (headers[h.lower()] for h in TIMESTAMP_HEADERS if headers.get(h.lower())), None
    )
    if header_stamp:
        signed = header_stamp.strip().encode() + b"." + body
        yield "ts_hex", signed, value
        yield "ts_base64", signed, value


def _matches(secret: str, form: str, signed: bytes, given: str) -> bool:
    if not given:
        return False
    keys = [secret.encode()]
    if form == "standard_webhooks" and secret.startswith("whsec_"):
        with contextlib.suppress(binascii.Error):
            keys.append(base64.b64decode(secret[len("whsec_") :]))
    hexed = form.endswith("hex") or form == "t_v1"
    offered = (given.lower() if hexed else given).encode(errors="replace")
    for key in keys:
        digest = hmac.new(key, signed, hashlib.sha256).digest()
        expected = [digest.hex()] if hexed else [_b64(digest), _b64(digest, url=True)]
        if any(hmac.compare_digest(e.encode(), offered) for e in expected):
            return True
    return False


def _b64(digest: bytes, *, url: bool = False) -> str:
    encode = base64.urlsafe_b64encode if url else base64.b64encode
    return encode(digest).decode()


def sign_t_v1(secret: str, timestamp: int, body: bytes) -> str:
    """The `t=<unix>,v1=<hex>` value for `body` (what the simulator sends; for tests)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"
