"""The `tree` command: the orchestrator hierarchy below a run, read from the task store alone."""

from __future__ import annotations

from typing import Any

from codegen_mcp import answers, retention, schemas
from codegen_mcp.answers import Tree
from codegen_mcp.errors import InvalidRequest, NotFound
from codegen_mcp.services import Services
from codegen_mcp.store import TaskStore

MAX_DEPTH = 10
SUMMARY = 200


def tree(services: Services, args: dict[str, Any]) -> Tree:
    """The orchestrator hierarchy below a run: states, result summaries, deliveries; with
    no run or task named, every hierarchy, newest first."""
    if "agent_run_id" not in args and "task_id" not in args:
        return answers.trees(roots(services.store, limit=args.get("limit", schemas.DEFAULT_TREES)))
    return answers.tree(
        build(services.store, agent_run_id=args.get("agent_run_id"), task_id=args.get("task_id"))
    )


def roots(store: TaskStore, *, limit: int) -> list[dict[str, Any]]:
    """Every hierarchy: the orchestrators that report to no one, each with the runs below it,
    the one whose first child came last first, at most `limit` of them."""
    found: list[dict[str, Any]] = []
    start = 0
    while len(found) < limit:
        batch = _orchestrators_newest(store, start, 100)
        if not batch:
            break
        start += len(batch)
        for run_id in batch:
            if len(found) < limit and not _reports_to_someone(store, run_id):
                found.append(_run_node(store, run_id, depth=0, seen=set(), via=None))
    return found


def _reports_to_someone(store: TaskStore, run_id: int) -> bool:
    rows = store.fields(store.tasks_for_run(run_id), "orchestrator_run_id")
    return any(row["orchestrator_run_id"] for row in rows)


def _orchestrators_newest(store: TaskStore, start: int, count: int) -> list[int]:
    index = store.keys.orchestrators()
    if start == 0 and store.redis.set(store.keys.orchestrators_indexed(), "1", nx=True):
        _index_orchestrators(store)
    return [int(run_id) for run_id in store.redis.zrevrange(index, start, start + count - 1)]


def _index_orchestrators(store: TaskStore) -> None:
    """Index the orchestrators of a store written before the index existed (once)."""
    head = store.keys.orch("")
    for key in store.redis.scan_iter(match=head + "*", count=500):
        first = store.redis.zrange(key, 0, 0, withscores=True)
        if first:
            run_id = (key.decode() if isinstance(key, bytes) else str(key))[len(head) :]
            store.redis.zadd(store.keys.orchestrators(), {run_id: first[0][1]}, nx=True)


def build(
    store: TaskStore, *, agent_run_id: int | None = None, task_id: str | None = None
) -> dict[str, Any]:
    """The hierarchy below one run, named by its id or by one of its tasks."""
    if (agent_run_id is None) == (task_id is None):
        raise InvalidRequest(
            "give exactly one of agent_run_id or task_id", details={"field": "agent_run_id"}
        )
    if task_id is not None:
        task = store.get(task_id)
        if task is None:
            raise _not_found(store, task_id)
        if task.get("agent_run_id") is None:
            return _task_node(store, task, depth=0, seen=set())
        agent_run_id = int(task["agent_run_id"])
    assert agent_run_id is not None
    if not store.tasks_for_run(agent_run_id) and not store.redis.exists(
        store.keys.orch(agent_run_id), store.keys.gone(agent_run_id)
    ):
        raise NotFound(
            f"codegen-mcp tracks nothing about agent run {agent_run_id}",
            details={"field": "agent_run_id"},
        )
    return _run_node(store, agent_run_id, depth=0, seen=set(), via=None)


def _run_node(
    store: TaskStore, run_id: int, *, depth: int, seen: set[int], via: dict[str, Any] | None
) -> dict[str, Any]:
    seen.add(run_id)
    tasks = [t for t in store.get_many(store.tasks_for_run(run_id)) if t]
    owner = tasks[-1] if tasks else None
    node: dict[str, Any] = {
        "agent_run_id": run_id,
        "task_id": owner["task_id"] if owner else None,
        "state": owner["state"] if owner else "untracked",
        "codegen_status": owner.get("api_status") if owner else None,
        "summary": _summary(owner),
        "web_url": owner.get("web_url") if owner else None,
        "tasks": [t["task_id"] for t in tasks],
    }
    if via is not None:
        node["delivery"] = answers.delivery(via)
    node["children"] = _children(store, run_id, depth=depth, seen=seen) if depth < MAX_DEPTH else []
    return node


def _children(store: TaskStore, run_id: int, *, depth: int, seen: set[int]) -> list[dict[str, Any]]:
    child_ids = [str(t) for t in store.redis.zrange(store.keys.orch(run_id), 0, -1)]
    nodes: list[dict[str, Any]] = []
    latest: dict[int, dict[str, Any]] = {}
    for child in store.get_many(child_ids):
        if child is None or (child.get("command") == "resume" and child.get("delivers")):
            continue  # a delivery to this run's orchestrator, not a child of it
        if child.get("agent_run_id") is None:
            nodes.append(_task_node(store, child, depth=depth + 1, seen=seen))
        else:
            latest[int(child["agent_run_id"])] = child  # newest child task of each run wins
    for child_run, child in latest.items():
        if child_run in seen or child_run == run_id:
            continue
        nodes.append(_run_node(store, child_run, depth=depth + 1, seen=seen, via=child))
    return nodes + retention.removed_children(store, run_id)


def _not_found(store: TaskStore, task_id: str) -> NotFound:
    when = retention.removed_at(store, task_id)
    if when is None:
        return NotFound(f"no task with id {task_id!r}", details={"field": "task_id"})
    return NotFound(
        f"task {task_id!r} was removed at {when} (CODEGEN_MCP_RETENTION_DAYS)",
        details={"field": "task_id", "removed_at": when},
    )


def _task_node(
    store: TaskStore, task: dict[str, Any], *, depth: int, seen: set[int]
) -> dict[str, Any]:
    node = {
        "agent_run_id": None,
        "task_id": task["task_id"],
        "state": task["state"],
        "codegen_status": task.get("api_status"),
        "summary": _summary(task),
        "web_url": None,
        "tasks": [task["task_id"]],
        "children": [],
    }
    if task.get("orchestrator_run_id") is not None:
        node["delivery"] = answers.delivery(task)
    return node


def _summary(task: dict[str, Any] | None) -> str | None:
    if not task:
        return None
    text = task.get("result") or task.get("error")
    if not text:
        return None
    text = " ".join(str(text).split())
    return text if len(text) <= SUMMARY else text[: SUMMARY - 3] + "..."
