"""The service layer: each command is a plain function over Services.

Fronts (HTTP, MCP, CLI) validate nothing themselves: they hand the raw arguments to
`execute`, which validates with the shared schemas and returns a JSON-ready dict. One module
per command group: tasks (new, resume, list, task_status), tree, config, cancel, logs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from codegen_mcp import idempotency, quotas, schemas
from codegen_mcp.commands import cancel, config, logs, tasks, tree
from codegen_mcp.errors import InvalidRequest, StoreUnavailable
from codegen_mcp.redis_conn import UNREACHABLE
from codegen_mcp.run_models import check_model
from codegen_mcp.services import Services

Command = Callable[[Services, dict[str, Any]], Mapping[str, Any]]

COMMANDS: dict[str, Command] = {
    "new": tasks.new,
    "resume": tasks.resume,
    "config": config.config,
    "list": tasks.list_tasks,
    "task_status": tasks.task_status,
    "tree": tree.tree,
    "cancel": cancel.cancel,
    "logs": logs.logs,
}


def execute(
    services: Services, command: object, args: object, client: str = "local"
) -> dict[str, Any]:
    """Validate and run one command for `client` (clients.py: who asks), within its limits.

    Returns the command's answer (answers.py) as a JSON-ready dict; raises a CodegenMCPError
    (the one error envelope) for a refused input, an exhausted allowance or a store outage.
    """
    if not isinstance(command, str) or command not in COMMANDS:
        raise InvalidRequest(
            f"unknown command {command!r}; known commands: {', '.join(COMMANDS)}",
            details={"field": "command"},
        )
    loaded = schemas.load(command, args, services.settings)
    try:
        if command in quotas.STARTS:
            # A start that cannot be sent is refused before it takes the client's allowance.
            services.config.credentials()
            tasks.check_webhook(services, loaded)  # a notify_url needs the webhook secret
            if loaded.get("model") is not None:
                check_model(services, loaded["model"])  # before the allowance, like the above
            return dict(_start(services, command, loaded, client))
        if command == "logs":  # charged per read that reaches the API, not per call
            return dict(logs.logs(services, loaded, client))
        return dict(COMMANDS[command](services, loaded))
    except UNREACHABLE as exc:  # one wording for every front
        raise StoreUnavailable.from_exception(exc) from exc


def _start(
    services: Services, command: str, args: dict[str, Any], client: str
) -> Mapping[str, Any]:
    """`new` or `resume` within the client's allowance, once per idempotency key: a key seen
    before answers with its task and takes no allowance, as it starts nothing."""
    claim = idempotency.claim(services, client, command, args)
    if claim is not None and claim.replay:
        return tasks.replay(services, command, claim.task_id, args)
    with idempotency.given_back_on_error(services, claim):
        quotas.admit(services, client, command)  # before anything is recorded or enqueued
        return COMMANDS[command](services, idempotency.with_task_id(args, claim))
