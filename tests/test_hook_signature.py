"""Every likely signature form of a run webhook is accepted, and named; a wrong one is not."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from codegen_mcp.errors import ConfigurationError
from codegen_mcp.hook_signature import sign_t_v1, verify
from codegen_mcp.settings import Settings

SECRET = "per-task-secret"
BODY = b'{"id": 7, "status": "COMPLETE"}'


def mac(data: bytes, key: bytes = SECRET.encode()) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


@pytest.mark.parametrize(
    ("headers", "form"),
    [
        ({"X-Codegen-Signature": sign_t_v1(SECRET, 1700000000, BODY)}, "t_v1"),
        ({"X-Hub-Signature-256": "sha256=" + mac(BODY).hex()}, "sha256_hex"),
        ({"x-signature": "sha256=" + base64.b64encode(mac(BODY)).decode()}, "sha256_base64"),
        ({"X-Signature": mac(BODY).hex().upper()}, "hex"),
        ({"X-Webhook-Signature": base64.b64encode(mac(BODY)).decode()}, "base64"),
        ({"X-Webhook-Signature": base64.urlsafe_b64encode(mac(BODY)).decode()}, "base64"),
        (
            {"X-Signature": mac(b"1700000000." + BODY).hex(), "X-Timestamp": "1700000000"},
            "ts_hex",
        ),
        (
            {
                "Webhook-Signature": "v1,bad v1,"
                + base64.b64encode(mac(b"m1.17." + BODY)).decode(),
                "webhook-id": "m1",
                "webhook-timestamp": "17",
            },
            "standard_webhooks",
        ),
    ],
)
def test_each_likely_signature_form_is_accepted_and_named(
    headers: dict[str, str], form: str
) -> None:
    verdict = verify(headers, BODY, SECRET)
    assert (verdict.state, verdict.form) == ("ok", form)


def test_a_wrong_or_foreign_signature_is_bad_and_none_is_absent() -> None:
    assert verify({"X-Codegen-Signature": sign_t_v1("other", 1, BODY)}, BODY, SECRET).state == "bad"
    assert verify({"X-Signature": "sha256=" + mac(BODY + b" ").hex()}, BODY, SECRET).state == "bad"
    assert verify({"X-Signature": mac(BODY).hex()}, BODY, None).state == "bad"
    assert verify({"Content-Type": "application/json"}, BODY, SECRET).state == "absent"


def test_public_url_must_be_an_http_url_and_names_the_variable() -> None:
    env = {"CODEGEN_MCP_PUBLIC_URL": "https://hooks.example.com/cgm/"}
    assert Settings.from_env(env).public_url == "https://hooks.example.com/cgm"
    assert Settings.from_env({}).public_url is None
    for bad in ("ftp://x.example", "hooks.example.com", "https://x.example/?a=1", "http://"):
        with pytest.raises(ConfigurationError, match="CODEGEN_MCP_PUBLIC_URL"):
            Settings.from_env({"CODEGEN_MCP_PUBLIC_URL": bad})
