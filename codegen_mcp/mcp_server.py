"""The MCP front: the commands as MCP tools (mcp_tools.py), thin over the service layer.

A CodegenMCPError comes back as a ToolError carrying the message the HTTP front sends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import redis
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from codegen_mcp import __version__, clients, commands, mcp_tools, secret
from codegen_mcp.commands import waiting
from codegen_mcp.errors import CodegenMCPError
from codegen_mcp.mcp_http import bearer_auth
from codegen_mcp.mcp_progress import WaitProgress
from codegen_mcp.mcp_task_backend import CodegenTasks
from codegen_mcp.mcp_tasks import TasksExtension
from codegen_mcp.services import Services

log = logging.getLogger(__name__)


def create_server(
    services: Callable[[], Services],
    *,
    auth_token: str | None = None,
) -> MCPServer:
    """The MCP server; `services` returns this process's Services for each call.

    With `auth_token`, the HTTP transport demands `Authorization: Bearer <auth_token>`.
    """
    secret.install()

    def begin(command: str, args: dict[str, Any]) -> Any:
        current = services()
        secret.install(current.settings, current.redis_url)
        return commands.begin(current, command, args, clients.of_mcp())

    async def run(command: str, args: dict[str, Any]) -> Any:
        # The command runs in a worker thread; a wait for a task to move (new's run id,
        # task_status with wait) is settled here in the event loop, holding no thread.
        try:
            outcome = await anyio.to_thread.run_sync(begin, command, args)
            if isinstance(outcome, waiting.Pending):
                outcome = await commands.settle_async(outcome)
            return dict(outcome)
        except CodegenMCPError as exc:
            raise ToolError(exc.message) from exc
        except redis.RedisError as exc:
            log.warning("%s: the task store is unreachable: %r", command, exc)
            raise ToolError(
                f"the task store (Redis) is unreachable ({type(exc).__name__}); "
                "is REDIS_URL right, or the codegen-mcp stack running?"
            ) from exc

    server: MCPServer = MCPServer(
        "codegen-mcp",
        title="Codegen agents",
        version=__version__,
        instructions=mcp_tools.INSTRUCTIONS,
        website_url="https://codegen.com",
        tools=mcp_tools.all_tools(run),
        # MCP Tasks (CODEGEN_MCP_TASKS=0 turns them off): new and resume as tasks.
        extensions=[TasksExtension(CodegenTasks(services, mcp_tools.tool_result))]
        if services().settings.mcp_tasks
        else [],
        **bearer_auth(auth_token),
    )
    server.middleware.append(clients.McpClientIdentity(lambda: services().settings))
    server.middleware.append(WaitProgress())
    return server
