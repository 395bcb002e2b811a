"""The `codegen-mcp` command line: every command, its arguments, and the function that runs it.

The servers (`up`, `web`, `mcp`, `simulate`) run in serve.py; the client commands (`new`,
`resume`, `status`, `list`, `tree`, `cancel`, `logs`, `config`) in remote.py.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from codegen_mcp.cli import options, remote, serve

DESCRIPTION = "`codegen-mcp`: run the whole stack (`up`), the web or MCP front, or the simulator."


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line; each command sets `args.run(args) -> exit code`."""
    parser = argparse.ArgumentParser(prog="codegen-mcp", description=DESCRIPTION)
    options.add_global_options(parser)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    _add_serve_commands(sub)
    common = options.common_options()
    _add_run_commands(sub, common)
    _add_read_commands(sub, common)
    _add_config_command(sub, common)
    return parser


# -- the servers ------------------------------------------------------------------------------
def _add_serve_commands(sub: Any) -> None:
    up = sub.add_parser("up", help="run web, worker and sweep together on this machine")
    up.add_argument(
        "--simulate",
        action="store_true",
        help="also run the built-in Codegen API simulator and use it (no account needed)",
    )
    up.add_argument("--host", help="web address (default CODEGEN_MCP_HOST or 127.0.0.1)")
    up.add_argument("--port", type=int, help="web port (default PORT or 8080)")
    up.add_argument("--data-dir", type=Path, help="where the embedded Redis keeps its data")
    up.add_argument("--concurrency", type=int, default=4, help="worker threads (default 4)")
    _access_log_option(up)
    up.set_defaults(run=serve.up)

    web = sub.add_parser("web", help="serve the HTTP front with gunicorn (production)")
    web.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    web.add_argument("--threads", type=int, default=8)
    _access_log_option(web)
    web.set_defaults(run=serve.web)

    _add_mcp_command(sub)

    sim = sub.add_parser("simulate", help="serve the Codegen API simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8089)
    sim.add_argument("--token", default="sim-token", help="the bearer token it accepts")
    sim.add_argument("--org-id", type=int, default=1)
    sim.add_argument(
        "--active-seconds",
        type=float,
        default=3.0,
        help="how long a simulated run works before it finishes",
    )
    sim.set_defaults(run=serve.simulate)


def _add_mcp_command(sub: Any) -> None:
    mcp = sub.add_parser(
        "mcp",
        help="serve the MCP front: stdio (what desktop hosts spawn) or Streamable HTTP at /mcp",
    )
    mcp.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    mcp.add_argument("--host", help="HTTP address (default CODEGEN_MCP_HOST or 127.0.0.1)")
    mcp.add_argument("--port", type=int, default=8090, help="HTTP port (default 8090)")
    mcp.add_argument(
        "--allowed-hosts",
        default=os.environ.get("CODEGEN_MCP_ALLOWED_HOSTS", ""),
        help="comma-separated names the HTTP server is reached by besides loopback, e.g. "
        "mcp.example.com (default CODEGEN_MCP_ALLOWED_HOSTS)",
    )
    mcp.add_argument(
        "--workers",
        type=_process_count,
        default="1",
        help="HTTP server processes on the one port (default 1: more help only with idle cores)",
    )
    mcp.add_argument("--data-dir", type=Path, help="where the embedded Redis keeps its data")
    mcp.set_defaults(run=serve.mcp)


def _access_log_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="log one line per HTTP request (off by default: the dashboard polls every 2 s)",
    )


def _start_options(parser: argparse.ArgumentParser) -> None:
    """The options `new` and `resume` share (remote.START_OPTIONS sends them)."""
    options.orchestrator_option(parser, "report the outcome to this orchestrator run")
    options.notify_options(parser)
    options.idempotency_option(parser)
    options.wait_options(parser)


