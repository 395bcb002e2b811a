"""Settings come from the environment in one place, and every bad value names its variable."""

from __future__ import annotations

import pytest

from codegen_mcp.errors import ConfigurationError
from codegen_mcp.settings import RateLimit, Settings


def test_settings_survive_a_trip_through_the_environment() -> None:
    settings = Settings.from_env(
        {
            "CODEGEN_API_TOKEN": "tok",
            "CODEGEN_ORG_ID": "3",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "CODEGEN_MCP_READ_LIMIT": "50/30",
            "CODEGEN_MCP_DELIVERY_POLICY": "try",
            "CODEGEN_MCP_RETENTION_DAYS": "0.5",
            "CODEGEN_MCP_MEMORY_GUARD": "0.8",
        }
    )
    assert settings.read_limit == RateLimit(50, 30.0) and settings.delivery_policy == "try"
    assert (settings.retention_days, settings.memory_guard) == (0.5, 0.8)
    assert Settings.from_env(settings.to_env()) == settings


def test_tokens_never_show_in_the_settings_repr() -> None:
    text = repr(Settings(api_token="cg_secret_value", auth_token="bearer_secret"))
    assert "cg_secret_value" not in text and "bearer_secret" not in text


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CODEGEN_ORG_ID", "acme"),
        ("CODEGEN_MCP_POLL_INTERVAL", "soon"),
        ("CODEGEN_MCP_POLL_INTERVAL", "0"),
        ("CODEGEN_MCP_READ_LIMIT", "lots"),
        ("CODEGEN_MCP_READ_LIMIT", "0/30"),
        ("CODEGEN_MCP_DELIVERY_POLICY", "sometimes"),
        ("PORT", "http"),
        ("CODEGEN_MCP_RETENTION_DAYS", "-1"),
        ("CODEGEN_MCP_RETENTION_DAYS", "a month"),
        ("CODEGEN_MCP_MEMORY_GUARD", "1.5"),
        ("CODEGEN_MCP_MEMORY_GUARD", "most"),
        ("CODEGEN_MCP_WEBHOOK_SECRET", "short"),  # guessable: config set refuses it too
        ("CODEGEN_MCP_WEBHOOK_SECRET", "sixteen chars or more, with spaces"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name) as refused:
        Settings.from_env({name: value})
    if "SECRET" in name:
        assert value not in str(refused.value)  # a secret is never shown
