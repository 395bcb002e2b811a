"""`codegen-mcp new|resume|status|list|tree|cancel|logs|config`: commands sent to a running front.

Parse the command line, send one command to the HTTP front, print its answer: readable by
default, the server's JSON with --json. Exit codes: 0 done, 1 a server error (or, after --wait,
a failed or cancelled task), 2 a rejected request (HTTP 4xx; after --wait: paused), 3 no front
at the URL, 124 --timeout, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from codegen_mcp import cli_options, cli_output, cli_watch
from codegen_mcp.http_client import FrontClient, FrontError, FrontUnreachable, resolve_url

EXIT_SERVER_ERROR = 1
EXIT_REJECTED = 2
EXIT_UNREACHABLE = 3

Handler = Callable[[FrontClient, argparse.Namespace], int]


def register(subparsers: Any) -> None:
    """Add the client subcommands to the `codegen-mcp` parser's subparsers."""
    common = cli_options.common_options()
    _add_run_commands(subparsers, common)
    _add_read_commands(subparsers, common)
    _add_config_command(subparsers, common)


def _add_run_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    new = sub.add_parser("new", parents=[common], help="start an agent run")
    new.add_argument("repo", help="the repository, owner/name")
    new.add_argument("query", help="what the agent should do")
    new.add_argument("--task", help="task type, e.g. CREATE_PLAN")
    new.add_argument("--branch")
    new.add_argument("--pr", type=int, help="pull request number")
    cli_options.orchestrator_option(new, "report the outcome to this orchestrator run")
    cli_options.wait_options(new)
    new.set_defaults(run=_runner(_new))

    resume = sub.add_parser("resume", parents=[common], help="send a follow-up to a run")
    resume.add_argument("agent_run_id", type=int, metavar="AGENT_RUN_ID")
    resume.add_argument("query", help="the follow-up message")
    resume.add_argument("--task", help="task type, e.g. IMPLEMENT")
    cli_options.orchestrator_option(resume, "report the outcome to this orchestrator run")
    cli_options.wait_options(resume)
    resume.set_defaults(run=_runner(_resume))

    cancel = sub.add_parser("cancel", parents=[common], help="cancel a task")
    cancel.add_argument("task_id", metavar="TASK_ID")
    cancel.add_argument(
        "--scope",
        help="pull_request: stop every agent on the run's pull request (the API cannot "
        "cancel a run; without it, a running task is only no longer watched)",
    )
    cancel.set_defaults(run=_runner(_cancel))


def _add_read_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    status = sub.add_parser("status", parents=[common], help="where a task is (task_status)")
    status.add_argument("task_id", metavar="TASK_ID")
    cli_options.wait_options(status)
    status.set_defaults(run=_runner(_status))

    listing = sub.add_parser("list", parents=[common], help="tracked tasks, newest first")
    listing.add_argument("--status", help="a state (running, paused, ...) or a Codegen status")
    listing.add_argument("--limit", type=int, help="how many (1-100, default 20)")
    listing.add_argument("--repo", help="only this repository")
    cli_options.orchestrator_option(listing, "only the children of this orchestrator run")
    listing.set_defaults(run=_runner(_list))

    tree = sub.add_parser(
        "tree",
        parents=[common],
        help="the orchestrator hierarchy below a run; with none named, every one, newest first",
    )
    cli_options.task_or_run(tree)
    tree.add_argument("--limit", type=int, help="with no run named: how many (default 10)")
    tree.set_defaults(run=_runner(_tree))

    logs = sub.add_parser("logs", parents=[common], help="a run's agent log")
    cli_options.task_or_run(logs)
    logs.add_argument("--limit", type=int, help="how many entries (1-100, default 20)")
    logs.add_argument("--skip", type=int, help="leave out this many first")
    logs.add_argument("--oldest-first", action="store_true", help="page from the oldest entry")
    logs.add_argument(
        "--follow",
        action="store_true",
        help="then print new entries as they come, until the run finishes (--json: one "
        "JSON entry a line)",
    )
    logs.set_defaults(run=_runner(_logs))


def _add_config_command(sub: Any, common: argparse.ArgumentParser) -> None:
    config = sub.add_parser("config", help="the Codegen token and org id, at runtime")
    actions = config.add_subparsers(required=True, metavar="ACTION")
    get = actions.add_parser("get", parents=[common], help="show one setting or all")
    get.add_argument("key", nargs="?", metavar="KEY", help="api_token or org_id")
    get.set_defaults(run=_runner(_config_get))
    put = actions.add_parser("set", parents=[common], help="set a setting")
    put.add_argument("key", metavar="KEY", help="api_token or org_id")
    put.add_argument("value", metavar="VALUE")
    put.set_defaults(run=_runner(_config_set))


