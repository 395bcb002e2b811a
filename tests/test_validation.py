"""Every argument of every command, checked once (schemas.py) and alike on every front.

Bad inputs go through the HTTP front and through the real MCP client (in memory) and must
come back as a 4xx naming the argument, with nothing recorded or queued. Secrets: a token
that cannot go in an HTTP header is refused, and a real worker's log never shows one.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent

from codegen_mcp import refname
from codegen_mcp.mcp_server import create_server
from codegen_mcp.settings import Settings
from codegen_mcp.store_keys import Keys
from tests.support import Front, Worker, wait_for

TASK_ID = "0" * 32
LONG_TOKEN = "sk-live-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def mcp(front: Front) -> MCPServer:
    """The MCP server over the same Services as the HTTP front."""
    return create_server(lambda: front.services)


def mcp_call(server: MCPServer, tool: str, args: dict[str, Any]) -> CallToolResult:
    """One tools/call through the SDK's own client, in memory."""

    async def call() -> CallToolResult:
        async with Client(server) as client:
            return await client.call_tool(tool, args)

    return anyio.run(call)


def mcp_text(result: CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, TextContent))


def footprint(front: Front) -> tuple[int, int]:
    """What a rejected input must not change: tasks recorded, messages queued."""
    settings = front.services.settings
    return sum(front.services.store.counts().values()), front.services.redis.llen(
        settings.key_prefix
    )


def config_set(key: str, value: object) -> dict[str, Any]:
    return {"action": "set", "key": key, "value": value}


