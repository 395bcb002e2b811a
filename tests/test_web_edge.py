"""The web front's edge, attacked as a hostile web page or client would: Host and Origin,
bodies that crash parsers, weak tokens and guessing (issue #10: 2, 7, 10, 14; #11: 12)."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from codegen_mcp import cli
from codegen_mcp.errors import ConfigurationError
from codegen_mcp.local.processes import settings_env
from codegen_mcp.local.redis import free_port
from codegen_mcp.serving import check_bind
from codegen_mcp.settings import RateLimit, Settings
from tests.support import ROOT, START_DEADLINE, Front, wait_for

STRONG = "a-strong-token-of-forty-characters-000000"
LIST = {"command": "list", "args": {}}
MCP_HTTP = [sys.executable, "-m", "codegen_mcp.cli", "mcp", "--transport", "http"]


def _port(front: Front) -> int:
    return int(urlsplit(front.url).port or 0)


def _raw_post(front: Front, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", _port(front), timeout=30)
    try:
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


# -- #10.2 DNS rebinding: Host allow-list, cross-origin refusals ------------------------------
@pytest.mark.parametrize("path", ["/", "/dashboard", "/dashboard/static/api.js"])
def test_a_rebound_host_name_is_refused_on_every_route(front: Front, path: str) -> None:
    headers = {"Host": f"attacker.example:{_port(front)}"}
    response = requests.get(front.url + path, headers=headers, timeout=10)
    assert response.status_code == 421
    body = response.json()
    assert body["status"] == "error" and "Host" in body["message"]
    assert "CODEGEN_MCP_ALLOWED_HOSTS" in body["message"]


def test_a_rebound_page_cannot_set_the_token(front: Front) -> None:
    before = front.ok("config", {"action": "get"})
    headers = {"Host": f"attacker.example:{_port(front)}", "Origin": "http://attacker.example"}
    attack = {"command": "config", "args": {"action": "set", "key": "org_id", "value": 666}}
    response = requests.post(front.url, json=attack, headers=headers, timeout=10)
    assert response.status_code == 421
    assert front.ok("config", {"action": "get"}) == before


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_loopback_names_are_answered(front: Front, name: str) -> None:
    headers = {"Host": f"{name}:{_port(front)}"}
    assert requests.post(front.url, json=LIST, headers=headers, timeout=10).status_code == 200


def test_a_configured_host_name_is_answered(settings: Settings) -> None:
    web = Front(settings.with_(allowed_hosts=("codegen.example.com",)))
    try:
        named = {"Host": "codegen.example.com", "Origin": "https://codegen.example.com"}
        assert requests.post(web.url, json=LIST, headers=named, timeout=10).status_code == 200
        other = {"Host": "other.example.com"}
        assert requests.post(web.url, json=LIST, headers=other, timeout=10).status_code == 421
    finally:
        web.stop()


@pytest.mark.parametrize(
    "origin", ["http://attacker.example", "null", "http://127.0.0.1.attacker.example"]
)
def test_a_cross_origin_post_is_refused_and_does_nothing(front: Front, origin: str) -> None:
    before = front.ok("config", {"action": "get"})
    attack = {"command": "config", "args": {"action": "set", "key": "org_id", "value": 666}}
    response = requests.post(front.url, json=attack, headers={"Origin": origin}, timeout=10)
    assert response.status_code == 403
    body = response.json()
    assert body["status"] == "error" and "Origin" in body["message"]
    assert front.ok("config", {"action": "get"}) == before


def test_a_same_origin_post_is_served(front: Front) -> None:
    headers = {"Origin": f"http://127.0.0.1:{_port(front)}"}
    assert requests.post(front.url, json=LIST, headers=headers, timeout=10).status_code == 200


# -- #10.7, #10.10, #11.12: bodies that crashed the parser or got the wrong message -----------
def test_json_nested_100000_deep_is_a_400_that_says_so(front: Front) -> None:
    body = b'{"command": "list", "args": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, answer = _raw_post(front, body, {"Content-Type": "application/json"})
    assert status == 400 and answer["error"] == "invalid_request"
    assert "nested" in answer["message"]


def test_a_5000_digit_number_is_a_400_that_says_so(front: Front) -> None:
    body = b'{"command": "list", "args": {"limit": ' + b"9" * 5000 + b"}}"
    status, answer = _raw_post(front, body, {"Content-Type": "application/json"})
    assert status == 400 and "digits" in answer["message"]
    assert "JSON object" not in answer["message"]


def test_a_chunked_body_over_the_limit_is_a_413(front: Front) -> None:
    chunks = (b"[" + b"1," * 1000 for _ in range(1000))  # about 2 MB, no Content-Length
    response = requests.post(
        front.url, data=chunks, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 413
    assert response.json()["status"] == "error"


def test_a_json_body_without_content_type_is_read(front: Front) -> None:
    status, answer = _raw_post(front, b'{"command": "list"}', {})
    assert status == 200 and answer["status"] == "success"


def test_a_body_of_another_content_type_is_refused_naming_the_header(front: Front) -> None:
    body = b'{"command": "list"}'
    status, answer = _raw_post(front, body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415 and "Content-Type" in answer["message"]


def test_a_body_that_is_not_json_says_so(front: Front) -> None:
    status, answer = _raw_post(front, b"{command: list}", {"Content-Type": "application/json"})
    assert status == 400 and "not valid JSON" in answer["message"]


def test_an_empty_body_says_what_a_body_must_be(front: Front) -> None:
    status, answer = _raw_post(front, b"", {"Content-Type": "application/json"})
    assert status == 400 and '{"command": "new"' in answer["message"]


# -- #10.14: strong tokens beyond loopback, slowed guessing ----------------------------------
def test_binding_beyond_loopback_needs_a_strong_token() -> None:
    for weak in ("x", "s3cret-token", "a" * 31):
        with pytest.raises(ConfigurationError, match="at least 32 characters"):
            check_bind(Settings(host="0.0.0.0", auth_token=weak))
    check_bind(Settings(host="0.0.0.0", auth_token="a" * 32))
    check_bind(Settings(host="127.0.0.1", auth_token="x"))  # loopback: any token


def test_the_mcp_http_front_beyond_loopback_needs_a_strong_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CODEGEN_MCP_AUTH_TOKEN", "x")
    assert cli.main(["mcp", "--transport", "http", "--host", "0.0.0.0"]) == 2
    assert "at least 32 characters" in capsys.readouterr().err


@pytest.fixture
def guarded(settings: Settings) -> Iterator[Front]:
    web = Front(settings.with_(auth_token=STRONG, auth_failure_limit=RateLimit(3, 60)))
    yield web
    web.stop()


def test_repeated_wrong_tokens_from_one_address_are_slowed(guarded: Front) -> None:
    wrong = {"Authorization": "Bearer guess"}
    for _ in range(3):
        assert guarded.call("list", headers=wrong).status_code == 401
    refused = guarded.call("list", headers=wrong)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["status"] == "error" and "Retry" in refused.json()["message"]
    # Even the right token waits: a guesser must not learn that a guess was right.
    right = guarded.call("list", headers={"Authorization": f"Bearer {STRONG}"})
    assert right.status_code == 429


def test_right_tokens_are_never_slowed(guarded: Front) -> None:
    right = {"Authorization": f"Bearer {STRONG}"}
    for _ in range(10):
        assert guarded.call("list", headers=right).status_code == 200


# -- #10.15: no versions in the Server header -------------------------------------------------
def test_the_server_header_names_no_version(front: Front) -> None:
    server = requests.get(front.url, timeout=10).headers.get("Server", "")
    assert not any(ch.isdigit() for ch in server), server


def test_the_mcp_http_front_slows_repeated_wrong_tokens(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **settings_env(settings),
        "CODEGEN_MCP_AUTH_TOKEN": STRONG,
        "CODEGEN_MCP_AUTH_FAILURE_LIMIT": "3/60",
    }
    with open(tmp_path / "mcp.log", "wb") as log:
        process = subprocess.Popen(
            # One process: each counts wrong tokens of its own (docs/mcp.md).
            [*MCP_HTTP, "--port", str(port), "--workers", "1"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/mcp"
    wrong = {"Accept": "application/json, text/event-stream", "Authorization": "Bearer guess"}
    try:
        wait_for(lambda: _answers(url, process), START_DEADLINE, "the MCP HTTP front to listen")
        statuses = [requests.post(url, json={}, headers=wrong, timeout=10) for _ in range(4)]
        assert [r.status_code for r in statuses[:2]] == [401, 401]  # the wait counted one
        assert statuses[-1].status_code == 429
        assert int(statuses[-1].headers["Retry-After"]) >= 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def _answers(url: str, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "the MCP front exited"
    try:
        requests.post(url, timeout=1)
    except requests.ConnectionError:
        return False
    return True
