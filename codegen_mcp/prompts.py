"""What we send upstream: the prompt in a stated form, and the run's metadata.

The agent reads the context block; tools and people read the metadata. The metadata also
carries our task id, the correlation id that lets a retried launch find a run it may
already have created (create is not idempotent).
"""

from __future__ import annotations

from typing import Any

CORRELATION_KEY = "codegen_mcp_task_id"


def context_lines(task: dict[str, Any]) -> list[str]:
    """The task's context (repo, branch, PR, task type) as prompt lines; only what the task has."""
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
    """The prompt that starts a task's agent run: its context, if any, then the query."""
    lines = context_lines(task)
    header = "Context:\n" + "\n".join(lines) + "\n\n" if lines else ""
    return f"{header}{task['query']}"


def resume_marker(task_id: str) -> str:
    """A line that identifies this resume in the run's log (USER_MESSAGE entries)."""
    return f"[codegen-mcp task {task_id}]"


def resume_prompt(task: dict[str, Any]) -> str:
    """The follow-up prompt for a resumed task, ending in the marker that ties the run's reply to
    this task."""
    stated = task.get("task_type") and not task.get("delivers")  # a delivery speaks for itself
    head = f"Task type: {task['task_type']}\n\n" if stated else ""
    return f"{head}{task['query']}\n\n{resume_marker(task['task_id'])}"


def run_metadata(task: dict[str, Any]) -> dict[str, Any]:
    """The metadata sent with a new run: our source, the task id that correlates the run with its
    task, and the context fields the task has."""
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
