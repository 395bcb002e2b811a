"""When Codegen refuses our Codegen API token, nobody is told their own token was refused.

The simulator rejects a wrong token, as the API does (401). Every path that meets it (a
front calling upstream at once: `logs`, `cancel` with scope pull_request; a worker
launching a run for `new`) answers 502 `upstream_auth` with a message naming the token to
fix, never our own 401 with WWW-Authenticate; the CLI does not blame CODEGEN_MCP_AUTH_TOKEN.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from codegen_mcp.api.errors import ApiAuthError
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import Simulator
from codegen_mcp.states import State
from tests.support import ROOT, Front, Worker, fast_settings

WRONG = "not-a-codegen-token"
AUTH_TOKEN = "front-token-0123456789abcdef"
QUICK = "[sim:active=0.3] [sim:eval=0]"


@pytest.fixture
def refused(redis_url: str, sim: Simulator, tmp_path: Path) -> Settings:
    """Settings of a stack whose Codegen API token the simulator does not know."""
    return fast_settings(redis_url, sim.url, tmp_path / "data", api_token=WRONG)


@pytest.fixture
def refused_front(refused: Settings) -> Iterator[Front]:
    web = Front(refused.with_(auth_token=AUTH_TOKEN))
    web.session.headers["Authorization"] = f"Bearer {AUTH_TOKEN}"
    yield web
    web.stop()


def _assert_upstream_auth(response: requests.Response) -> None:
    assert response.status_code == 502, response.text
    assert "WWW-Authenticate" not in response.headers
    body = response.json()
    assert body["status"] == "error" and body["error"] == "upstream_auth", body
    _names_the_codegen_token(body["message"])


def _names_the_codegen_token(message: str) -> None:
    assert "CODEGEN_API_TOKEN" in message and "config set api_token" in message, message
    assert "CODEGEN_MCP_AUTH_TOKEN" not in message and WRONG not in message, message


def test_logs_refused_upstream_is_upstream_auth_not_our_401(refused_front: Front) -> None:
    _assert_upstream_auth(refused_front.call("logs", {"agent_run_id": 41000}))


def test_cancel_refused_upstream_is_upstream_auth(refused_front: Front) -> None:
    # A running task with a pull request, as a worker records it (no worker watches this
    # stack, so nothing else reaches upstream).
    store = refused_front.services.store
    task_id = store.create({"command": "new", "repo": "acme/demo", "query": "Open a PR"})
    pull_request = {"url": "https://github.com/acme/demo/pull/1", "number": 1}
    store.transition(
        task_id,
        State.RUNNING,
        allowed=[State.QUEUED],
        agent_run_id=41000,
        pull_requests=[pull_request],
    )
    _assert_upstream_auth(
        refused_front.call("cancel", {"task_id": task_id, "scope": "pull_request"})
    )
    assert refused_front.status(task_id)["state"] == "running"


def test_new_refused_upstream_fails_the_task_naming_the_codegen_token(
    refused: Settings, tmp_path: Path
) -> None:
    worker = Worker(refused, tmp_path / "worker.log").start()
    web = Front(refused.with_(new_wait=30.0))
    try:
        response = web.call("new", {"repo": "acme/demo", "query": f"Add a README {QUICK}"})
        _assert_upstream_auth(response)
        task = web.status(response.json()["task_id"])
        assert task["state"] == "failed"
        _names_the_codegen_token(task["error"])
    finally:
        web.stop()
        worker.stop()
    assert WRONG not in worker.log()


def test_cli_names_the_codegen_token_not_its_own(refused_front: Front) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "codegen_mcp.cli",
            "logs",
            "--run",
            "41000",
            "--url",
            refused_front.url,
        ],
        env={
            **os.environ,
            "CODEGEN_MCP_AUTH_TOKEN": AUTH_TOKEN,
            "CODEGEN_MCP_DATA_DIR": "/nonexistent",
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode != 0
    _names_the_codegen_token(done.stderr)


def test_an_upstream_auth_error_says_its_advice_once_after_pickling() -> None:
    # Celery's prefork pool and result backends carry exceptions pickled: rebuilt from args.
    for status in (401, 403):
        sent = ApiAuthError(f"Codegen answered {status}", status_code=status)
        carried = pickle.loads(pickle.dumps(sent))
        assert str(carried) == str(sent) == sent.message
        assert str(carried).count("CODEGEN_API_TOKEN") == 1
