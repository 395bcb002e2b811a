"""`codegen-mcp new|resume|status|list|tree|cancel|logs|config`: commands sent to a running front.

Send one command to the HTTP front (parser.py reads the command line), print its answer:
readable by default, the server's JSON with --json. Exit codes: 0 done, 1 a server error (or,
after --wait, a failed or cancelled task), 2 a rejected request (HTTP 4xx; after --wait:
paused), 3 no front at the URL, 124 --timeout, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from codegen_mcp.cli import options, output, watch
from codegen_mcp.cli.http import FrontClient, FrontError, FrontUnreachable, resolve_url

EXIT_SERVER_ERROR = 1
EXIT_REJECTED = 2
EXIT_UNREACHABLE = 3

Handler = Callable[[FrontClient, argparse.Namespace], int]


# -- running a command -----------------------------------------------------------------------
def command(handler: Handler) -> Callable[[argparse.Namespace], int]:
    """`handler` as a command's `run(args)`: it gets a client of the front at --url.

    A refusal exits 2 (HTTP 4xx) or 1, and no front at the URL exits 3, each with one line
    on stderr (and with --json, the front's error envelope on stdout).
    """

    def run(args: argparse.Namespace) -> int:
        options.merge_global_options(args)
        token = args.token or os.environ.get("CODEGEN_MCP_AUTH_TOKEN") or None
        client = FrontClient(resolve_url(args.url), token)
        try:
            return handler(client, args)
        except FrontUnreachable as exc:
            output.error(
                f"{exc}. Start one with `codegen-mcp up` (`codegen-mcp up --simulate` "
                "needs no Codegen account), or point --url or CODEGEN_MCP_URL at a running one."
            )
            return EXIT_UNREACHABLE
        except FrontError as exc:
            return _rejected(exc, args.json)

    return run


def _rejected(exc: FrontError, as_json: bool) -> int:
    if as_json and exc.body:
        print(output.as_json(exc.body))
    # Only our own front's refusal is about the bearer token; a refusal of the Codegen API
    # token (upstream_auth) carries its own advice in the message.
    ours = exc.http_status == 401 and exc.body.get("error", "unauthorized") == "unauthorized"
    hint = " (pass --token or set CODEGEN_MCP_AUTH_TOKEN)" if ours else ""
    output.error(exc.message + hint)
    return EXIT_REJECTED if 400 <= exc.http_status < 500 else EXIT_SERVER_ERROR


def _present(**args: Any) -> dict[str, Any]:
    """The command's args: the options the user gave, nothing for the ones left out."""
    return {name: value for name, value in args.items() if value is not None}


def _show(args: argparse.Namespace, answer: dict[str, Any], text: str) -> int:
    print(output.as_json(answer) if args.json else text)
    return 0


# -- the commands ----------------------------------------------------------------------------
# The options `new` and `resume` share, sent under their own names.
START_OPTIONS = (
    "task",
    "orchestrator_run_id",
    "notify_url",
    "notify_events",
    "model",
    "idempotency_key",
)


def new(client: FrontClient, args: argparse.Namespace) -> int:
    """Start an agent run (`new`); with --wait, watch it until it settles."""
    own = _present(repo=args.repo, query=args.query, branch=args.branch, pr=args.pr)
    return _started(client, args, client.call("new", {**own, **_start_options(args)}))


def resume(client: FrontClient, args: argparse.Namespace) -> int:
    """Send a follow-up to a run (`resume`); with --wait, watch it until it settles."""
    own = _present(agent_run_id=args.agent_run_id, query=args.query)
    return _started(client, args, client.call("resume", {**own, **_start_options(args)}))


def _start_options(args: argparse.Namespace) -> dict[str, Any]:
    return _present(**{name: getattr(args, name) for name in START_OPTIONS})


def _started(client: FrontClient, args: argparse.Namespace, answer: dict[str, Any]) -> int:
    if not _waits(args):
        return _show(args, answer, output.started(answer))
    if not args.json:
        print(output.started(answer) + "\n", flush=True)
    return _watch(client, args, answer["task_id"])


def status(client: FrontClient, args: argparse.Namespace) -> int:
    """Show where a task is (`status`); with --wait, watch it until it settles."""
    if _waits(args):
        return _watch(client, args, args.task_id)
    answer = client.task_status(args.task_id)
    return _show(args, answer, output.status(answer))


def list_tasks(client: FrontClient, args: argparse.Namespace) -> int:
    """Show the tracked tasks, newest first, as a table (`list`)."""
    answer = client.call(
        "list",
        _present(
            status=args.status,
            limit=args.limit,
            repo=args.repo,
            orchestrator_run_id=args.orchestrator_run_id,
        ),
    )
    return _show(args, answer, output.task_table(answer.get("tasks") or []))


def tree(client: FrontClient, args: argparse.Namespace) -> int:
    """Draw the orchestrator hierarchy below a run, or every one (`tree`)."""
    target = _present(task_id=args.task_id, agent_run_id=args.agent_run_id, limit=args.limit)
    answer = client.call("tree", target)
    if "tree" in answer:
        return _show(args, answer, output.tree(answer["tree"]))
    drawings = [output.tree(root) for root in answer.get("trees") or []]
    return _show(args, answer, "\n\n".join(drawings) or "no orchestrator hierarchies yet")


def cancel(client: FrontClient, args: argparse.Namespace) -> int:
    """Cancel a task (`cancel`) and print what the front did about it."""
    answer = client.call("cancel", _present(task_id=args.task_id, scope=args.scope))
    return _show(args, answer, output.cancelled(answer))


def logs(client: FrontClient, args: argparse.Namespace) -> int:
    """Print a page of a run's agent log, newest last (`logs`); --follow: then each new entry."""
    target = _present(task_id=args.task_id, agent_run_id=args.agent_run_id)
    if args.follow:
        return _follow(client, args, target)
    answer = client.call(
        "logs",
        _present(
            **target,
            limit=args.limit,
            skip=args.skip,
            reverse=False if args.oldest_first else None,
        ),
    )
    entries = answer.get("logs") or []
    if not args.oldest_first:
        entries = list(reversed(entries))  # newest last, as a terminal reads
    lines = [output.log_line(entry) for entry in entries]
    return _show(args, answer, "\n".join(lines) or "no log entries yet")


def config_get(client: FrontClient, args: argparse.Namespace) -> int:
    """Show one runtime setting or all (`config get`); the token comes back masked."""
    answer = client.call("config", _present(action="get", key=args.key))
    return _show(args, answer, output.config(answer))


def config_set(client: FrontClient, args: argparse.Namespace) -> int:
    """Set a runtime setting (`config set`)."""
    answer = client.call("config", {"action": "set", "key": args.key, "value": args.value})
    return _show(args, answer, output.config(answer))


# -- watching --------------------------------------------------------------------------------
def _waits(args: argparse.Namespace) -> bool:
    return bool(args.wait or args.timeout is not None)


def _watch(client: FrontClient, args: argparse.Namespace, task_id: str) -> int:
    return watch.watch_task(client, task_id, timeout=args.timeout, as_json=args.json)


def _follow(client: FrontClient, args: argparse.Namespace, target: dict[str, Any]) -> int:
    return watch.follow(client, target, limit=args.limit or 20, as_json=args.json)
