"""A notify_url webhooks may not go to is refused on every front (HTTP, MCP, the command line),
in the same words, naming the field and, for a private address, the setting that allows it.
Nothing here needs a worker: the arguments are refused before anything is recorded."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client
from mcp.types import TextContent

from codegen_mcp.mcp_server import create_server
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import Simulator
from tests.support import ROOT, Front, fast_settings

ALLOW = "CODEGEN_MCP_NOTIFY_ALLOW_PRIVATE"
REFUSED = [
    ("ftp://hooks.example.com/x", "Must be an http:// or https:// URL."),
    ("https://me:pw@hooks.example.com/x", "Must not carry a user name or password"),
    ("http://10.1.2.3/hook", "10.1.2.3, a private address"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254, a link-local address"),
    ("http://[::1]:9/hook", "::1, a loopback address"),
    ("http://localhost:9/hook", "localhost resolves to "),  # a name: its addresses count
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def settings(redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # No CODEGEN_MCP_NOTIFY_ALLOW_PRIVATE, and no webhook secret.
    return fast_settings(redis_url, sim.url, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def strict(settings: Settings) -> Iterator[Front]:
    web = Front(settings)
    yield web
    web.stop()


def new_args(url: str) -> dict[str, Any]:
    return {"repo": "acme/demo", "query": "Add a README", "notify_url": url}


def over_http(front: Front, url: str) -> str:
    answer = front.call("new", new_args(url))
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == "invalid_request" and "notify_url" in body["fields"], body
    return str(body["message"])


async def over_mcp(front: Front, url: str) -> str:
    async with Client(create_server(lambda: front.services)) as client:
        result = await client.call_tool("new", new_args(url))
    assert result.is_error
    return "".join(b.text for b in result.content if isinstance(b, TextContent))


def over_cli(front: Front, url: str) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "codegen_mcp.cli",
            "new",
            "acme/demo",
            "Add a README",
            "--notify-url",
            url,
            "--url",
            front.url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2, done
    return done.stderr


@pytest.mark.anyio
@pytest.mark.parametrize(("url", "words"), REFUSED)
async def test_a_url_webhooks_may_not_go_to_is_refused_on_every_front(
    strict: Front, url: str, words: str
) -> None:
    said = {
        "http": over_http(strict, url),
        "mcp": await over_mcp(strict, url),
        "cli": over_cli(strict, url),
    }
    for front, text in said.items():
        assert "notify_url: " in text and words in text, (front, text)
        if "address" in words or "resolves" in words:
            assert ALLOW in text, (front, text)  # says what would allow it
    assert strict.services.store.counts()["queued"] == 0  # nothing was recorded


def test_a_private_address_is_refused_in_the_operators_words(strict: Front) -> None:
    message = over_http(strict, "http://localhost:9/hook")
    assert (
        "a loopback address: webhooks go only to public addresses unless the operator "
        f"allows private ones ({ALLOW}=1, or a list of host names and networks" in message
    )
    assert "127.0.0.1" in message or "::1" in message


def test_notify_events_are_checked(strict: Front) -> None:
    args = {**new_args("http://93.184.216.34/hook"), "notify_events": ["done"]}
    answer = strict.call("new", args).json()
    assert answer["fields"] == {
        "notify_events": [
            "Unknown state 'done'; use running, paused, completed, failed, cancelled or all."
        ]
    }
    alone = {"repo": "acme/demo", "query": "q", "notify_events": ["completed"]}
    assert strict.call("new", alone).json()["fields"] == {
        "notify_events": ["Only with notify_url."]
    }
    assert strict.call("new", {**args, "notify_events": "all"}).status_code == 400  # a list
    none = strict.call("new", {**args, "notify_events": []}).json()
    assert none["fields"] == {"notify_events": ["Give 1 to 5 states, or all."]}
    mixed = strict.call("new", {**args, "notify_events": ["completed", 5]}).json()
    assert mixed["fields"] == {"notify_events": ["5: Not a valid string."]}  # one shape


def test_a_public_url_without_a_webhook_secret_is_refused_naming_it(strict: Front) -> None:
    answer = strict.call("new", new_args("http://93.184.216.34/hook"))
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "not_configured" and body["missing"] == ["webhook_secret"], body
    assert "config command (key webhook_secret) or CODEGEN_MCP_WEBHOOK_SECRET" in body["message"]


def test_an_allowed_network_lets_private_addresses_through(settings: Settings) -> None:
    from codegen_mcp import notify_target

    allowed = Settings.from_env({ALLOW: "10.0.0.0/8,hooks.internal"}).notify_allow_private
    assert notify_target.check("http://10.1.2.3:8000/x?y=1", allowed).path == "/x?y=1"
    with pytest.raises(notify_target.Refused, match=r"192\.168\.1\.1, a private address"):
        notify_target.check("http://192.168.1.1/", allowed)
    assert Settings.from_env({ALLOW: "1"}).notify_allow_private == ("*",)
