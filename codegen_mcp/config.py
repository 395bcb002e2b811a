"""Runtime configuration in Redis: `config set` reaches every worker on every machine.

Environment variables are the defaults; a value set at runtime wins from the next API
call on. Tokens are only ever shown masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codegen_mcp.api.client import Credentials
from codegen_mcp.errors import InvalidRequest, NotConfigured
from codegen_mcp.redis_conn import RedisClient
from codegen_mcp.settings import DEFAULT_API_BASE_URL, Settings

KEYS = ("api_token", "org_id")
ALIASES = {
    "api-token": "api_token",
    "apitoken": "api_token",
    "token": "api_token",
    "org-id": "org_id",
    "orgid": "org_id",
    "organization_id": "org_id",
}
MAX_TOKEN_LENGTH = 512
# The API base URL a runtime token was set for: it is sent there and nowhere else (a token
# stored before this field existed was set for the default API).
TOKEN_BASE_URL = "api_token_base_url"


def canonical_key(key: str) -> str:
    name = key.strip().lower()
    name = ALIASES.get(name, name)
    if name not in KEYS:
        raise InvalidRequest(
            f"unknown config key {key!r}; known keys: {', '.join(KEYS)} "
            "(api-token is accepted too)",
            details={"field": "key"},
        )
    return name


def mask(token: str) -> str:
    """All but the last 4 characters hidden (and all of a token too short to show any)."""
    if len(token) <= 8:
        return "*" * len(token)
    return "*" * (len(token) - 4) + token[-4:]


@dataclass(frozen=True)
class ConfigValue:
    key: str
    value: str | int | None
    source: str  # "runtime", "environment" or "unset"

    def to_dict(self) -> dict[str, Any]:
        shown = mask(str(self.value)) if self.key == "api_token" and self.value else self.value
        return {"key": self.key, "value": shown, "source": self.source}


class RuntimeConfig:
    def __init__(self, client: RedisClient, settings: Settings) -> None:
        self.redis = client
        self.settings = settings
        self.hash_key = f"{settings.key_prefix}:config"

    def set(self, key: str, value: object) -> ConfigValue:
        name = canonical_key(key)
        text = _validate(name, value)
        fields = {name: text}
        if name == "api_token":
            fields[TOKEN_BASE_URL] = self.settings.api_base_url
        self.redis.hset(self.hash_key, mapping=fields)
        return self.get(name)

    def get(self, key: str) -> ConfigValue:
        name = canonical_key(key)
        stored = self.redis.hget(self.hash_key, name)
        if stored is not None:
            return ConfigValue(name, int(stored) if name == "org_id" else stored, "runtime")
        default = getattr(self.settings, name)
        return ConfigValue(name, default, "environment" if default is not None else "unset")

    def all(self) -> list[ConfigValue]:
        return [self.get(name) for name in KEYS]

    def credentials(self) -> Credentials:
        stored_token, stored_org, token_base = self.redis.hmget(
            self.hash_key, [*KEYS, TOKEN_BASE_URL]
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
        return Credentials(token=str(token), org_id=int(org))  # type: ignore[arg-type]


def _validate(name: str, value: object) -> str:
    if name == "org_id":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise InvalidRequest("org_id must be a positive integer", details={"field": "value"})
        text = str(value).strip()
        if not text.isdigit() or int(text) < 1:
            raise InvalidRequest(
                f"org_id must be a positive integer, got {value!r}", details={"field": "value"}
            )
        return str(int(text))
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("api_token must be a non-empty string", details={"field": "value"})
    token = value.strip()
    if len(token) > MAX_TOKEN_LENGTH or any(c.isspace() for c in token):
        raise InvalidRequest(
            f"api_token must be one word of at most {MAX_TOKEN_LENGTH} characters",
            details={"field": "value"},
        )
    return token
