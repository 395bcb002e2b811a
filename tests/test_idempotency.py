"""Idempotency keys (#16): a `new` or `resume` sent again with its key starts nothing.

Every front (the HTTP header and argument, the MCP tools, the CLI) against a real Redis, a real
worker and the simulator over HTTP; "one run" is counted in the simulator, "one task" in Redis.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from mcp import Client
from mcp.types import TextContent

from codegen_mcp import commands, idempotency
from codegen_mcp.errors import CodegenMCPError
from codegen_mcp.local.processes import settings_env
from codegen_mcp.local.redis import free_port
from codegen_mcp.mcp_server import create_server
from codegen_mcp.services import Services
from codegen_mcp.settings import RateLimit, Settings
from codegen_mcp.simulator import Simulator
from tests.support import (
    ROOT,
    START_DEADLINE,
    Front,
    Worker,
    fast_settings,
    wait_for,
)

QUICK = "[sim:active=0.3] [sim:eval=0]"
CLI = [sys.executable, "-m", "codegen_mcp.cli"]
BAD_KEY = "Must be 8 to 128 characters, each a letter, a digit or - _ . : (a UUID fits)."


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def key() -> str:
    return str(uuid.uuid4())


def marker() -> str:
    return f"idem-{uuid.uuid4().hex[:12]}"


def runs_with(sim: Simulator, text: str) -> list[dict[str, Any]]:
    return [run for run in sim.runs() if text in (run.get("prompt") or "")]


def recorded(web: Front) -> int:
    return int(web.services.redis.zcard(web.services.store.keys.tasks()))


def idle(settings: Settings, tmp_path: Path, **overrides: Any) -> Front:
    """A front of its own (own key prefix), no worker and no wait: a `new` answers queued."""
    values = {"new_wait": 0.0, **overrides}
    return Front(fast_settings(settings.redis_url or "", settings.api_base_url, tmp_path, **values))


@pytest.fixture
def idle_front(settings: Settings, tmp_path: Path) -> Iterator[Front]:
    web = idle(settings, tmp_path)
    yield web
    web.stop()


def send_and_hang_up(url: str, body: dict[str, Any], headers: dict[str, str]) -> None:
    """POST `body` on a raw socket and close it without reading a byte of the answer: a
    client whose connection dropped after the server took the request."""
    parts = urlsplit(url)
    payload = json.dumps(body).encode()
    lines = [
        "POST / HTTP/1.1",
        f"Host: {parts.netloc}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *(f"{name}: {value}" for name, value in headers.items()),
        "",
        "",
    ]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall("\r\n".join(lines).encode() + payload)


# -- HTTP -------------------------------------------------------------------------------
def test_a_new_whose_connection_dropped_is_sent_again_with_its_key_and_makes_one_run(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    text, header = marker(), {"Idempotency-Key": key()}
    body = {"command": "new", "args": {"repo": "acme/demo", "query": f"{text} {QUICK}"}}
    send_and_hang_up(front.url, body, header)
    first = wait_for(lambda: runs_with(sim, text), 60, what="the dropped new to start its run")
    task_id = first[0]["metadata"]["codegen_mcp_task_id"]

    again = front.call("new", body["args"], headers=header)
    assert again.status_code == 202, again.text
    assert again.json()["task_id"] == task_id
    assert again.json()["replayed"] is True
    assert front.wait_state(task_id, "completed", timeout=60)["state"] == "completed"
    assert len(runs_with(sim, text)) == 1  # one run, in the simulator's own count
    tasks = [t for t in front.ok("list", {"limit": 100})["tasks"] if text in (t["query"] or "")]
    assert [t["task_id"] for t in tasks] == [task_id]


@pytest.fixture
def gunicorn(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """`codegen-mcp web` (gunicorn, as in production) on the module's store and worker."""
    port = free_port()
    env = {**settings_env(settings.with_(port=port)), "WEB_CONCURRENCY": "1"}
    env.pop("CODEGEN_MCP_AUTH_TOKEN", None)
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "web.log", "wb") as log:
        process = subprocess.Popen(
            [*CLI, "web", "--threads", "4"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
    try:
        wait_for(lambda: _serving(url, process), START_DEADLINE, "gunicorn to listen")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def _serving(url: str, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "gunicorn exited"
    try:
        return requests.get(url + "/", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def test_a_new_that_timed_out_in_the_client_is_sent_again_through_gunicorn_and_makes_one_run(
    gunicorn: str, front: Front, sim: Simulator, worker: Worker
) -> None:
    text, header = marker(), {"Idempotency-Key": key()}
    body = {"command": "new", "args": {"repo": "acme/demo", "query": f"{text} {QUICK}"}}
    # The client gives up long before the front can answer (it waits for the run to start).
    with pytest.raises(requests.ReadTimeout):
        requests.post(gunicorn + "/", json=body, headers=header, timeout=(5, 0.001))
    first = wait_for(lambda: runs_with(sim, text), 60, what="the timed-out new to start its run")
    task_id = first[0]["metadata"]["codegen_mcp_task_id"]

    again = requests.post(gunicorn + "/", json=body, headers=header, timeout=30)
    assert again.status_code == 202, again.text
    assert again.json()["task_id"] == task_id
    assert front.wait_state(task_id, "completed", timeout=60)["state"] == "completed"
    assert len(runs_with(sim, text)) == 1


def test_the_key_as_an_argument_answers_the_first_task_and_lasts_24_hours(
    idle_front: Front,
) -> None:
    args = {"repo": "acme/demo", "query": "x", "idempotency_key": key()}
    first = idle_front.ok("new", args)
    again = idle_front.ok("new", args)
    assert again["task_id"] == first["task_id"] and again["state"] == "queued"
    assert "replayed" not in first and again["replayed"] is True
    assert "nothing new was started" in again["message"]
    assert recorded(idle_front) == 1
    services = idle_front.services
    name = services.store.keys.idempotency("deployment", args["idempotency_key"])
    assert 24 * 3600 - 60 < services.redis.ttl(name) <= 24 * 3600


def test_a_resume_sent_again_with_its_key_makes_one_task(front: Front, worker: Worker) -> None:
    done = front.ok("new", {"repo": "acme/demo", "query": QUICK})
    run_id = front.wait_state(done["task_id"], "completed", timeout=60)["agent_run_id"]
    args = {"agent_run_id": run_id, "query": f"more {QUICK}", "idempotency_key": key()}
    first = front.ok("resume", args)
    again = front.ok("resume", args)
    assert again["task_id"] == first["task_id"] and again["agent_run_id"] == run_id
    tasks = front.ok("list", {"limit": 100})["tasks"]
    resumes = [t for t in tasks if t["command"] == "resume" and t["agent_run_id"] == run_id]
    assert [t["task_id"] for t in resumes] == [first["task_id"]]


def test_the_same_key_with_other_arguments_is_a_409_naming_them_not_their_values(
    idle_front: Front,
) -> None:
    the_key = key()
    idle_front.ok(
        "new", {"repo": "acme/demo", "query": "an original plan", "idempotency_key": the_key}
    )
    other = {"repo": "acme/demo", "query": "a secret plan", "branch": "main"}
    refused = idle_front.call("new", {**other, "idempotency_key": the_key})
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "conflict" and body["differ"] == ["branch", "query"]
    assert "(branch, query differ)" in body["message"]
    assert "a secret plan" not in refused.text and "an original plan" not in refused.text
    assert list(body["fields"]) == ["idempotency_key"]
    as_resume = idle_front.call(
        "resume", {"agent_run_id": 7, "query": "x", "idempotency_key": the_key}
    )
    assert as_resume.status_code == 409
    assert "first used for 'new', not 'resume'" in as_resume.json()["message"]
    assert recorded(idle_front) == 1


def test_concurrent_requests_with_one_key_make_one_task(idle_front: Front) -> None:
    args = {"repo": "acme/demo", "query": "x", "idempotency_key": key()}

    def one(_: int) -> requests.Response:
        with requests.Session() as session:
            body = {"command": "new", "args": args}
            return session.post(idle_front.url + "/", json=body, timeout=60)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(32)))
    assert [a.status_code for a in answers] == [202] * 32
    assert len({a.json()["task_id"] for a in answers}) == 1
    assert sum(1 for a in answers if not a.json().get("replayed")) == 1
    assert recorded(idle_front) == 1
    assert idle_front.services.redis.llen(idle_front.services.settings.key_prefix) == 1


def test_requests_with_one_key_released_at_one_instant_make_one_task(idle_front: Front) -> None:
    services = idle_front.services
    threads = 16
    for _ in range(5):  # rounds of callers that all hit the claim in the same instant
        args = {"repo": "acme/demo", "query": "x", "idempotency_key": key()}
        start = threading.Barrier(threads)

        def one(i: int, args: dict[str, Any] = args, start: threading.Barrier = start) -> str:
            start.wait()
            answer = commands.execute(services, "new", args, client=f"addr:10.1.0.{i}")
            return str(answer["task_id"])

        with ThreadPoolExecutor(threads) as pool:
            assert len(set(pool.map(one, range(threads)))) == 1
    assert recorded(idle_front) == 5


def test_a_failed_start_sent_again_answers_the_same_failure(front: Front, worker: Worker) -> None:
    args = {"repo": "nobody/absent-repo", "query": "x", "idempotency_key": key()}
    first = front.call("new", args)
    task_id = first.json()["task_id"]
    front.wait_state(task_id, "failed", timeout=60)
    again = front.call("new", args)
    assert again.status_code == 404 and again.json()["error"] == "task_failed"
    assert again.json()["task_id"] == task_id


# -- what a key may be, and the header ---------------------------------------------------
@pytest.mark.parametrize(
    "bad", ["short", "x" * 129, "has space-1234", "ключ-12345678", "a/b/c/d/e"]
)
def test_a_malformed_key_is_refused_naming_the_field(idle_front: Front, bad: str) -> None:
    refused = idle_front.call("new", {"repo": "acme/demo", "query": "x", "idempotency_key": bad})
    assert refused.status_code == 400
    assert refused.json()["fields"] == {"idempotency_key": [BAD_KEY]}
    assert recorded(idle_front) == 0


def test_the_header_and_the_argument_must_agree(idle_front: Front) -> None:
    args = {"repo": "acme/demo", "query": "x", "idempotency_key": key()}
    refused = idle_front.call("new", args, headers={"Idempotency-Key": key()})
    assert refused.status_code == 400
    assert "the Idempotency-Key header and the idempotency_key argument differ" in refused.text
    assert list(refused.json()["fields"]) == ["idempotency_key"]
    # The same key in both, or quoted as the IETF draft spells it, is one key.
    same = idle_front.call("new", args, headers={"Idempotency-Key": args["idempotency_key"]})
    quoted = idle_front.call(
        "new", args, headers={"Idempotency-Key": f'"{args["idempotency_key"]}"'}
    )
    assert same.json()["task_id"] == quoted.json()["task_id"]
    assert recorded(idle_front) == 1
    # A malformed header gets the argument's words; on other commands the header is not read.
    bad = idle_front.call(
        "new", {"repo": "acme/demo", "query": "x"}, headers={"Idempotency-Key": "?"}
    )
    assert bad.status_code == 400 and bad.json()["fields"] == {"idempotency_key": [BAD_KEY]}
    listed = idle_front.call("list", {}, headers={"Idempotency-Key": key()})
    assert listed.status_code == 200
    odd = idle_front.session.post(
        idle_front.url + "/", json={"command": ["new"]}, headers={"Idempotency-Key": key()}
    )
    assert odd.status_code == 400 and odd.json()["fields"] == {"command": [odd.json()["message"]]}


# -- a refused first attempt does not burn its key --------------------------------------
def test_a_request_refused_for_a_full_queue_leaves_its_key_free(
    settings: Settings, tmp_path: Path
) -> None:
    web = idle(settings, tmp_path, max_queued=1)
    try:
        filler = web.ok("new", {"repo": "acme/demo", "query": "filler"})
        args = {"repo": "acme/demo", "query": "x", "idempotency_key": key()}
        assert web.call("new", args).json()["error"] == "queue_full"
        web.ok("cancel", {"task_id": filler["task_id"]})
        created = web.ok("new", args)
        assert "replayed" not in created
        assert recorded(web) == 2
    finally:
        web.stop()


def test_a_request_refused_for_its_rate_or_its_arguments_leaves_its_key_free(
    settings: Settings,
) -> None:
    tight = settings.with_(
        client_run_limit=RateLimit(1, 600), new_wait=0.0, key_prefix=f"ti{uuid.uuid4().hex[:8]}"
    )
    services = Services(tight, tight.redis_url or "")
    the_key = key()
    args = {"repo": "acme/demo", "query": "x", "idempotency_key": the_key}
    with pytest.raises(CodegenMCPError) as invalid:
        commands.execute(services, "new", {**args, "repo": "no"}, client="addr:10.0.0.1")
    assert invalid.value.http_status == 400
    commands.execute(services, "new", {"repo": "acme/demo", "query": "y"}, client="addr:10.0.0.1")
    with pytest.raises(CodegenMCPError) as limited:
        commands.execute(services, "new", args, client="addr:10.0.0.1")
    assert limited.value.http_status == 429
    # Without auth the deployment shares keys: another caller's first use creates the task...
    created = commands.execute(services, "new", args, client="addr:10.0.0.2")
    assert "replayed" not in created
    # ...and the caller over its limit gets it back: a replay starts nothing, so costs nothing.
    again = commands.execute(services, "new", args, client="addr:10.0.0.1")
    assert again["task_id"] == created["task_id"] and again["replayed"] is True


def test_a_claim_left_by_a_front_that_died_before_recording_is_taken_over(
    idle_front: Front,
) -> None:
    services, the_key = idle_front.services, key()
    args = {"repo": "acme/demo", "query": "x", "idempotency_key": the_key}
    name = services.store.keys.idempotency("deployment", the_key)
    ghost = str(uuid.uuid4())  # the task the dead front never recorded
    left = {"command": "new", "task_id": ghost, "args": idempotency._digests(args)}
    age = idempotency.CLAIM_GRACE + 5
    services.redis.set(name, json.dumps(left), ex=int(idempotency.TTL - age))
    created = idle_front.ok("new", args)
    assert created["task_id"] != ghost and "replayed" not in created
    assert idle_front.ok("new", args)["task_id"] == created["task_id"]


def test_a_retry_while_the_first_request_is_still_recording_is_told_to_try_again(
    idle_front: Front,
) -> None:
    services, the_key = idle_front.services, key()
    args = {"repo": "acme/demo", "query": "x", "idempotency_key": the_key}
    name = services.store.keys.idempotency("deployment", the_key)
    pending = {"command": "new", "task_id": str(uuid.uuid4()), "args": idempotency._digests(args)}
    services.redis.set(name, json.dumps(pending), ex=idempotency.TTL)
    busy = idle_front.call("new", args)
    assert busy.status_code == 409 and "still being recorded" in busy.json()["message"]
    assert int(busy.headers["Retry-After"]) >= 1
    assert recorded(idle_front) == 0


# -- whose keys ---------------------------------------------------------------------------
def test_with_auth_on_each_bearer_token_has_its_own_keys(
    settings: Settings, tmp_path: Path
) -> None:
    prefix = f"ta{uuid.uuid4().hex[:8]}"  # one store, two tokens (say, before and after a rotation)
    tokens = ["first-token-for-this-test-0123456789", "second-token-for-this-test-012345678"]
    fronts = [idle(settings, tmp_path, key_prefix=prefix, auth_token=t) for t in tokens]
    try:
        args = {"repo": "acme/demo", "query": "x", "idempotency_key": key()}

        def new(web: Front, token: str) -> str:
            answer = web.call("new", args, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 202, answer.text
            return str(answer.json()["task_id"])

        first, second = (new(web, token) for web, token in zip(fronts, tokens, strict=True))
        assert first != second
        assert new(fronts[0], tokens[0]) == first and new(fronts[1], tokens[1]) == second
        assert recorded(fronts[0]) == 2
        names = fronts[0].services.redis.keys(f"{prefix}:idem:*")
        assert all(token not in name for name in names for token in tokens)
    finally:
        for web in fronts:
            web.stop()


def test_with_auth_off_every_caller_of_the_deployment_shares_the_keys(
    settings: Settings, tmp_path: Path
) -> None:
    web = idle(settings, tmp_path, trusted_proxies=1)  # two callers, told apart by address
    try:
        args = {"repo": "acme/demo", "query": "x", "idempotency_key": key()}
        answers = [
            web.call("new", args, headers={"X-Forwarded-For": address}).json()
            for address in ("203.0.113.1", "203.0.113.2")
        ]
        assert answers[0]["task_id"] == answers[1]["task_id"]
        assert recorded(web) == 1
    finally:
        web.stop()


# -- MCP and the CLI ----------------------------------------------------------------------
@pytest.mark.anyio
async def test_over_mcp_the_tools_take_a_key_and_tell_the_model_to_reuse_it(
    settings: Settings, tmp_path: Path
) -> None:
    idle_settings = fast_settings(
        settings.redis_url or "", settings.api_base_url, tmp_path, new_wait=0.0
    )
    services = Services(idle_settings, idle_settings.redis_url or "")
    async with Client(create_server(lambda: services)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        for name in ("new", "resume"):
            assert "idempotency_key" in tools[name].input_schema["properties"]
            assert "pass the same key" in (tools[name].description or "")
        args = {"repo": "acme/demo", "query": "x", "idempotency_key": key()}
        first = await client.call_tool("new", args)
        again = await client.call_tool("new", args)
        assert isinstance(first.structured_content, dict)
        assert isinstance(again.structured_content, dict)
        assert again.structured_content["task_id"] == first.structured_content["task_id"]
        assert again.structured_content["replayed"] is True
        bad = await client.call_tool("new", {**args, "idempotency_key": "short"})
        other = await client.call_tool("new", {**args, "query": "y"})
    assert bad.is_error and f"idempotency_key: {BAD_KEY}" in _text(bad.content)
    assert other.is_error and "(query differ)" in _text(other.content)
    assert int(services.redis.zcard(services.store.keys.tasks())) == 1


def _text(blocks: list[Any]) -> str:
    return "".join(b.text for b in blocks if isinstance(b, TextContent))


def _cli(front: Front, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEGEN_MCP_")}
    env["CODEGEN_MCP_DATA_DIR"] = "/nonexistent"
    return subprocess.run(
        [*CLI, *args, "--url", front.url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )


def test_the_cli_sends_its_idempotency_key(idle_front: Front) -> None:
    the_key = key()
    runs = [
        _cli(idle_front, "new", "acme/demo", "x", "--json", "--idempotency-key", the_key)
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    first, again = (json.loads(r.stdout) for r in runs)
    assert again["task_id"] == first["task_id"] and again["replayed"] is True
    other = _cli(idle_front, "new", "acme/demo", "y", "--idempotency-key", the_key)
    assert other.returncode == 2 and "(query differ)" in other.stderr
    bad = _cli(idle_front, "new", "acme/demo", "x", "--idempotency-key", "short")
    assert bad.returncode == 2 and f"idempotency_key: {BAD_KEY}" in bad.stderr
    assert recorded(idle_front) == 1
