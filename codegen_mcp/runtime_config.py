"""Runtime configuration in Redis: `config set` reaches every worker on every machine.

Environment variables are the defaults; a value set at runtime wins from the next API
call on. Tokens are only ever shown masked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from codegen_mcp import org_webhook, secret
from codegen_mcp.api.client import Credentials
from codegen_mcp.errors import InvalidRequest, NotConfigured
from codegen_mcp.fields import MAX_ID
from codegen_mcp.redis_conn import RedisClient
from codegen_mcp.settings import DEFAULT_API_BASE_URL, Settings
from codegen_mcp.store_keys import Keys

KEYS = ("api_token", "org_id", "webhook_secret")
SECRET_KEYS = ("api_token", "webhook_secret")  # only ever shown masked
# Kept by Codegen, not by us: shown and set upstream by `config` (org_webhook.py).
UPSTREAM_KEYS = (org_webhook.KEY,)
ALIASES = {
    "webhook-secret": "webhook_secret",
    "webhooksecret": "webhook_secret",
    "org-webhook": org_webhook.KEY,
    "api-token": "api_token",
    "apitoken": "api_token",
    "token": "api_token",
    "org-id": "org_id",
    "orgid": "org_id",
    "organization_id": "org_id",
}
MAX_TOKEN_LENGTH = 512
# What an HTTP header can carry: printable ASCII without spaces. A pasted "…" or curly quote
# would make every request fail (UnicodeEncodeError) with the whole token in the exception.
TOKEN = re.compile(rf"[!-~]{{1,{MAX_TOKEN_LENGTH}}}")
TOKEN_RULE = f"printable ASCII without spaces, 1 to {MAX_TOKEN_LENGTH} characters"
MIN_SECRET = 16  # a webhook secret shorter than this is guessable
ORG_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII digits only: "²" and "٣" are digits to isdigit()
# The API base URL a runtime token was set for: it is sent there and nowhere else (a token
# stored before this field existed was set for the default API).
TOKEN_BASE_URL = "api_token_base_url"


def canonical_key(key: str) -> str:
    """The config key `key` names (aliases and case allowed); ValueError for an unknown one."""
    name = key.strip().lower()
    name = ALIASES.get(name, name)
    if name not in (*KEYS, *UPSTREAM_KEYS):
        raise ValueError(
            f"unknown config key {_shown(key)}; known keys: {', '.join((*KEYS, *UPSTREAM_KEYS))} "
            "(api-token, webhook-secret and org-webhook are accepted too)"
        )
    return name


def check_value(name: str, value: object) -> Any:
    """The value to store for config key `name` (for org_webhook, the request to send);
    ValueError saying the rule if it breaks one. The message never quotes a token."""
    if name == org_webhook.KEY:
        return org_webhook.check(value)
    if name == "webhook_secret":
        return _webhook_secret(value)
    return _org_id(value) if name == "org_id" else _token(value)


def _webhook_secret(value: object) -> str:
    rule = (
        f"webhook_secret must be {MIN_SECRET} to {MAX_TOKEN_LENGTH} printable ASCII "
        "characters without spaces"
    )
    if not isinstance(value, str) or len(value) < MIN_SECRET or not TOKEN.fullmatch(value):
        raise ValueError(rule)
    return value


def token_problem(token: str) -> str | None:
    """Why `token` cannot be sent as a bearer token, or None."""
    if TOKEN.fullmatch(token):
        return None
    return (
        f"api_token must be {TOKEN_RULE} (a pasted '…' or curly quote cannot go in an HTTP header)"
    )


def _token(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"api_token must be a string ({TOKEN_RULE})")
    problem = token_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _org_id(value: object) -> str:
    rule = f"org_id must be a positive integer of at most {MAX_ID}"
    if isinstance(value, str) and ORG_DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{rule}, as a number or ASCII digits; got {_shown(value)}")
    if not 1 <= value <= MAX_ID:
        raise ValueError(f"{rule}; got {_shown(value)}")
    return str(value)


def _shown(value: object, limit: int = 40) -> str:
    """A value quoted in a message: ASCII (no lone surrogate can break the answer), short."""
    text = ascii(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class ConfigValue:
    """One config key's value in force and where it comes from."""

    key: str
    value: str | int | None
    source: str  # "runtime", "environment" or "unset"

    def to_dict(self) -> dict[str, Any]:
        """The value as answers show it: a token only ever masked."""
        shown = self.value
        if self.key in SECRET_KEYS and self.value:
            shown = secret.mask(str(self.value))
        return {"key": self.key, "value": shown, "source": self.source}


