"""The options of the client commands: where the front is, the token, JSON, --wait, ...

--url, --token and --json are taken before the command name as well as after it.
"""

from __future__ import annotations

import argparse

GLOBAL_OPTIONS = ("url", "token", "json")


def integer(text: str) -> int:
    """An integer option of a client command, refused in the words the fronts use for it."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("Not a valid integer.") from None


def add_global_options(parser: argparse.ArgumentParser) -> None:
    """--url, --token and --json before the command (`codegen-mcp --url X list`) as well.

    They land under their own names (`global_url`, ...): argparse lets a subcommand's defaults
    overwrite what the main parser read, so the two places cannot share one name.
    """
    group = parser.add_argument_group("options of the client commands (also after the command)")
    group.add_argument("--url", dest="global_url", help="the web front", metavar="URL")
    group.add_argument("--token", dest="global_token", help="bearer token", metavar="TOKEN")
    group.add_argument("--json", dest="global_json", action="store_true", help="JSON answers")


def check_global_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse --url/--token/--json before a command that is not a client command (`up`, ...)."""
    given = [f"--{name}" for name in GLOBAL_OPTIONS if getattr(args, f"global_{name}", None)]
    if given and not getattr(args, "client_command", False):
        parser.error(
            "--url, --token and --json before the command go with the client commands (new, "
            "resume, status, list, tree, cancel, logs, config); "
            f"{', '.join(given)} does not apply here"
        )


def merge_global_options(args: argparse.Namespace) -> None:
    """The option after the command wins over the same option before it."""
    args.url = args.url or getattr(args, "global_url", None)
    args.token = args.token or getattr(args, "global_token", None)
    args.json = args.json or bool(getattr(args, "global_json", False))


def common_options() -> argparse.ArgumentParser:
    """The parent parser of every client command: --url, --token, --json."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        help="the web front (default CODEGEN_MCP_URL, else the one `codegen-mcp up` runs on "
        "this machine, else http://127.0.0.1:8080)",
    )
    common.add_argument("--token", help="bearer token (default CODEGEN_MCP_AUTH_TOKEN)")
    common.add_argument("--json", action="store_true", help="print the server's JSON answer")
    common.set_defaults(client_command=True)
    return common


def orchestrator_option(parser: argparse.ArgumentParser, text: str) -> None:
    """--orchestrator N (as `orchestrator_run_id`), described by `text`."""
    parser.add_argument(
        "--orchestrator", type=integer, dest="orchestrator_run_id", metavar="N", help=text
    )


def notify_options(parser: argparse.ArgumentParser) -> None:
    """--notify-url URL and --notify-events STATES (comma-separated: a list for the server)."""
    parser.add_argument(
        "--notify-url",
        metavar="URL",
        help="POST a signed event to this http(s) URL at each change of state (docs/webhooks.md)",
    )
    parser.add_argument(
        "--notify-events",
        metavar="STATES",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        help="with --notify-url: the states that send one, e.g. completed,failed (default all)",
    )


def task_or_run(parser: argparse.ArgumentParser) -> None:
    """A TASK_ID argument, or --run N naming an agent run instead."""
    parser.add_argument("task_id", nargs="?", metavar="TASK_ID")
    parser.add_argument(
        "--run", type=integer, dest="agent_run_id", metavar="N", help="an agent run id instead"
    )


def wait_options(parser: argparse.ArgumentParser) -> None:
    """--wait and --timeout SECONDS of the commands that can watch a task settle."""
    parser.add_argument(
        "--wait",
        action="store_true",
        help="watch until the task settles; exit 0 completed, 1 failed or cancelled, "
        "2 paused (needs input). Ctrl-C stops watching, never the run",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop waiting after this long, exit 124 (implies --wait)",
    )


def idempotency_option(parser: argparse.ArgumentParser) -> None:
    """--idempotency-key KEY of the commands that start a run (`idempotency_key`)."""
    parser.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="run the command again with the same KEY (e.g. a UUID) after a lost answer: "
        "within 24 h it answers with the first call's task and starts nothing",
    )