NEW = {"repo": "acme/demo", "query": "Add a README"}
# (command, arguments, the argument the answer must name)
REFUSED: dict[str, tuple[str, dict[str, Any], str]] = {
    # 10.7: lone surrogates and digits int() cannot read
    "surrogate in query": ("new", {**NEW, "query": "\ud800"}, "query"),
    "surrogate in branch": ("new", {**NEW, "branch": "\ud800"}, "branch"),
    "surrogate in repo": ("new", {**NEW, "repo": "\ud800"}, "repo"),
    "surrogate in resume query": ("resume", {"agent_run_id": 1, "query": "a\ud800"}, "query"),
    "surrogate in token": ("config", config_set("api_token", "sk-\ud800-abcdef"), "value"),
    "surrogate in list status": ("list", {"status": "\ud800"}, "status"),
    "surrogate in list repo": ("list", {"repo": "acme/\ud800"}, "repo"),
    "superscript org_id": ("config", config_set("org_id", "²"), "value"),
    "6000-digit org_id": ("config", config_set("org_id", "7" * 6000), "value"),
    # 10.8: a token that cannot go in an HTTP header
    "ellipsis in token": ("config", config_set("api_token", "sk-abc…def123"), "value"),
    "smart quotes in token": ("config", config_set("api_token", "“sk-abcdef123”"), "value"),
    "space in token": ("config", config_set("api_token", "sk-abc def123"), "value"),
    # 10.9: whole-string matches
    "newline after repo": ("new", {**NEW, "repo": "acme/demo\n"}, "repo"),
    "newline after task type": ("new", {**NEW, "task": "CREATE_PLAN\n"}, "task"),
    "newline after task id": ("task_status", {"task_id": TASK_ID + "\n"}, "task_id"),
    # 10.9: ids the API cannot take (64-bit signed)
    "pr of 2^64": ("new", {**NEW, "pr": 2**64}, "pr"),
    "orchestrator of 10^30": ("new", {**NEW, "orchestrator_run_id": 10**30}, "orchestrator_run_id"),
    "resume of 2^63": ("resume", {"agent_run_id": 2**63, "query": "x"}, "agent_run_id"),
    "tree of 2^63": ("tree", {"agent_run_id": 2**63}, "agent_run_id"),
    "logs skip of 2^63": ("logs", {"agent_run_id": 1, "skip": 2**63}, "skip"),
    "org_id of 2^63": ("config", config_set("org_id", 2**63), "value"),
    # 10.9: branch names git refuses, and invisible ones
    "branch ..": ("new", {**NEW, "branch": ".."}, "branch"),
    "branch @{-1}": ("new", {**NEW, "branch": "@{-1}"}, "branch"),
    "branch with NUL": ("new", {**NEW, "branch": "main\x00"}, "branch"),
    "branch with a bidi override": ("new", {**NEW, "branch": "fix-\u202eusr"}, "branch"),
    "branch ending .lock": ("new", {**NEW, "branch": "feature.lock"}, "branch"),
    # 10.9: queries without visible text
    "query of NULs": ("new", {**NEW, "query": "\x00\x00\x00"}, "query"),
    "query of zero-width spaces": ("new", {**NEW, "query": "\u200b\u200b\u2060"}, "query"),
    "resume query of zero-width spaces": (
        "resume",
        {"agent_run_id": 1, "query": "\u200b"},
        "query",
    ),
    # 10.9 and 11.1: no coercion from strings
    "reverse yes": ("logs", {"agent_run_id": 1, "reverse": "yes"}, "reverse"),
    "wait as a string": ("task_status", {"task_id": TASK_ID, "wait": "5"}, "wait"),
    "pr as a string": ("new", {**NEW, "pr": "9"}, "pr"),
    "limit as true": ("list", {"limit": True}, "limit"),
    "Arabic-Indic org_id": ("config", config_set("org_id", "٣٢٣"), "value"),
    # 11.1: unknown and missing arguments
    "unknown argument": ("new", {**NEW, "orchestrator": 41011}, "orchestrator"),
    "unknown argument named like the SDK's own": ("list", {"model_config": {}}, "model_config"),
    "missing query": ("new", {"repo": "acme/demo"}, "query"),
    "null query": ("new", {"repo": "acme/demo", "query": None}, "query"),
    # #15: a model is text with something visible in it (whether Codegen has it is checked after)
    "model as a number": ("new", {**NEW, "model": 5}, "model"),
    "resume model of zero-width spaces": (
        "resume",
        {"agent_run_id": 1, "query": "x", "model": "\u200b"},
        "model",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_bad_argument_is_refused_over_http_naming_it(front: Front, case: str) -> None:
    command, args, field = REFUSED[case]
    before = footprint(front)
    response = front.call(command, args)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_request", body
    assert body["message"].startswith(f"invalid arguments for {command!r}: "), body
    assert f"{field}: " in body["message"] and field in body["fields"], body
    assert footprint(front) == before


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_bad_argument_is_refused_over_mcp_with_the_words_http_uses(
    front: Front, mcp: MCPServer, case: str
) -> None:
    command, args, field = REFUSED[case]
    before = footprint(front)
    result = mcp_call(mcp, command, args)
    assert result.is_error, result
    message = front.call(command, args).json()["message"]
    assert mcp_text(result).endswith(message), (mcp_text(result), message)
    assert f"invalid arguments for {command!r}: " in message and f"{field}: " in message
    assert "pydantic" not in mcp_text(result)
    assert footprint(front) == before


ACCEPTED: dict[str, tuple[str, dict[str, Any]]] = {
    "the API's one-L CANCELED": ("list", {"status": "CANCELED"}),
    "the API's ACTIVE": ("list", {"status": "active"}),
    "org_id as digits, as the contract shows": ("config", config_set("org_id", "1")),
    "org_id as a number": ("config", config_set("org_id", 1)),
    "an optional argument sent as null": ("list", {"repo": None, "limit": 5}),
}


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_the_same_arguments_are_accepted_on_every_front(
    front: Front, mcp: MCPServer, case: str
) -> None:
    command, args = ACCEPTED[case]
    over_http = front.ok(command, args)
    result = mcp_call(mcp, command, args)
    assert not result.is_error, mcp_text(result)
    assert over_http["status"] == "success"


def test_every_mcp_input_schema_refuses_unknown_arguments(mcp: MCPServer) -> None:
    async def schemas() -> dict[str, dict[str, Any]]:
        async with Client(mcp) as client:
            return {tool.name: tool.input_schema for tool in (await client.list_tools()).tools}

    for name, schema in anyio.run(schemas).items():
        assert schema["additionalProperties"] is False, name
        assert schema["type"] == "object", name
        for argument, spec in schema["properties"].items():
            assert spec.get("description"), f"{name}.{argument} has no description"


def test_a_masked_token_has_one_width_whatever_the_length(front: Front) -> None:
    shown = []
    for token in ("sk-" + "a" * 20 + "WXYZ", "sk-" + "b" * 60 + "WXYZ"):
        shown.append(front.ok("config", config_set("api_token", token))["value"])
    assert shown == ["…WXYZ", "…WXYZ"]
    front.ok("config", config_set("api_token", "sim-token"))  # back to the simulator's


# -- branch names by git's rules ------------------------------------------------------
BRANCHES: dict[str, bool] = {
    "main": True,
    "feature/login-fix": True,
    "release-1.2": True,
    "a.b": True,
    "user@host": True,
    "ümlaut": True,
    "..": False,
    "a..b": False,
    ".hidden": False,
    "dir/.hidden": False,
    "feature.lock": False,
    "dir.lock/x": False,
    "ends.": False,
    "/lead": False,
    "trail/": False,
    "a//b": False,
    "@{-1}": False,
    "a@{u}": False,
    "a b": False,
    "a~1": False,
    "a^": False,
    "a:b": False,
    "a?": False,
    "a*": False,
    "a[b": False,
    "a\\b": False,
    "tab\there": False,
    "nul\x00": False,
    "del\x7f": False,
    "-dash": False,
    "HEAD": False,
    "": False,
}
# Stricter than `git check-ref-format --branch`: names that look like something else on
# screen, and "@", which git reads there as shorthand for HEAD.
STRICTER = ["fix-\u202eusr", "zero\u200bwidth", "nbsp\u00a0x", "@"]


@pytest.mark.parametrize("name", list(BRANCHES))
def test_branch_names_follow_gits_own_rules(name: str, tmp_path: Path) -> None:
    assert refname.problem(name) is None if BRANCHES[name] else refname.problem(name)
    if "\x00" not in name:  # argv cannot carry NUL
        verdict = subprocess.run(
            ["git", "check-ref-format", "--branch", name],
            capture_output=True,
            check=False,
            cwd=tmp_path,  # outside any repository, where @{-1} names no branch
        )
        assert (verdict.returncode == 0) == BRANCHES[name], verdict.stderr


@pytest.mark.parametrize("name", STRICTER)
def test_branch_names_with_invisible_characters_or_shorthands_are_refused(name: str) -> None:
    assert refname.problem(name)


# -- secrets never reach a worker's log -------------------------------------------------
def _own(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, key_prefix=f"t{uuid.uuid4().hex[:8]}", **changes)


@pytest.fixture
def own_front(settings: Settings) -> Iterator[Front]:
    web = Front(_own(settings, new_wait=0.0))
    yield web
    web.stop()


def test_a_stored_token_that_cannot_go_in_a_header_fails_tasks_visibly_and_stays_out_of_logs(
    own_front: Front, tmp_path: Path
) -> None:
    """An older version stored any token; the worker then failed on every try, logging the
    exception with the whole token, and the task stayed queued with no error shown."""
    settings = own_front.services.settings
    task = own_front.ok("new", {**NEW, "query": "Add a README [sim:active=0.2]"})
    bad = "sk-pasted-0123456789…abcdef"
    own_front.services.redis.hset(  # as a version that did not check tokens stored it
        Keys(settings.key_prefix).config(),
        mapping={"api_token": bad, "api_token_base_url": settings.api_base_url},
    )
    worker = Worker(settings, tmp_path / "worker.log").start()
    try:
        failed = own_front.wait_state(task["task_id"], "failed")
        assert "api_token" in failed["error"] and "HTTP header" in failed["error"], failed
        refused = own_front.call("new", NEW)
        assert refused.status_code == 400 and "api_token" in refused.json()["message"]
    finally:
        worker.stop()
    log = worker.log()
    assert "sk-pasted" not in log and "0123456789" not in log, log[-3000:]


def test_whatever_text_carries_a_secret_the_worker_log_shows_it_masked(
    settings: Settings, tmp_path: Path
) -> None:
    """Celery logs the whole body of a message it cannot run; one that quotes the token
    (sent by an older version, or by anyone who can write to Redis) must not show it."""
    own = _own(settings, api_token=LONG_TOKEN)
    worker = Worker(own, tmp_path / "worker.log").start()
    front = Front(own)
    try:
        front.services.queue.send("codegen_mcp.retired_task", {"token": LONG_TOKEN})
        wait_for(lambda: "retired_task" in worker.log(), 30, "the worker to log the message")
    finally:
        front.stop()
        worker.stop()
    log = worker.log()
    assert LONG_TOKEN not in log and "0123456789abcdef" not in log, log[-3000:]
    assert "…cdef" in log
    assert json.dumps(LONG_TOKEN) not in log
