"""Secrets (the Codegen token, the auth token, the webhook secret, the Redis password)
never reach a log.

Every process (web, worker, beat, MCP) installs `MaskSecrets` once; every token it learns
(from Settings, or read from the runtime config) is remembered, and from then on any log
record that quotes one (in its message, its arguments, an exception's text or repr, a
traceback) shows the mask instead. The filter runs where every record is made, not on
handlers: Celery, gunicorn and the MCP SDK each set up handlers of their own, at times of
their own choosing, and a record must be clean whichever handler writes it.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any
from urllib.parse import urlsplit

from codegen_mcp.settings import Settings

MIN_LENGTH = 8  # shorter strings are too common in ordinary text to mask safely
SHOWN = 4
_lock = threading.Lock()
_installed: list[bool] = []
# (form, mask) pairs, longest form first; replaced whole (never changed in place), so a
# record made on one thread can read it while another thread remembers a new secret.
_replacements: tuple[tuple[str, str], ...] = ()


def mask(token: str) -> str:
    """A fixed-width stand-in: "…" and the last 4 characters (only "…" for a short token),
    so the mask does not tell how long the token is."""
    return "…" + token[-SHOWN:] if len(token) >= 3 * SHOWN else "…"


def remember(*secrets: str | None) -> None:
    """From now on, logs of this process show these strings masked."""
    global _replacements
    fresh = {
        (form, mask(value))
        for value in secrets
        if value and len(value) >= MIN_LENGTH
        for form in _forms(value)
    }
    with _lock:
        if not fresh <= set(_replacements):
            merged = fresh | set(_replacements)
            _replacements = tuple(sorted(merged, key=lambda pair: -len(pair[0])))


def scrub(text: str) -> str:
    """`text` with every remembered secret (as written, or as a repr or JSON quotes it)
    replaced by its mask."""
    for form, shown in _replacements:
        if form in text:
            text = text.replace(form, shown)
    return text


def _forms(value: str) -> set[str]:
    return {value, repr(value)[1:-1], ascii(value)[1:-1], json.dumps(value)[1:-1]}


class MaskSecrets(logging.Filter):
    """Rewrites a record so that no remembered secret is in what any handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Let every record through with the secrets in its message, traceback and stack replaced; a
        record whose message cannot be built passes unchanged."""
        if not _replacements:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken log call: logging reports it, with what it was given
            return True
        if scrub(message) != message:
            _scrub_message(record, message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


def _scrub_message(record: logging.LogRecord, message: str) -> None:
    """The record's message without secrets, keeping its arguments' shape when scrubbing them
    one by one is enough (formatters such as uvicorn's access log read `args` as a tuple);
    else the message made whole, and no arguments."""
    if isinstance(record.msg, str) and isinstance(record.args, tuple):
        msg = scrub(record.msg)
        args = tuple(scrub(arg) if isinstance(arg, str) else arg for arg in record.args)
        try:
            if scrub(made := msg % args if args else msg) == made:
                record.msg, record.args = msg, args
                return
        except (TypeError, ValueError):
            pass
    record.msg, record.args = scrub(message), ()


def install(settings: Settings | None = None, redis_url: str | None = None) -> None:
    """Mask every log record this process makes (once per process), and remember the
    secrets `settings` and `redis_url` hold."""
    if settings is not None:
        remember(settings.api_token, settings.auth_token, _password(settings.redis_url))
        remember(settings.webhook_secret)
        remember(settings.redis_sentinel_password)
    remember(_password(redis_url))
    with _lock:
        if _installed:
            return
        _installed.append(True)
        make = logging.getLogRecordFactory()
        masking = MaskSecrets()

        def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make(*args, **kwargs)
            masking.filter(record)
            return record

        logging.setLogRecordFactory(masked_record)


def _password(url: str | None) -> str | None:
    try:
        return urlsplit(url).password if url else None
    except ValueError:
        return None
