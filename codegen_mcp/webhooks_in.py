"""Run webhooks from Codegen: the per-task address we ask for, and the route that hears them.

With CODEGEN_MCP_PUBLIC_URL set, every create and resume asks Codegen to POST to
`<PUBLIC_URL>/hooks/codegen/<token>` when the run settles: the token (192 random bits) is
unique to the task and is the route's only credential (Codegen cannot send our bearer
token); a secret unique to the task signs the body when Codegen signs at all.

A webhook is a hint, never the truth: the route checks token, size and signature, drops a
delivery it saw lately, and hands the rest to a worker (queue.WEBHOOK), which confirms with
one GET of the run (workers/confirm.py). See docs/webhooks-in.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from codegen_mcp import hook_signature, queue
from codegen_mcp.errors import StoreUnavailable
from codegen_mcp.services import Services

log = logging.getLogger(__name__)

PATH = "/hooks/codegen/"
MAX_BODY = 64 * 1024
SEEN_TTL = 24 * 3600  # a delivery id received is dropped if it comes again within this
WORKING_TTL = 3600  # webhooks count as arriving for this long after the latest
TOKEN_BYTES = 24
DELIVERY_HEADERS = ("X-Codegen-Delivery", "Webhook-Id", "X-Webhook-Id", "X-Request-Id")


def token_digest(token: str) -> str:
    """What the token index stores: the SHA-256 of the path token, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def webhooks_for(services: Services, task: dict[str, Any]) -> list[dict[str, str]] | None:
    """The `webhooks` a create or resume of `task` carries, or None without PUBLIC_URL.

    The token and secret are made once per task and kept on it, so a retried launch asks
    for the same address. Neither is ever logged: the client logs no request body, and the
    access log shows the route without its token (serving.access_logged)."""
    base = services.settings.public_url
    if not base:
        return None
    store = services.store
    store.mark_once(task["task_id"], "hook_token", secrets.token_urlsafe(TOKEN_BYTES))
    store.mark_once(task["task_id"], "hook_secret", secrets.token_urlsafe(32))
    row = store.fields([task["task_id"]], "hook_token", "hook_secret")[0]
    token, key = str(row["hook_token"]), str(row["hook_secret"])
    services.redis.hset(store.keys.hook_tokens(), token_digest(token), task["task_id"])
    return [{"url": f"{base}{PATH}{token}", "secret": key}]


def blueprint(services: Services) -> Blueprint:
    """POST /hooks/codegen/<token>: outside the bearer auth and the Host guard (web_edge)."""
    hooks = Blueprint("hooks_in", __name__)

    @hooks.post(f"{PATH}<token>", strict_slashes=False)
    def receive(token: str) -> tuple[Response, int]:
        """202 for a webhook taken (or dropped as a repeat); 4xx naming why it was refused."""
        return _receive(services, token)

    return hooks


def _receive(services: Services, token: str) -> tuple[Response, int]:
    recorder = services.recorder
    task_id = _task_of(services, token)
    if task_id is None:
        return _refused(services, 404, "unknown_token", "no such webhook address")
    if (request.content_length or 0) > MAX_BODY:
        return _refused(services, 413, "too_large", f"the body is larger than {MAX_BODY} bytes")
    body = request.stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return _refused(services, 413, "too_large", f"the body is larger than {MAX_BODY} bytes")
    key = services.store.fields([task_id], "hook_secret")[0]["hook_secret"]
    verdict = hook_signature.verify(dict(request.headers.items()), body, key)
    if verdict.state == "bad":
        return _refused(services, 401, "bad_signature", "the signature does not match")
    hint = parse_hint(body)
    if hint is None:
        return _refused(services, 400, "bad_body", "the body is not a JSON object")
    recorder.count("hooks", f"signature|{verdict.form or 'none'}")
    seen_key = _delivery_key(task_id, body, hint)
    if not _first_time(services, seen_key):
        recorder.count("hooks", "duplicate")
        return _accepted({"duplicate": True})
    services.redis.set(services.store.keys.hooks("working"), repr(time.time()), ex=WORKING_TTL)
    services.store.update(task_id, hook_seen_at=repr(time.time()))
    try:
        services.queue.send(queue.WEBHOOK, task_id, hint)
    except StoreUnavailable:
        services.redis.delete(services.store.keys.hook_seen(seen_key))
        raise
    recorder.count("hooks", "accepted")
    return _accepted({})


def _task_of(services: Services, token: str) -> str | None:
    """The task whose token this is (compared in constant time), or None."""
    if not 16 <= len(token) <= 128:
        return None
    task_id = services.redis.hget(services.store.keys.hook_tokens(), token_digest(token))
    if task_id is None:
        return None
    stored = services.store.fields([task_id], "hook_token")[0]["hook_token"] or ""
    return task_id if hmac.compare_digest(stored.encode(), token.encode()) else None


def parse_hint(body: bytes) -> dict[str, Any] | None:
    """What a webhook says, read tolerantly (the payload's shape is not documented): the
    run's id, status and a digest of its result, the delivery id; None for a non-object.
    The run object may be the body itself or sit under `data`, `agent_run` or `run`."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    run = next(
        (data[k] for k in ("agent_run", "run", "data") if isinstance(data.get(k), dict)), data
    )
    run_id = run.get("id", run.get("agent_run_id", data.get("agent_run_id")))
    hint: dict[str, Any] = {
        "run_id": run_id if isinstance(run_id, int) and not isinstance(run_id, bool) else None,
        "status": run.get("status") if isinstance(run.get("status"), str) else None,
        "event": data.get("event_type") if isinstance(data.get("event_type"), str) else None,
        "delivery": data.get("delivery_id") if isinstance(data.get("delivery_id"), str) else None,
    }
    if "result" in run:
        hint["result"] = hashlib.sha1(str(run["result"] or "").encode()).hexdigest()[:12]
    return hint


def _delivery_key(task_id: str, body: bytes, hint: dict[str, Any]) -> str:
    """The delivery's id (else its body's digest), per task: a delivery id sent to one task's
    address cannot silence another's."""
    given = hint.get("delivery") or next(
        (request.headers[h] for h in DELIVERY_HEADERS if request.headers.get(h)), None
    )
    text = f"id:{given}" if given else "body:" + hashlib.sha256(body).hexdigest()
    return hashlib.sha256(f"{task_id}|{text}".encode()).hexdigest()[:32]


def _first_time(services: Services, digest: str) -> bool:
    key = services.store.keys.hook_seen(digest)
    return bool(services.redis.set(key, "1", nx=True, ex=SEEN_TTL))


def _accepted(extra: dict[str, Any]) -> tuple[Response, int]:
    return jsonify({"status": "success", "accepted": True, **extra}), 202


def _refused(services: Services, status: int, reason: str, message: str) -> tuple[Response, int]:
    services.recorder.count("hooks", f"rejected|{reason}")
    log.info("webhook refused (%s) from %s", reason, request.remote_addr)
    body = {"status": "error", "error": f"webhook_{reason}", "message": message}
    return jsonify(body), status
