"""The service layer: each command is a plain function over Services.

Fronts (HTTP, MCP, CLI) validate nothing themselves: they hand the raw arguments to
`execute`, which validates with the shared schemas and returns a JSON-ready dict. One module
per command group: tasks (new, resume, list, task_status), tree, config, cancel, logs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from codegen_mcp import idempotency, memory_guard, schemas, task_org
from codegen_mcp.commands import cancel, config, logs, tasks, tree, waiting
from codegen_mcp.errors import InvalidRequest, StoreUnavailable
from codegen_mcp.redis_conn import UNREACHABLE
from codegen_mcp.run_models import check_model
from codegen_mcp.services import Services

Command = Callable[[Services, dict[str, Any]], Mapping[str, Any] | waiting.Pending]

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
# The starts take the client too: its allowance is checked in the step that records them.
STARTS = {"new": tasks.new, "resume": tasks.resume}


def execute(
    services: Services, command: object, args: object, client: str = "local"
) -> dict[str, Any]:
    """Validate and run one command for `client` (clients.py: who asks), within its limits.

    Returns the command's answer (answers.py) as a JSON-ready dict; raises a CodegenMCPError
    (the one error envelope) for a refused input, an exhausted allowance or a store outage.
    A command that waits for a task to move waits in this thread.
    """
    outcome = begin(services, command, args, client)
    if isinstance(outcome, waiting.Pending):
        with _unreachable_is_unavailable():
            outcome = waiting.settle(outcome)
    return dict(outcome)


async def settle_async(pending: waiting.Pending) -> Mapping[str, Any]:
    """The answer of a command that waits, awaited in an event loop (the MCP front): no thread
    is held while it waits."""
    with _unreachable_is_unavailable():
        return await waiting.settle_async(pending)


def begin(
    services: Services, command: object, args: object, client: str = "local"
) -> Mapping[str, Any] | waiting.Pending:
    """Validate and run `command` up to its answer, or up to the wait for a task to move."""
    if not isinstance(command, str) or command not in COMMANDS:
        raise InvalidRequest(
            f"unknown command {command!r}; known commands: {', '.join(COMMANDS)}",
            details={"field": "command"},
        )
    loaded = schemas.load(command, args, services.settings)
    with _unreachable_is_unavailable():
        if command in STARTS:
            # A start that cannot be sent is refused before it takes the client's allowance.
            services.config.credentials()
            tasks.check_webhook(services, loaded)  # a notify_url needs the webhook secret
            if loaded.get("model") is not None:  # before the allowance, like the above
                check_model(services, loaded["model"], _org_of_start(services, command, loaded))
            return _start(services, command, loaded, client)
        if command == "logs":  # charged per read that reaches the API, not per call
            return logs.logs(services, loaded, client)
        return COMMANDS[command](services, loaded)


def _start(
    services: Services, command: str, args: dict[str, Any], client: str
) -> Mapping[str, Any] | waiting.Pending:
    """`new` or `resume` within the client's allowance (checked in the step that records it:
    intake.py), once per idempotency key: a key seen before answers with its task and takes
    no allowance, as it starts nothing."""
    # A nearly full Redis takes no new work, not even an idempotency claim; a retry of work
    # it took still gets its answer, which writes nothing.
    try:
        memory_guard.admit(services.redis, services.settings.memory_guard)
    except memory_guard.MemoryFull:
        if (earlier := idempotency.recorded(services, client, command, args)) is None:
            raise
        return tasks.replay(services, command, earlier, args)
    claim = idempotency.claim(services, client, command, args)
    if claim is not None and claim.replay:
        return tasks.replay(services, command, claim.task_id, args)
    with idempotency.given_back_on_error(services, claim):
        return STARTS[command](services, idempotency.with_task_id(args, claim), client)


def _org_of_start(services: Services, command: str, args: dict[str, Any]) -> int | None:
    """The organization a start goes to: a resume's is its run's (task_org), a new's the one
    in force (None)."""
    return task_org.run_org(services, args["agent_run_id"]) if command == "resume" else None


@contextmanager
def _unreachable_is_unavailable() -> Iterator[None]:
    try:
        yield
    except UNREACHABLE as exc:  # one wording for every front
        raise StoreUnavailable.from_exception(exc) from exc
