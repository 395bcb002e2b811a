"""A task keeps the organization it was started in.

Each task records the `org_id` in force when it was created, and a digest of the token (never
the token). Every call about the task (launch, watching, logs, cancel, the log read of its
finished-hook) goes to that organization, so a `config set org_id` affects new tasks only.
Tokens are not kept: a task's calls use the token in force now, and when that is another
token than the task started with, an error says so. A task recorded before this (no org_id)
uses the organization in force now.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from codegen_mcp.api.budget import token_key
from codegen_mcp.api.client import CodegenClient, Credentials
from codegen_mcp.services import Services
from codegen_mcp.store_codec import text


def current(services: Services, credentials: Credentials | None = None) -> dict[str, Any]:
    """What a new task records: the org id and the token digest in force now (NotConfigured
    when either is missing, before anything is recorded); `credentials` if just read."""
    credentials = credentials or services.config.credentials()
    return {"org_id": credentials.org_id, "token_key": token_key(credentials.token)}


def of_run(
    services: Services, run_id: int, credentials: Credentials | None = None
) -> dict[str, Any]:
    """What a task about run `run_id` records (a resume, a delivery): the organization the
    run is in as far as we know (run_org), else the one in force now; the token in force now."""
    pinned = current(services, credentials)
    org = run_org(services, run_id)
    return pinned if org is None else {**pinned, "org_id": org}


def run_org(services: Services, run_id: int) -> int | None:
    """The organization of run `run_id` as our tasks tell it: the newest task of the run, else
    (an orchestrator started elsewhere) its newest children, which it started while it ran."""
    store = services.store
    own = store.tasks_for_run(run_id)[::-1]
    children = [text(t) for t in store.redis.zrevrange(store.keys.orch(run_id), 0, 9)]
    for row in store.fields([*own, *children], "org_id"):
        if row["org_id"]:
            return int(row["org_id"])
    return None


def org_of(task: Mapping[str, Any]) -> int | None:
    """The organization `task` was started in; None for a task recorded before it was kept."""
    org = task.get("org_id")
    return int(org) if org not in (None, "") else None


def client_for(services: Services, task: Mapping[str, Any], *, max_wait: float) -> CodegenClient:
    """A client for calls about `task`: in the organization it was started in, with the token
    in force now (an error names the organization, and says when the token changed since)."""
    org = org_of(task)
    client = services.client(max_wait=max_wait, org_id=org)
    started_with = task.get("token_key")
    what = f"task {task['task_id']}" if task.get("task_id") else "its run"
    where = f"{what} was started in organization {client.credentials.org_id}"
    if started_with and started_with != token_key(client.credentials.token):
        client.context = (
            f" ({where} with another api_token, which codegen-mcp does not keep: the "
            "api_token in force now must be able to act in that organization)"
        )
    elif org is not None and org != services.config.get("org_id").value:
        client.context = f" ({where}, and is followed there)"
    return client


def client_for_run(services: Services, run_id: int, *, max_wait: float) -> CodegenClient:
    """A client for calls about run `run_id`: as for its newest task (client_for), or in the
    organization run_org tells for a run we did not start."""
    newest = services.store.get_many(services.store.tasks_for_run(run_id)[-1:])
    task = newest[0] if newest and newest[0] and newest[0].get("org_id") else None
    return client_for(services, task or {"org_id": run_org(services, run_id)}, max_wait=max_wait)
