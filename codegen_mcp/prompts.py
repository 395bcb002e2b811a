"""What we send upstream: every prompt in a stated form (new runs, resumes, the results
delivered to an orchestrator), and the run's metadata.

The agent reads the context block; tools and people read the metadata. The metadata also
carries our task id, the correlation id that lets a retried launch find a run it may
already have created (create is not idempotent).
"""

from __future__ import annotations

from typing import Any

CORRELATION_KEY = "codegen_mcp_task_id"


def context_lines(task: dict[str, Any]) -> list[str]:
    """The stated context of a task (repository, branch, PR, type), one line each."""
    lines = []
    if task.get("repo"):
        lines.append(f"- Repository: {task['repo']}")
    if task.get("branch"):
        lines.append(f"- Branch: {task['branch']}")
    if task.get("pr"):
        lines.append(f"- Pull request: #{task['pr']}")
    if task.get("task_type"):
        lines.append(f"- Task type: {task['task_type']}")
    return lines


def new_prompt(task: dict[str, Any]) -> str:
    """The prompt of a new run: the context block, then the query as the user wrote it."""
    lines = context_lines(task)
    header = "Context:\n" + "\n".join(lines) + "\n\n" if lines else ""
    return f"{header}{task['query']}"


def resume_marker(task_id: str) -> str:
    """A line that identifies this resume in the run's log (USER_MESSAGE entries)."""
    return f"[codegen-mcp task {task_id}]"


def resume_prompt(task: dict[str, Any]) -> str:
    """The message of a resume: its task type when stated, the query, then our marker."""
    stated = task.get("task_type") and not task.get("delivers")  # a delivery speaks for itself
    head = f"Task type: {task['task_type']}\n\n" if stated else ""
    return f"{head}{task['query']}\n\n{resume_marker(task['task_id'])}"


def run_metadata(task: dict[str, Any]) -> dict[str, Any]:
    """The metadata a new run carries, our task id (the correlation id) included."""
    metadata = {
        "source": "codegen-mcp",
        CORRELATION_KEY: task["task_id"],
        "repo": task.get("repo"),
        "branch": task.get("branch"),
        "pr": task.get("pr"),
        "task_type": task.get("task_type"),
        "orchestrator_run_id": task.get("orchestrator_run_id"),
    }
    return {name: value for name, value in metadata.items() if value is not None}


# -- the message that delivers children's outcomes to their orchestrator ------------------
def delivery_prompt(children: list[dict[str, Any]], max_result: int) -> str:
    """The message that resumes an orchestrator: each child's outcome, labelled, in the
    order given, each result cut at `max_result` characters with a pointer to the rest."""
    count = len(children)
    noun = "child agent run" if count == 1 else "child agent runs"
    parts = [
        f"codegen-mcp: {count} {noun} you started finished. "
        "Their outcomes, in the order their runs finished:"
    ]
    for index, child in enumerate(children, 1):
        parts.append(_child_section(index, child, max_result))
    return "\n\n".join(parts)


def _child_section(index: int, child: dict[str, Any], max_result: int) -> str:
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
