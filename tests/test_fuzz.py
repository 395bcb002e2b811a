"""Generated arguments for every command, sent to the HTTP front and the MCP front alike.

Properties: never a 5xx (nor an MCP tool crash); a refusal is a 4xx whose message names the
argument, in the same words on both fronts; and a refused input leaves nothing behind: no
task recorded, nothing queued, no run created on the simulator. No worker runs, so nothing
accepted reaches the simulator either; what matters is that a refusal records nothing.

Hypothesis runs derandomized, with no example database and no deadline: the same examples
on every run, in a few seconds.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.types import CallToolResult, TextContent

from codegen_mcp import schemas
from codegen_mcp.mcp_server import create_server
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import Simulator
from tests.support import Front

FUZZ = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Any character, lone surrogates included: JSON can carry them, UTF-8 cannot.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
JUNK = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, 2**64, -(2**63), 10**30, 0, -1])
    | st.floats(allow_nan=False, allow_infinity=False)
    | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=6,
)
IDS = st.integers(min_value=1, max_value=10**6) | st.sampled_from([0, 2**63 - 1, 2**63, 2**64])
TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc"]), min_size=1, max_size=20
) | st.sampled_from(["Add a README", "\u200b\u2060", "\x00", " \n"])
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "repo": st.from_regex(schemas.REPO_PATTERN, fullmatch=True) | st.just("acme/demo\n"),
    "query": TEXT,
    "branch": st.sampled_from(["main", "feature/x", "release-1.2"])
    | st.sampled_from(["..", "@{-1}", "a\u202eb", "x.lock", "-x", "main\x00"]),
    "pr": IDS,
    "task": st.from_regex(schemas.TASK_PATTERN, fullmatch=True) | st.just("IMPLEMENT\n"),
    "orchestrator_run_id": IDS,
    "agent_run_id": IDS,
    "action": st.sampled_from(["get", "set", "delete"]),
    "key": st.sampled_from(["api_token", "org_id", "api-token", "colour"]),
    "value": st.from_regex(r"[!-~]{1,40}", fullmatch=True)
    | st.integers(min_value=-1, max_value=2**64)
    | st.sampled_from(["sk-abc…def", "323", "٣٢٣", "²", "7" * 6000]),
    "status": st.sampled_from([*schemas.STATE_NAMES, "CANCELED", "ACTIVE", "done", " queued"]),
    "limit": st.integers(min_value=1, max_value=100) | st.sampled_from([0, 101, "5"]),
    "skip": IDS | st.just("0"),
    "wait": st.floats(min_value=0, max_value=25) | st.sampled_from(["5", 26, -1]),
    "reverse": st.booleans() | st.sampled_from(["yes", 1, 0]),
    "scope": st.sampled_from(["pull_request", "repo"]),
    "task_id": st.from_regex(schemas.TASK_ID_PATTERN, fullmatch=True) | st.just("x\n"),
    # address literals and localhost only: no lookup leaves the machine
    "notify_url": st.sampled_from(
        [
            "http://93.184.216.34/h",
            "https://[2606:2800::1]/h",
            "http://10.0.0.1/",
            "ftp://x/",
            "http://localhost:1/",
            "https://u:p@93.184.216.34/",
            "http://93.184.216.34:0/",
        ]
    ),
    "notify_events": st.lists(st.sampled_from([*schemas.STATE_NAMES, "all", "done"]), max_size=7),
    "model": st.sampled_from(["claude-sonnet-4-5", "gpt-5", "gpt-2", "", " ", "m" * 201]),
    "idempotency_key": st.from_regex(schemas.IDEMPOTENCY_KEY_PATTERN, fullmatch=True)
    | st.sampled_from(["short", "a key\n", "k" * 129]),
}


def chance(draw: st.DrawFn, tenths: int) -> bool:
    # Out of 100, not 10: Hypothesis favours the ends of a range, which would skew 1 in 10.
    return draw(st.integers(min_value=1, max_value=100)) <= 10 * tenths


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A command and arguments, mostly plausible (so that many calls succeed): a required
    argument is there 9 times in 10, an optional one 4 in 10, a value is junk 1 in 10, and
    1 call in 10 carries an argument the command does not take."""
    command = draw(st.sampled_from(list(schemas.SCHEMAS)))
    declared = schemas.SCHEMAS[command]().fields
    args: dict[str, Any] = {}
    for name, field in declared.items():
        if chance(draw, 9 if field.required else 4):
            args[name] = draw(JUNK if chance(draw, 1) else PLAUSIBLE[name])
    if chance(draw, 1):
        args[draw(ANY_TEXT.filter(lambda key: key not in declared))] = draw(JUNK)
    return command, args


@pytest.fixture(scope="module")
def front(settings: Settings) -> Iterator[Front]:
    own = dataclasses.replace(settings, key_prefix=f"f{uuid.uuid4().hex[:8]}", new_wait=0.0)
    web = Front(own)
    yield web
    web.stop()


@pytest.fixture(scope="module")
def mcp(front: Front) -> Iterator[tuple[BlockingPortal, Client]]:
    """One MCP client session (the SDK's, in memory) kept open for every example."""
    server = create_server(lambda: front.services)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(Client(server)) as client,
    ):
        yield portal, client


def footprint(front: Front, sim: Simulator) -> tuple[int, int, int]:
    services = front.services
    recorded = sum(services.store.counts().values())
    return recorded, services.redis.llen(services.settings.key_prefix), len(sim.runs())


def text(result: CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, TextContent))


@FUZZ
@given(call=calls())
def test_any_arguments_get_a_success_or_a_4xx_naming_them_alike_on_http_and_mcp(
    front: Front,
    mcp: tuple[BlockingPortal, Client],
    sim: Simulator,
    call: tuple[str, dict[str, Any]],
) -> None:
    command, args = call
    before = footprint(front, sim)
    response = front.call(command, args)
    assert response.status_code < 500, response.text
    event(f"{command}: {response.status_code}")  # --hypothesis-show-statistics shows the mix
    body = response.json()
    portal, client = mcp
    result = portal.call(client.call_tool, command, args)
    if response.status_code < 400:
        assert body["status"] == "success" and not result.is_error, (body, text(result))
        return
    assert body["status"] == "error", body
    if body["error"] == "invalid_request":
        assert body["fields"], body
        for name in body["fields"]:
            assert f"{name}: " in body["message"] or name in body["message"], body
    assert result.is_error, result.structured_content
    # The same words as over HTTP; an MCP crash would say only "Error executing tool <name>".
    assert text(result) == f"Error executing tool {command}: {body['message']}"
    assert footprint(front, sim) == before, "a refused input left something behind"
