"""`codegen-mcp`: run the whole stack (`up`), the web or MCP front, or the simulator.

The user command line, one module per job: `parser` (the grammar), `options` (the options the
client commands share), `serve` (up, web, mcp, simulate: the servers on this machine), `remote`
(new, resume, status, list, tree, cancel, logs, config: commands sent to a running front over
`http`), `output` (readable answers) and `watch` (`--wait`, `logs --follow`).
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from codegen_mcp.cli import options
from codegen_mcp.cli.parser import build_parser
from codegen_mcp.errors import ConfigurationError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run one `codegen-mcp` command line (`sys.argv[1:]` by default); its exit code.

    A configuration problem prints one line to stderr and exits 2; Ctrl-C exits 130; a closed
    stdout (the reader of a pipe left) exits 141.
    """
    _honour_ctrl_c()
    parser = build_parser()
    args = parser.parse_args(argv)
    options.check_global_options(parser, args)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args) or 0)
    except ConfigurationError as exc:
        print(f"codegen-mcp: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_gone()


def _reader_gone() -> int:
    """stdout's reader left (`codegen-mcp list | head -1`): stop quietly, as a tool that
    SIGPIPE ends does (exit 141), not with a traceback. stdout goes to /dev/null so the
    interpreter's last flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return PIPE_CLOSED


PIPE_CLOSED = 128 + signal.SIGPIPE


def _honour_ctrl_c() -> None:
    """Ctrl-C (SIGINT) stops us even if we were started with it ignored.

    A non-interactive shell starts its background jobs (`cmd &`) with SIGINT ignored, and Python
    then never installs its KeyboardInterrupt handler: `--wait` could not be stopped (exit 130)
    and `kill -INT` would do nothing. Servers do the same (uvicorn, gunicorn, Celery install
    their handler whatever they inherit); to keep a command running past a terminal's Ctrl-C,
    start it in its own session (`setsid`).
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
