"""How a stored task is shown to users: the seed's task_status shape, and a list row."""

from __future__ import annotations

from typing import Any

from codegen_mcp.tree import delivery_view

METADATA_FIELDS = ("repo", "branch", "pr", "orchestrator_run_id")


def task_status(task: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"command": task.get("command"), "task_type": task.get("task_type")}
    metadata.update({name: task[name] for name in METADATA_FIELDS if task.get(name) is not None})
    if task.get("command") == "resume":
        metadata["resumed_run_id"] = task.get("agent_run_id")
    if task.get("delivers"):
        metadata["delivered_children"] = [entry["task_id"] for entry in task["delivers"]]
    view = {
        "task_id": task["task_id"],
        "agent_run_id": task.get("agent_run_id"),
        "state": task["state"],
        "result": task.get("result"),
        "error": task.get("error"),
        "created_at": task.get("created_at"),
        "started_at": task.get("started_at"),
        "completed_at": task.get("completed_at"),
        "web_url": task.get("web_url"),
        "codegen_status": task.get("api_status"),
        "pull_requests": task.get("pull_requests") or [],
        "query": task.get("query"),
        "metadata": metadata,
    }
    if task.get("finished_at"):
        view["finished_at"] = task["finished_at"]  # the run's own end, from its log
    if task["state"] == "paused" and task.get("last_message"):
        view["last_message"] = task["last_message"]  # what the agent asks
    for name in ("cancel_scope", "cancel_note"):
        if task.get(name):
            view[name] = task[name]
    if task.get("orchestrator_run_id") is not None:
        view["orchestrator_run_id"] = task["orchestrator_run_id"]
        view["delivery"] = delivery_view(task)
    return view


def list_row(task: dict[str, Any]) -> dict[str, Any]:
    query = task.get("query") or ""
    return {
        "task_id": task["task_id"],
        "command": task.get("command"),
        "state": task["state"],
        "agent_run_id": task.get("agent_run_id"),
        "repo": task.get("repo"),
        "task_type": task.get("task_type"),
        "orchestrator_run_id": task.get("orchestrator_run_id"),
        "codegen_status": task.get("api_status"),
        "web_url": task.get("web_url"),
        "created_at": task.get("created_at"),
        "completed_at": task.get("completed_at"),
        "query": query if len(query) <= 120 else query[:117] + "...",
    }