# -- running a command -----------------------------------------------------------------------
def _runner(handler: Handler) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        cli_options.merge_global_options(args)
        token = args.token or os.environ.get("CODEGEN_MCP_AUTH_TOKEN") or None
        client = FrontClient(resolve_url(args.url), token)
        try:
            return handler(client, args)
        except FrontUnreachable as exc:
            cli_output.error(
                f"{exc}. Start one with `codegen-mcp up` (`codegen-mcp up --simulate` "
                "needs no Codegen account), or point --url or CODEGEN_MCP_URL at a running one."
            )
            return EXIT_UNREACHABLE
        except FrontError as exc:
            return _rejected(exc, args.json)

    return run


def _rejected(exc: FrontError, as_json: bool) -> int:
    if as_json and exc.body:
        print(cli_output.as_json(exc.body))
    # Only our own front's refusal is about the bearer token; a refusal of the Codegen API
    # token (upstream_auth) carries its own advice in the message.
    ours = exc.http_status == 401 and exc.body.get("error", "unauthorized") == "unauthorized"
    hint = " (pass --token or set CODEGEN_MCP_AUTH_TOKEN)" if ours else ""
    cli_output.error(exc.message + hint)
    return EXIT_REJECTED if 400 <= exc.http_status < 500 else EXIT_SERVER_ERROR


def _present(**args: Any) -> dict[str, Any]:
    """The command's args: the options the user gave, nothing for the ones left out."""
    return {name: value for name, value in args.items() if value is not None}


def _show(args: argparse.Namespace, answer: dict[str, Any], text: str) -> int:
    print(cli_output.as_json(answer) if args.json else text)
    return 0


# -- the commands ----------------------------------------------------------------------------
def _new(client: FrontClient, args: argparse.Namespace) -> int:
    answer = client.call(
        "new",
        _present(
            repo=args.repo,
            query=args.query,
            branch=args.branch,
            pr=args.pr,
            task=args.task,
            orchestrator_run_id=args.orchestrator_run_id,
        ),
    )
    return _started(client, args, answer)


def _resume(client: FrontClient, args: argparse.Namespace) -> int:
    answer = client.call(
        "resume",
        _present(
            agent_run_id=args.agent_run_id,
            query=args.query,
            task=args.task,
            orchestrator_run_id=args.orchestrator_run_id,
        ),
    )
    return _started(client, args, answer)


def _started(client: FrontClient, args: argparse.Namespace, answer: dict[str, Any]) -> int:
    if not _waits(args):
        return _show(args, answer, cli_output.started(answer))
    if not args.json:
        print(cli_output.started(answer) + "\n", flush=True)
    return _watch(client, args, answer["task_id"])


def _status(client: FrontClient, args: argparse.Namespace) -> int:
    if _waits(args):
        return _watch(client, args, args.task_id)
    answer = client.task_status(args.task_id)
    return _show(args, answer, cli_output.status(answer))


def _list(client: FrontClient, args: argparse.Namespace) -> int:
    answer = client.call(
        "list",
        _present(
            status=args.status,
            limit=args.limit,
            repo=args.repo,
            orchestrator_run_id=args.orchestrator_run_id,
        ),
    )
    return _show(args, answer, cli_output.task_table(answer.get("tasks") or []))


def _tree(client: FrontClient, args: argparse.Namespace) -> int:
    target = _present(task_id=args.task_id, agent_run_id=args.agent_run_id, limit=args.limit)
    answer = client.call("tree", target)
    if "tree" in answer:
        return _show(args, answer, cli_output.tree(answer["tree"]))
    drawings = [cli_output.tree(root) for root in answer.get("trees") or []]
    return _show(args, answer, "\n\n".join(drawings) or "no orchestrator hierarchies yet")


def _cancel(client: FrontClient, args: argparse.Namespace) -> int:
    answer = client.call("cancel", _present(task_id=args.task_id, scope=args.scope))
    return _show(args, answer, cli_output.cancelled(answer))


def _logs(client: FrontClient, args: argparse.Namespace) -> int:
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
    lines = [cli_output.log_line(entry) for entry in entries]
    return _show(args, answer, "\n".join(lines) or "no log entries yet")


def _config_get(client: FrontClient, args: argparse.Namespace) -> int:
    answer = client.call("config", _present(action="get", key=args.key))
    return _show(args, answer, cli_output.config(answer))


def _config_set(client: FrontClient, args: argparse.Namespace) -> int:
    answer = client.call("config", {"action": "set", "key": args.key, "value": args.value})
    return _show(args, answer, cli_output.config(answer))


# -- watching --------------------------------------------------------------------------------
def _waits(args: argparse.Namespace) -> bool:
    return bool(args.wait or args.timeout is not None)


def _watch(client: FrontClient, args: argparse.Namespace, task_id: str) -> int:
    return cli_watch.watch_task(client, task_id, timeout=args.timeout, as_json=args.json)


def _follow(client: FrontClient, args: argparse.Namespace, target: dict[str, Any]) -> int:
    return cli_watch.follow(client, target, limit=args.limit or 20, as_json=args.json)
