"""`[sim:...]` directives: how a prompt scripts the run it starts.

Demos and other processes only have prompts to steer a run with, so the outcome and timings
are written into the prompt itself, e.g. `Fix the login bug [sim:error] [sim:active=0.5]`.
They work in create and resume prompts alike and combine freely:

    [sim:complete]          finish COMPLETE (the default) with a result and one pull request
    [sim:error]             finish ERROR: no result, summary "Agent failed: simulated error"
    [sim:status=TIMEOUT]    finish in any status; an unknown word (WEIRD_NEW) is held forever
    [sim:paused]            finish PAUSED with a question in the result
    [sim:stuck]             stay ACTIVE forever
    [sim:slow]              ten times the default ACTIVE time
    [sim:active=2.5]        seconds ACTIVE
    [sim:eval=0]            seconds in EVALUATION (0 skips it)
    [sim:pending=1]         start PENDING for that long
    [sim:reopen=3]          3 s after COMPLETE, reopen by itself (a PR comment), then complete again

Unknown directives and malformed numbers are ignored, never an error: a demo prompt must not
fail because of a typo in its script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

DIRECTIVE = re.compile(r"\[sim:([a-z_]+)(?:=([^\]]*))?\]", re.IGNORECASE)
SLOW_FACTOR = 10.0


@dataclass(frozen=True)
class Script:
    """One round of work: PENDING, then ACTIVE, then EVALUATION, then `final`."""

    active: float
    evaluation: float
    pending: float = 0.0
    # None: the run never leaves its in-progress status on its own.
    final: str | None = "COMPLETE"
    # Seconds after COMPLETE at which the run reopens by itself (a PR comment), once.
    reopen_after: float | None = None


def parse_script(prompt: str, active: float, evaluation: float) -> Script:
    """The script a prompt asks for; without directives, the default timings and COMPLETE."""
    directives = [(name.lower(), value.strip()) for name, value in DIRECTIVE.findall(prompt)]
    script = Script(active=active, evaluation=evaluation)
    for name, value in directives:
        script = _apply(script, name, value)
    # [sim:slow] scales the default time; an explicit [sim:active=...] wins over it.
    names = {name for name, _ in directives}
    if "slow" in names and "active" not in names:
        script = replace(script, active=active * SLOW_FACTOR)
    return script


def strip_directives(prompt: str) -> str:
    """The prompt without the simulator's test directives, as the agent would read it."""
    return DIRECTIVE.sub("", prompt).strip()


def _apply(script: Script, name: str, value: str) -> Script:
    if name in ("complete", "error", "paused"):
        return replace(script, final={"complete": "COMPLETE", "error": "ERROR"}.get(name, "PAUSED"))
    if name == "stuck":
        return replace(script, final=None)
    if name == "status" and value:
        word = value.upper()
        return replace(script, final=None if word == "ACTIVE" else word)
    seconds = _seconds(value)
    if seconds is None:
        return script  # a malformed number is ignored rather than failing the create
    if name == "active":
        return replace(script, active=seconds)
    if name == "eval":
        return replace(script, evaluation=seconds)
    if name == "pending":
        return replace(script, pending=seconds)
    if name == "reopen":
        return replace(script, reopen_after=seconds)
    return script


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
