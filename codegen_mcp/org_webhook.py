"""The organization's run webhook, shown and set through `config` (key `org_webhook`).

Codegen keeps one webhook per organization (GET/POST/DELETE /webhooks/agent-run); runs we
start carry their own (webhooks_in.py), which override it. `config get org_webhook` reads it
from Codegen (its secret is never shown: Codegen answers only whether there is one);
`config set org_webhook <value>` sets it, the value being a URL, an object
`{"url", "enabled"?, "secret"?}`, or `off` to delete it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from codegen_mcp.answers import ConfigAnswer

if TYPE_CHECKING:  # services -> runtime_config -> here
    from codegen_mcp.services import Services

KEY = "org_webhook"
OFF = ("off", "none", "delete")
MAX_URL = 2083  # the spec's limit (pydantic's HttpUrl)
MAX_SECRET = 512
RULE = (
    "org_webhook must be an http(s) URL of at most 2083 characters, an object "
    '{"url", "enabled"?, "secret"?}, or off'
)


def check(value: object) -> dict[str, Any]:
    """The request `value` stands for: {"delete": True} or {"url", "enabled", "secret"?};
    ValueError saying the rule otherwise (never quoting a secret)."""
    if isinstance(value, str) and value.strip().lower() in OFF:
        return {"delete": True}
    if isinstance(value, str):
        value = {"url": value.strip()}
    if not isinstance(value, dict):
        raise ValueError(RULE)
    unknown = sorted(set(value) - {"url", "enabled", "secret"})
    if unknown:
        raise ValueError(f"{RULE}; unknown field(s) {unknown}")
    url = value.get("url")
    if not isinstance(url, str) or not _http_url(url):
        raise ValueError(RULE)
    enabled = value.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValueError("org_webhook.enabled must be true or false")
    checked: dict[str, Any] = {"url": url, "enabled": enabled}
    secret = value.get("secret")
    if secret is not None:
        if not isinstance(secret, str) or not 1 <= len(secret) <= MAX_SECRET:
            raise ValueError(f"org_webhook.secret must be a string of 1 to {MAX_SECRET} characters")
        checked["secret"] = secret
    return checked


def _http_url(url: str) -> bool:
    if len(url) > MAX_URL or any(c.isspace() for c in url):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def show(services: Services) -> ConfigAnswer:
    """The organization's webhook as Codegen shows it: url, enabled, whether it has a secret."""
    return _answer(services.client(max_wait=10.0).org_webhook(), "")


def apply(services: Services, value: dict[str, Any]) -> ConfigAnswer:
    """Set or delete the organization's webhook (`value` as `check` returned it)."""
    client = services.client(max_wait=10.0)
    if value.get("delete"):
        client.delete_org_webhook()
        return _answer({"url": None, "enabled": False, "has_secret": False}, "deleted")
    view = client.set_org_webhook(value["url"], value["enabled"], value.get("secret"))
    if not view.get("enabled"):  # kept, but Codegen sends nothing to it
        return _answer(view, "set, disabled; Codegen reports no run there until it is enabled")
    return _answer(view, "set; Codegen reports every run of the organization there")


def _answer(view: dict[str, Any], done: str) -> ConfigAnswer:
    enabled, has_secret = bool(view.get("enabled")), bool(view.get("has_secret"))
    state = "enabled" if enabled else "disabled"
    secret = "with a secret (never shown)" if has_secret else "without a secret"
    url = view.get("url") if isinstance(view.get("url"), str) else None
    what = f"the organization's run webhook: {state}, {secret}" if url else "none is set"
    message = f"org_webhook {done}: {what}" if done else what
    answer = {"key": KEY, "value": url, "source": "codegen", "message": message}
    answer.update(enabled=enabled, has_secret=has_secret)
    return answer  # type: ignore[return-value]
