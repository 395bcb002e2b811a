"""The message that resumes an orchestrator: its children's outcomes, clearly labelled."""

from __future__ import annotations

from typing import Any

from codegen_mcp.prompts import context_lines


def compose(children: list[dict[str, Any]], max_result: int) -> str:
    count = len(children)
    noun = "child agent run" if count == 1 else "child agent runs"
    parts = [
        f"codegen-mcp: {count} {noun} you started finished. "
        "Their outcomes, in the order their runs finished:"
    ]
    for index, child in enumerate(children, 1):
        parts.append(_section(index, child, max_result))
    return "\n\n".join(parts)


def _section(index: int, child: dict[str, Any], max_result: int) -> str:
    state = str(child.get("state") or "unknown").upper()
    run = child.get("agent_run_id")
    lines = [
        f"### {index}. Child task {child['task_id']} (agent run {run or 'never started'}): {state}"
    ]
    if child.get("web_url"):
        lines.append(f"Web: {child['web_url']}")
    for pr in child.get("pull_requests") or []:
        if pr.get("url"):
            lines.append(f"Pull request: {pr['url']}")
    lines += context_lines(child)  # what the child was asked to work on, as its prompt said
    if child.get("error"):
        lines.append(f"Error: {_cut(child['error'], max_result, child)}")
    if child.get("result"):
        label = "Question (the child waits for input)" if state == "PAUSED" else "Result"
        lines.append(f"{label}:\n{_cut(child['result'], max_result, child)}")
    elif not child.get("error"):
        lines.append("Result: (none)")
    return "\n".join(lines)


def _cut(text: str, limit: int, child: dict[str, Any]) -> str:
    if len(text) <= limit:
        return text
    where = child.get("web_url") or "codegen-mcp"
    return (
        f"{text[:limit]}\n[... cut at {limit} of {len(text)} characters; the full text is in "
        f"task_status of task {child['task_id']}, or at {where}]"
    )
