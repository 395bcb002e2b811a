"""`model` on new and resume: checked against the API's GET /models before anything is
recorded (the same words on HTTP, MCP and the CLI), and sent on create and resume by the worker."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from codegen_mcp.mcp_server import create_server
from codegen_mcp.run_models import check_model
from codegen_mcp.simulator import Simulator
from tests.support import ROOT, Front, Worker

QUICK = "[sim:active=0.2] [sim:eval=0]"
NEW = {"repo": "acme/demo", "query": f"Add a README {QUICK}"}
UNKNOWN = "gpt-2"
REFUSAL = "model: unknown model 'gpt-2'; valid models: claude-sonnet-4-5, claude-opus-4-1, gpt-5"


def footprint(front: Front) -> tuple[int, int]:
    """What a refused start must not change: tasks recorded, messages queued."""
    services = front.services
    return sum(services.store.counts().values()), services.redis.llen(services.settings.key_prefix)


def forget_models(front: Front) -> None:
    key = front.services.store.keys.models(front.services.config.credentials().org_id)
    front.services.redis.delete(key, f"{key}:fresh")


def model_reads(sim: Simulator) -> int:
    return int(sim.stats()["requests"]["models"])


def run_of(front: Front, task_id: str) -> int:
    return int(front.wait_state(task_id, "completed")["agent_run_id"])


@pytest.mark.parametrize(
    ("command", "args"),
    [("new", NEW), ("resume", {"agent_run_id": 1, "query": "more"})],
)
def test_an_unknown_model_is_refused_over_http_naming_it_and_the_valid_ones(
    front: Front, sim: Simulator, command: str, args: dict[str, Any]
) -> None:
    before, creates = footprint(front), sim.stats()["creates"]
    response = front.call(command, {**args, "model": UNKNOWN})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["message"].startswith(REFUSAL), body
    assert body["fields"] == {"model": [body["message"]]}
    assert "gemini-2.5-pro" in body["valid_models"]
    assert footprint(front) == before and sim.stats()["creates"] == creates


def test_a_model_that_is_not_text_is_refused_by_the_schema(front: Front) -> None:
    for bad in (5, "", "\u200b"):
        body = front.call("new", {**NEW, "model": bad}).json()
        assert body["error"] == "invalid_request" and "model" in body["fields"], body


def test_the_model_reaches_the_run_on_create_and_on_resume(
    front: Front, worker: Worker, sim: Simulator
) -> None:
    run_id = run_of(front, front.ok("new", {**NEW, "model": "gpt-5"})["task_id"])
    assert sim.run(run_id)["create_body"]["model"] == "gpt-5"
    assert sim.run(run_id)["model"] == "gpt-5"
    follow = {"agent_run_id": run_id, "query": f"And tests {QUICK}", "model": "claude-opus-4-1"}
    run_of(front, front.ok("resume", follow)["task_id"])
    follow = {"agent_run_id": run_id, "query": f"And docs {QUICK}", "model": None}
    run_of(front, front.ok("resume", follow)["task_id"])  # null: not given, the run keeps its own
    assert [r["model"] for r in sim.run(run_id)["resumes"]] == ["claude-opus-4-1"] * 2


def test_without_a_model_the_create_names_none(
    front: Front, worker: Worker, sim: Simulator
) -> None:
    run_id = run_of(front, front.ok("new", {**NEW, "model": None})["task_id"])
    assert "model" not in sim.run(run_id)["create_body"]


def test_the_model_list_is_cached_and_an_unknown_name_rereads_it_at_most_so_often(
    front: Front, sim: Simulator
) -> None:
    forget_models(front)
    reads = model_reads(sim)
    assert front.call("new", {**NEW, "model": UNKNOWN}).status_code == 400
    assert model_reads(sim) == reads + 1
    assert front.call("new", {**NEW, "model": UNKNOWN}).status_code == 400
    check_model(front.services, "gpt-5")
    assert model_reads(sim) == reads + 1  # from the cache: the list was read moments ago
    key = front.services.store.keys.models(front.services.config.credentials().org_id)
    front.services.redis.delete(f"{key}:fresh")  # as MODEL_MISS_SECONDS later
    assert front.call("new", {**NEW, "model": UNKNOWN}).status_code == 400
    assert model_reads(sim) == reads + 2


def test_mcp_refuses_an_unknown_model_with_the_same_words(front: Front) -> None:
    server = create_server(lambda: front.services)
    before = footprint(front)

    async def call() -> CallToolResult:
        async with Client(server) as client:
            return await client.call_tool("new", {**NEW, "model": UNKNOWN})

    result = anyio.run(call)
    assert result.is_error
    text = "".join(block.text for block in result.content if isinstance(block, TextContent))
    assert REFUSAL in text
    assert footprint(front) == before


def cli(front: Front, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codegen_mcp.cli", *args, "--url", front.url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_cli_new_with_an_unknown_model_exits_2_with_the_same_words(front: Front) -> None:
    done = cli(front, "new", "acme/demo", "Add a README", "--model", UNKNOWN)
    assert done.returncode == 2
    assert REFUSAL in done.stderr and done.stdout == ""


def test_cli_model_reaches_the_run(front: Front, worker: Worker, sim: Simulator) -> None:
    done = cli(front, "new", "acme/demo", f"Add a README {QUICK}", "--model", "gpt-5-codex")
    assert done.returncode == 0, done.stderr
    task_id = next(
        line.split(":", 1)[1].strip()
        for line in done.stdout.splitlines()
        if line.startswith("task_id:")
    )
    run_id = run_of(front, task_id)
    assert sim.run(run_id)["model"] == "gpt-5-codex"
    resumed = cli(front, "resume", str(run_id), f"More {QUICK}", "--model", "gemini-2.5-pro")
    assert resumed.returncode == 0, resumed.stderr
    assert "gemini-2.5-pro" in [r["model"] for r in _wait_resumes(sim, run_id)]


def _wait_resumes(sim: Simulator, run_id: int) -> list[dict[str, Any]]:
    from tests.support import wait_for

    return wait_for(lambda: sim.run(run_id)["resumes"], 30, f"a resume of run {run_id}")
