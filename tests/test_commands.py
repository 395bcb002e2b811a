"""Each command's error paths and the front's envelope: nothing is recorded or enqueued."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from codegen_mcp.errors import ConfigurationError
from codegen_mcp.serving import check_bind
from codegen_mcp.settings import Settings
from tests.support import Front


def _queue_length(front: Front) -> int:
    return int(front.services.redis.llen(front.services.settings.key_prefix))


def _task_count(front: Front) -> int:
    return int(front.services.redis.zcard(front.services.store.keys.tasks()))


@pytest.fixture
def idle_front(settings: Settings) -> Iterator[Front]:
    """A front with no worker: what it enqueues stays in the queue where we can count it."""
    web = Front(settings.with_(key_prefix=settings.key_prefix + "idle", new_wait=0.0))
    yield web
    web.stop()


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"query": "x"}, "repo"),
        ({"repo": "acme/demo"}, "query"),
        ({"repo": "not a repo", "query": "x"}, "repo"),
        ({"repo": "acme/demo", "query": "   "}, "query"),
        ({"repo": "acme/demo", "query": "x", "pr": "9"}, "pr"),
        ({"repo": "acme/demo", "query": "x", "pr": 0}, "pr"),
        ({"repo": "acme/demo", "query": "x", "orchestrator_run_id": 1.5}, "orchestrator_run_id"),
        ({"repo": "acme/demo", "query": "x", "task": "two words"}, "task"),
        ({"repo": "acme/demo", "query": "x" * 50_001}, "query"),
        ({"repo": "acme/demo", "query": "x", "colour": "red"}, "colour"),
    ],
)
def test_new_with_bad_arguments_is_rejected_naming_the_field(
    idle_front: Front, args, field
) -> None:
    before = (_queue_length(idle_front), _task_count(idle_front))
    response = idle_front.call("new", args)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error"
    assert field in body["fields"]
    assert field in body["message"]
    assert (_queue_length(idle_front), _task_count(idle_front)) == before


def test_resume_without_run_id_is_rejected(idle_front: Front) -> None:
    body = idle_front.call("resume", {"query": "more"}).json()
    assert body["status"] == "error" and "agent_run_id" in body["fields"]


def test_unknown_command_is_rejected_with_the_known_ones(idle_front: Front) -> None:
    response = idle_front.call("launch_missiles", {})
    assert response.status_code == 400
    assert "task_status" in response.json()["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"new"', b""])
def test_malformed_body_is_a_400_envelope(idle_front: Front, raw: bytes) -> None:
    response = requests.post(
        idle_front.url + "/", data=raw, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 400
    assert response.json()["status"] == "error"


def test_args_must_be_an_object(idle_front: Front) -> None:
    response = idle_front.session.post(
        idle_front.url + "/", json={"command": "list", "args": [1]}, timeout=10
    )
    assert response.status_code == 400
    assert "JSON object" in response.json()["message"]


def test_oversized_body_is_refused(idle_front: Front) -> None:
    response = idle_front.call("new", {"repo": "acme/demo", "query": "x" * 2_000_000})
    assert response.status_code == 413
    assert response.json()["status"] == "error"


def test_unknown_path_and_method_use_the_envelope(idle_front: Front) -> None:
    assert requests.get(idle_front.url + "/nope", timeout=10).json()["status"] == "error"
    assert requests.delete(idle_front.url + "/", timeout=10).status_code == 405


def test_task_status_of_unknown_task_is_404(idle_front: Front) -> None:
    response = idle_front.call("task_status", {"task_id": "no-such-task"})
    assert response.status_code == 404
    assert "no-such-task" in response.json()["message"]


def test_new_without_credentials_is_refused_before_anything_is_recorded(settings: Settings) -> None:
    web = Front(
        settings.with_(api_token=None, key_prefix=settings.key_prefix + "nocred", new_wait=0)
    )
    try:
        response = web.call("new", {"repo": "acme/demo", "query": "x"})
        assert response.status_code == 400
        assert "api_token" in response.json()["message"]
        assert _task_count(web) == 0 and _queue_length(web) == 0
    finally:
        web.stop()


def test_new_queues_a_task_and_answers_queued_when_no_worker_picks_it_up(idle_front: Front) -> None:
    response = idle_front.call("new", {"repo": "acme/demo", "query": "hello"})
    assert response.status_code == 202
    body = response.json()
    assert body["state"] == "queued" and body["agent_run_id"] is None
    assert "task_status" in body["message"]
    assert _queue_length(idle_front) == 1
    status = idle_front.status(body["task_id"])
    assert status["state"] == "queued" and status["metadata"]["command"] == "new"


# -- config ---------------------------------------------------------------------------
def test_config_set_and_get_masks_the_token(idle_front: Front) -> None:
    token = "cg_live_0123456789abcdef"
    body = idle_front.ok("config", {"action": "set", "key": "api-token", "value": token})
    assert body["key"] == "api_token" and body["source"] == "runtime"
    got = idle_front.ok("config", {"action": "get", "key": "api_token"})
    assert got["value"] == "…cdef"  # one width: the length is not shown
    assert token not in idle_front.call("config", {"action": "get"}).text


def test_config_org_id_must_be_a_positive_integer(idle_front: Front) -> None:
    for value in ("abc", -3, 0, True):
        response = idle_front.call("config", {"action": "set", "key": "org_id", "value": value})
        assert response.status_code == 400, value
    assert idle_front.ok("config", {"action": "set", "key": "org_id", "value": "42"})["value"] == 42


def test_config_unknown_key_names_the_known_ones(idle_front: Front) -> None:
    response = idle_front.call("config", {"action": "set", "key": "colour", "value": "red"})
    assert response.status_code == 400
    assert "api_token" in response.json()["message"] and "org_id" in response.json()["message"]


def test_config_set_without_value_is_rejected(idle_front: Front) -> None:
    response = idle_front.call("config", {"action": "set", "key": "org_id"})
    assert response.status_code == 400 and "value" in response.json()["fields"]


def test_config_get_shows_the_environment_default(settings: Settings) -> None:
    web = Front(settings.with_(key_prefix=settings.key_prefix + "cfg"))
    try:
        got = web.ok("config", {"action": "get", "key": "org_id"})
        assert got == {"status": "success", "key": "org_id", "value": 1, "source": "environment"}
    finally:
        web.stop()


# -- list ----------------------------------------------------------------------------
def test_list_is_newest_first_and_filters(settings: Settings) -> None:
    web = Front(settings.with_(key_prefix=settings.key_prefix + "list", new_wait=0))
    try:
        ids = [
            web.ok("new", {"repo": repo, "query": f"q{i}"})["task_id"]
            for i, repo in enumerate(["acme/demo", "acme/other", "acme/demo"])
        ]
        listed = web.ok("list")
        assert [row["task_id"] for row in listed["tasks"]] == ids[::-1]
        by_repo = web.ok("list", {"repo": "ACME/demo"})
        assert [row["task_id"] for row in by_repo["tasks"]] == [ids[2], ids[0]]
        assert web.ok("list", {"status": "queued", "limit": 1})["count"] == 1
        assert web.ok("list", {"status": "completed"})["count"] == 0
        assert web.ok("list", {"status": "ACTIVE"})["count"] == 0
        bad = web.call("list", {"status": "exploded"})
        assert bad.status_code == 400 and "queued" in bad.json()["message"]
        assert web.call("list", {"limit": 101}).status_code == 400
    finally:
        web.stop()


# -- auth and binding ----------------------------------------------------------------------
def test_auth_token_is_required_when_set(settings: Settings) -> None:
    web = Front(settings.with_(auth_token="s3cret-token", key_prefix=settings.key_prefix + "auth"))
    try:
        assert web.call("list").status_code == 401
        assert web.call("list", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = web.call("list", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200 and ok.json()["status"] == "success"
        health = requests.get(web.url + "/healthz", timeout=10)  # for load balancers: no token
        assert health.status_code in (200, 503) and health.json()["redis"] == "ok"
        assert requests.get(web.url + "/metrics", timeout=10).status_code == 401
    finally:
        web.stop()


def test_refuses_a_public_address_without_an_auth_token() -> None:
    with pytest.raises(ConfigurationError, match="CODEGEN_MCP_AUTH_TOKEN"):
        check_bind(Settings(host="0.0.0.0"))
    check_bind(Settings(host="0.0.0.0", auth_token="x" * 32))
    check_bind(Settings(host="127.0.0.1"))
    check_bind(Settings(host="::1"))
