"""`config` shows and sets the organization's run webhook at Codegen, with the same words on
HTTP, MCP and the CLI; its secret is never shown."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from mcp import Client

from codegen_mcp.mcp_server import create_server
from codegen_mcp.simulator import Simulator
from tests.support import ROOT, Front

SECRET = "org-webhook-secret-never-shown"
RULE = "org_webhook must be an http(s) URL"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def cli(front: Front, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "codegen_mcp.cli", *args, "--url", front.url]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_over_http_config_sets_shows_and_deletes_the_org_webhook(
    front: Front, sim: Simulator
) -> None:
    url = "https://hooks.example.com/codegen"
    value = {"url": url, "secret": SECRET}
    done = front.ok("config", {"action": "set", "key": "org_webhook", "value": value})
    assert done["value"] == url and done["enabled"] is True and done["has_secret"] is True
    assert SECRET not in json.dumps(done)
    assert sim.org_webhook() == {"url": url, "enabled": True, "has_secret": True}
    shown = front.ok("config", {"action": "get", "key": "org-webhook"})
    assert (shown["key"], shown["value"], shown["source"]) == ("org_webhook", url, "codegen")
    assert "with a secret (never shown)" in shown["message"]
    kept = front.ok(
        "config", {"action": "set", "key": "org_webhook", "value": {**value, "enabled": False}}
    )
    assert kept["enabled"] is False and "reports every run" not in kept["message"]
    assert kept["message"].startswith(
        "org_webhook set, disabled; Codegen reports no run there until it is enabled"
    )
    gone = front.ok("config", {"action": "set", "key": "org_webhook", "value": "off"})
    assert gone["value"] is None and sim.org_webhook()["url"] is None
    bad = front.call("config", {"action": "set", "key": "org_webhook", "value": "ftp://x"})
    assert bad.status_code == 400 and RULE in bad.json()["message"]
    assert "value" in bad.json()["message"]


@pytest.mark.anyio
async def test_over_mcp_config_sets_and_shows_the_org_webhook(front: Front, sim: Simulator) -> None:
    url = "https://mcp.example.com/hook"
    async with Client(create_server(lambda: front.services)) as client:
        args = {"action": "set", "key": "org_webhook", "value": {"url": url, "enabled": False}}
        done = await client.call_tool("config", args)
        assert not done.is_error and isinstance(done.structured_content, dict)
        assert done.structured_content["value"] == url
        assert done.structured_content["enabled"] is False
        bad = await client.call_tool("config", {**args, "value": {"url": url, "colour": 1}})
        assert bad.is_error and RULE in bad.content[0].text  # type: ignore[union-attr]
    assert sim.org_webhook() == {"url": url, "enabled": False, "has_secret": False}


def test_on_the_cli_config_sets_and_shows_the_org_webhook(front: Front, sim: Simulator) -> None:
    url = "https://cli.example.com/hook"
    done = cli(front, "config", "set", "org_webhook", url)
    assert done.returncode == 0, done.stderr
    assert f"org_webhook: {url} (codegen)" in done.stdout
    shown = cli(front, "config", "get", "org_webhook")
    assert "enabled, without a secret" in shown.stdout
    bad = cli(front, "config", "set", "org_webhook", "not a url")
    assert bad.returncode == 2 and RULE in bad.stderr + bad.stdout
