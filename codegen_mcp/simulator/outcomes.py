"""What a finished run says: its `result` and `summary` for each final status."""

from __future__ import annotations

from dataclasses import dataclass

from codegen_mcp.simulator.directives import strip_directives
from codegen_mcp.simulator.statuses import FAILED

CREATE = "create"
FOLLOW_UP = "follow-up"


@dataclass(frozen=True)
class Round:
    """What the agent is working on in one round, so the result it ends with can mention it."""

    note: str
    kind: str = CREATE
    # A result forced by the caller (transition/reopen), used verbatim when the round ends.
    result: str | None = None


def first_line(text: str, width: int = 80) -> str:
    """The first line that says what to do: headings ("Context:") and list items are skipped,
    as an agent would read past a context block to the request."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    line = next((ln for ln in lines if not ln.endswith(":") and not ln.startswith("- ")), "")
    line = line or (lines[0] if lines else "")
    return line if len(line) <= width else line[: width - 1] + "…"


def result_for(status: str, work: Round, pr_url: str | None) -> str | None:
    """The result text a run shows once it reaches `status` after `work`; None for a status that
    carries none."""
    if work.result is not None:
        return work.result
    if status == "COMPLETE":
        return _complete_text(work, pr_url)
    if status == "PAUSED":
        return (
            f'Before I continue with "{work.note}": should I change the existing '
            "behaviour or add this behind a new option? Reply to resume me."
        )
    return None  # failed and cancelled runs carry no result, only a summary


def summary_for(status: str, work: Round) -> str | None:
    """The one-line summary a run shows once it reaches `status` after `work`; None while it is
    still working."""
    if status == "COMPLETE":
        prefix = "Follow-up done" if work.kind == FOLLOW_UP else "Completed"
        return f"{prefix}: {work.note}"
    if status == "PAUSED":
        return "Waiting for your answer before continuing."
    if status == "ERROR":
        return "Agent failed: simulated error"
    if status in FAILED:
        return f"Agent stopped: {status}"
    if status == "CANCELLED":
        return "Agent run was cancelled."
    return None


def _complete_text(work: Round, pr_url: str | None) -> str:
    pr = f" ({pr_url})" if pr_url else ""
    if work.kind == FOLLOW_UP:
        return (
            f"Follow-up: {work.note}\n\n"
            f"I addressed the follow-up and pushed the changes to the same pull request{pr}.\n"
        )
    return (
        f"## Done: {work.note}\n\n"
        f"I made the requested change and opened a pull request{pr}.\n\n"
        "- Read the relevant code\n- Implemented the change\n- Ran the test suite\n"
    )


def note_for(prompt: str, fallback: str) -> str:
    """What a run is about, in one line: the prompt's first line without directives, else
    `fallback`."""
    return first_line(strip_directives(prompt)) or fallback
