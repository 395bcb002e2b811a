"""Secrets never reach a log, and masking breaks no log line: a record that quotes no secret
keeps its arguments, which formatters such as uvicorn's access log read as a tuple."""

from __future__ import annotations

import logging

from uvicorn.logging import AccessFormatter

from codegen_mcp import secret

TOKEN = "sk-masking-test-0123456789abcdef"


def record(msg: str, *args: object, name: str = "test") -> logging.LogRecord:
    made = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)
    secret.MaskSecrets().filter(made)
    return made


def test_a_secret_in_a_message_or_its_arguments_is_masked() -> None:
    secret.remember(TOKEN)
    quoted = record("calling with %s and %d", TOKEN, 3)
    assert TOKEN not in quoted.getMessage()
    assert quoted.getMessage() == f"calling with {secret.mask(TOKEN)} and 3"
    inline = record(f"token={TOKEN!r} in %s", "text")
    assert TOKEN not in inline.getMessage() and inline.getMessage().endswith("in text")
    hidden = record("headers %s", {"Authorization": f"Bearer {TOKEN}"})  # not a string arg
    assert TOKEN not in hidden.getMessage() and hidden.args == ()


def test_uvicorns_access_lines_keep_their_arguments_once_a_secret_is_known() -> None:
    """Every access line failed ("not enough values to unpack") once a token was remembered:
    the mask emptied `args` of every record, secret or not."""
    secret.remember(TOKEN)
    access = ("127.0.0.1:5000", "POST", "/mcp", "1.1", 200)
    line = record('%s - "%s %s HTTP/%s" %d', *access, name="uvicorn.access")
    assert line.args == access
    formatted = AccessFormatter('%(client_addr)s "%(request_line)s" %(status_code)s').format(line)
    assert formatted.startswith('127.0.0.1:5000 "POST /mcp HTTP/1.1" 200')
    leaked = record('%s - "%s %s HTTP/%s" %d', "1.2.3.4:1", "GET", f"/?t={TOKEN}", "1.1", 200)
    assert TOKEN not in leaked.getMessage() and len(leaked.args or ()) == 5