# -- the client commands ----------------------------------------------------------------------
def _add_run_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    new = sub.add_parser("new", parents=[common], help="start an agent run")
    new.add_argument("repo", help="the repository, owner/name")
    new.add_argument("query", help="what the agent should do")
    new.add_argument("--task", help="task type, e.g. CREATE_PLAN")
    new.add_argument("--branch")
    new.add_argument("--pr", type=options.integer, help="pull request number")
    new.add_argument("--model", help="the model the agent uses (default: the organization's)")
    _start_options(new)
    new.set_defaults(run=remote.command(remote.new))

    resume = sub.add_parser("resume", parents=[common], help="send a follow-up to a run")
    resume.add_argument("agent_run_id", type=options.integer, metavar="AGENT_RUN_ID")
    resume.add_argument("query", help="the follow-up message")
    resume.add_argument("--task", help="task type, e.g. IMPLEMENT")
    resume.add_argument("--model", help="the model for this follow-up (default: the run's own)")
    _start_options(resume)
    resume.set_defaults(run=remote.command(remote.resume))

    cancel = sub.add_parser("cancel", parents=[common], help="cancel a task")
    cancel.add_argument("task_id", metavar="TASK_ID")
    cancel.add_argument(
        "--scope",
        help="pull_request: stop every agent on the run's pull request (the API cannot "
        "cancel a run; without it, a running task is only no longer watched)",
    )
    cancel.set_defaults(run=remote.command(remote.cancel))


def _add_read_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    status = sub.add_parser("status", parents=[common], help="where a task is (task_status)")
    status.add_argument("task_id", metavar="TASK_ID")
    options.wait_options(status)
    status.set_defaults(run=remote.command(remote.status))

    listing = sub.add_parser("list", parents=[common], help="tracked tasks, newest first")
    listing.add_argument("--status", help="a state (running, paused, ...) or a Codegen status")
    listing.add_argument("--limit", type=options.integer, help="how many (1-100, default 20)")
    listing.add_argument("--repo", help="only this repository")
    options.orchestrator_option(listing, "only the children of this orchestrator run")
    listing.set_defaults(run=remote.command(remote.list_tasks))

    tree = sub.add_parser(
        "tree",
        parents=[common],
        help="the orchestrator hierarchy below a run; with none named, every one, newest first",
    )
    options.task_or_run(tree)
    tree.add_argument(
        "--limit", type=options.integer, help="with no run named: how many (default 10)"
    )
    tree.set_defaults(run=remote.command(remote.tree))

    logs = sub.add_parser("logs", parents=[common], help="a run's agent log")
    options.task_or_run(logs)
    logs.add_argument("--limit", type=options.integer, help="how many entries (1-100, default 20)")
    logs.add_argument("--skip", type=options.integer, help="leave out this many first")
    logs.add_argument("--oldest-first", action="store_true", help="page from the oldest entry")
    logs.add_argument(
        "--follow",
        action="store_true",
        help="then print new entries as they come, until the run finishes (--json: one "
        "JSON entry a line)",
    )
    logs.set_defaults(run=remote.command(remote.logs))


def _add_config_command(sub: Any, common: argparse.ArgumentParser) -> None:
    config = sub.add_parser(
        "config", help="the Codegen token and org id, the webhook secret, the org webhook"
    )
    actions = config.add_subparsers(required=True, metavar="ACTION")
    keys = "api_token, org_id, webhook_secret or org_webhook"
    get = actions.add_parser("get", parents=[common], help="show one setting or all")
    get.add_argument("key", nargs="?", metavar="KEY", help=keys)
    get.set_defaults(run=remote.command(remote.config_get))
    put = actions.add_parser("set", parents=[common], help="set a setting")
    put.add_argument("key", metavar="KEY", help=keys)
    put.add_argument("value", metavar="VALUE", help="for org_webhook: a URL, or off")
    put.set_defaults(run=remote.command(remote.config_set))


def _process_count(text: str) -> int:
    """A number of server processes: a whole number of at least 1."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return count
