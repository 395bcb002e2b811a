"""A process that joins a running stack talks to the Codegen API that stack uses, and a token
is only ever sent to the base URL it was set for."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from codegen_mcp import commands
from codegen_mcp.errors import NotConfigured
from codegen_mcp.services import Services
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import Simulator
from tests.support import ROOT
from tests.test_up import Up


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _tool(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    text = "".join(getattr(part, "text", "") for part in result.content)
    assert not result.is_error, text
    answer: dict[str, Any] = json.loads(text)
    return answer


@pytest.mark.anyio
async def test_an_mcp_server_joining_up_simulate_uses_its_simulator(tmp_path: Path) -> None:
    """Before: the joined server sent the simulator's token to api.codegen.com, and `logs`
    answered "Codegen API unreachable"."""
    with Up(tmp_path, "--simulate") as up:
        done = up.new("joined [sim:active=0.3] [sim:eval=0]")
        up.wait_state(done["task_id"], "completed")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEGEN_", "REDIS_"))}
        env["CODEGEN_MCP_DATA_DIR"] = str(up.data_dir)
        server = StdioServerParameters(
            command=sys.executable, args=["-m", "codegen_mcp.cli", "mcp"], env=env, cwd=ROOT
        )
        async with Client(server) as client:
            logs = await _tool(client, "logs", {"agent_run_id": done["agent_run_id"]})
        assert logs["logs"] and logs["agent_run_id"] == done["agent_run_id"], logs
        assert up.stack()["api_base_url"].startswith("http://127.0.0.1:")
        assert up.interrupt() == 0


def test_a_token_set_for_one_base_url_is_never_sent_to_another(
    settings: Settings, sim: Simulator
) -> None:
    """`config set api_token` by a process on base URL A; a worker (or any process) on base
    URL B shares the Redis, but must not send A's token to B."""
    other = Simulator()
    other.start()
    own = settings.with_(key_prefix=settings.key_prefix + "pair", api_token=None)
    here = Services(own, own.redis_url or "")
    elsewhere = Services(own.with_(api_base_url=other.url), own.redis_url or "")
    try:
        token = {"action": "set", "key": "api_token", "value": "token-for-a-0042"}
        commands.config.config(here, token)
        with pytest.raises(NotConfigured, match="api_token") as refused:
            elsewhere.client().get_run(1)
        assert sim.url in refused.value.message and other.url in refused.value.message
        assert other.requests_log() == []
        # On its own base URL the token is used as before.
        assert here.config.credentials().token == "token-for-a-0042"
    finally:
        here.redis.close()
        elsewhere.redis.close()
        other.stop()
