"""One webhook request: its body, its signature, and the one place it is sent.

The body is the event (id, type, time, the state it left) with the task as `task_status`
shows it at that change. The signature is Stripe's scheme: a header
`Codegen-MCP-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`,
so a receiver checks both who sent it and that it is fresh (docs/webhooks.md).

The request goes to the address notify_target checked (the Host header and TLS name are the
URL's host), follows no redirect, and has a timeout on every step; at most `MAX_REPLY` bytes
of the answer are read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import urllib3
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.exceptions import ConnectTimeoutError, HTTPError

from codegen_mcp import answers
from codegen_mcp.notify_target import Target
from codegen_mcp.store_codec import decode

SIGNATURE_HEADER = "Codegen-MCP-Signature"
EVENT_HEADER = "Codegen-MCP-Event-Id"
USER_AGENT = "codegen-mcp-webhooks/1"
MAX_BODY = 256 * 1024  # a body over this has its task's longest texts cut
MAX_TEXT = 32 * 1024
MAX_REPLY = 4096
# Addresses of one host tried per attempt, sharing one connect timeout between them: an
# attempt stays within two timeouts (connect, then read), as the delivery's lock allows.
MAX_ADDRESSES = 3
MIN_CONNECT = 1.0
CUT_FIELDS = ("result", "query", "error", "last_message")


@dataclass(frozen=True)
class Reply:
    """What the receiver answered: its status (0: no answer at all) and the reason."""

    status: int
    detail: str
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        """A 2xx: the receiver took the event."""
        return 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """No answer, a 5xx, 408 or 429 may go better later; any other answer will not."""
        return self.status == 0 or self.status >= 500 or self.status in (408, 429)


def body(event: dict[str, Any]) -> bytes:
    """The JSON body of a queued event (as the transition script wrote it), the same bytes
    on every attempt."""
    task: dict[str, Any] = dict(answers.task_status(decode(event["task"])))
    document = {
        "id": event["id"],
        "type": event["type"],
        "created_at": _iso(float(event["at"])),
        "previous_state": event.get("previous") or None,
        "task": task,
    }
    raw = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    if len(raw) <= MAX_BODY:
        return raw
    for name in CUT_FIELDS:
        value = task.get(name)
        if isinstance(value, str) and len(value) > MAX_TEXT:
            task[name] = value[:MAX_TEXT] + "…"
    document["truncated"] = True
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, raw: bytes) -> str:
    """The signature header's value for `raw` sent at `timestamp` (unix seconds)."""
    signed = f"{timestamp}.".encode() + raw
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def post(target: Target, raw: bytes, secret: str, event_id: str, timeout: float) -> Reply:
    """POST one signed event to `target`; every outcome comes back as a Reply, never raised.
    An address that takes no connection gives way to the host's next one (as any HTTP client
    does: a name with an IPv6 address the receiver does not listen on, a dead replica)."""
    headers = {
        "Host": target.netloc,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event_id,
        SIGNATURE_HEADER: signature(secret, int(time.time()), raw),
    }
    reply = Reply(0, "no answer (no address)")
    tried = target.addresses[:MAX_ADDRESSES]
    limits = urllib3.Timeout(connect=max(timeout / max(len(tried), 1), MIN_CONNECT), read=timeout)
    for address in tried:
        try:
            return _post_to(address, target, raw, headers, limits)
        except ConnectTimeoutError as exc:  # refused or timed out: nothing was sent
            reply = Reply(0, f"no answer ({type(exc).__name__})")
        except (HTTPError, OSError) as exc:  # sent, perhaps received: not sent again here
            return Reply(0, f"no answer ({type(exc).__name__})")
    return reply


def _post_to(
    address: str, target: Target, raw: bytes, headers: dict[str, str], limits: urllib3.Timeout
) -> Reply:
    pool = _pool(address, target, limits)
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=raw,
            headers=headers,
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            text = response.read(MAX_REPLY, decode_content=False)
        except (HTTPError, OSError):
            text = b""  # the status says enough
        response.close()
        return Reply(response.status, _detail(response.status, text), _retry_after(response))
    finally:
        pool.close()


def _pool(address: str, target: Target, limits: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address,
            target.port,
            timeout=limits,
            maxsize=1,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=DEFAULT_CA_BUNDLE_PATH,  # the bundle requests trusts
        )
    return urllib3.HTTPConnectionPool(address, target.port, timeout=limits, maxsize=1)


def _detail(status: int, text: bytes) -> str:
    excerpt = text[:200].decode("utf-8", "replace").strip()
    return f"HTTP {status}" + (f": {excerpt}" if excerpt else "")


def _retry_after(response: Any) -> float | None:
    try:
        return max(float(response.headers.get("Retry-After", "")), 0.0)
    except ValueError:
        return None


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