class RuntimeConfig:
    """The token and org id set at runtime, shared by every process through Redis."""

    def __init__(self, client: RedisClient, settings: Settings) -> None:
        self.redis = client
        self.settings = settings
        self.hash_key = Keys(settings.key_prefix).config()

    def set(self, key: str, value: object) -> ConfigValue:
        """Store a checked value for every process; InvalidRequest naming the rule if not.
        A token is stored with the API base URL it was set for."""
        name = _known(key)
        try:
            text = check_value(name, value)
        except ValueError as exc:
            raise InvalidRequest(str(exc), details={"fields": {"value": [str(exc)]}}) from None
        fields = {name: text}
        if name in SECRET_KEYS:
            secret.remember(text)
        if name == "api_token":
            fields[TOKEN_BASE_URL] = self.settings.api_base_url
        self.redis.hset(self.hash_key, mapping=fields)
        return self.get(name)

    def get(self, key: str) -> ConfigValue:
        """The value in force for `key`: set at runtime, else from the environment."""
        name = _known(key)
        stored = self.redis.hget(self.hash_key, name)
        if stored is not None:
            return ConfigValue(name, int(stored) if name == "org_id" else stored, "runtime")
        default = getattr(self.settings, name)
        return ConfigValue(name, default, "environment" if default is not None else "unset")

    def all(self) -> list[ConfigValue]:
        """Every config key's value in force."""
        return [self.get(name) for name in KEYS]

    def webhook_secret(self) -> str | None:
        """The secret that signs webhooks (set at runtime, else CODEGEN_MCP_WEBHOOK_SECRET),
        remembered so no log line shows it; None when neither is set."""
        value = self.get("webhook_secret").value
        secret.remember(str(value) if value else None)
        return str(value) if value else None

    def credentials(self) -> Credentials:
        """The token and org id in force; NotConfigured if one is missing or unusable.

        A token set at runtime is used only against the API base URL it was set for."""
        stored_token, stored_org, token_base = self.redis.hmget(
            self.hash_key, ["api_token", "org_id", TOKEN_BASE_URL]
        )
        base = self.settings.api_base_url
        foreign = bool(stored_token) and (token_base or DEFAULT_API_BASE_URL) != base
        token = (None if foreign else stored_token) or self.settings.api_token
        org = stored_org or self.settings.org_id
        missing = [name for name, v in (("api_token", token), ("org_id", org)) if not v]
        if missing:
            elsewhere = (
                f" (the api_token set at runtime is for {token_base or DEFAULT_API_BASE_URL}, "
                f"and is never sent to {base}, the API this process uses)"
                if foreign
                else ""
            )
            raise NotConfigured(
                f"Codegen {' and '.join(missing)} not configured{elsewhere}: set "
                "CODEGEN_API_TOKEN and CODEGEN_ORG_ID, or send the config command with action "
                "'set'",
                details={"missing": missing},
            )
        token = str(token)
        secret.remember(token)  # whatever happens next, no log line shows it
        problem = token_problem(token)
        if problem:
            # A token stored by an older version, or set in the environment: refuse it here,
            # with a message people see, rather than fail on every try inside `requests`.
            source = "set at runtime" if stored_token and not foreign else "in CODEGEN_API_TOKEN"
            raise NotConfigured(
                f"the Codegen api_token {source} is unusable: {problem}; set it again "
                "with the config command",
                details={"missing": ["api_token"]},
            )
        return Credentials(token=token, org_id=int(org))  # type: ignore[arg-type]


def _known(key: str) -> str:
    try:
        return canonical_key(key)
    except ValueError as exc:
        raise InvalidRequest(str(exc), details={"fields": {"key": [str(exc)]}}) from None
