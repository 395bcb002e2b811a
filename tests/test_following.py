"""The worker logic behind following a run and delivering once, called directly on a real
Redis (no worker, no API call): what observe, delivery and the tree promise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codegen_mcp.api.models import PullRequest, Run
from codegen_mcp.commands import tree
from codegen_mcp.services import Services
from codegen_mcp.states import State
from codegen_mcp.store import now_iso
from tests.support import fast_settings, wait_for
from workers import delivery, launch, observe

RUN = 52000


@pytest.fixture
def services(redis_url: str, tmp_path: Path) -> Iterator[Services]:
    # No API is called here: the base URL only has to be well formed.
    own = Services(fast_settings(redis_url, "http://127.0.0.1:9", tmp_path), redis_url)
    yield own
    own.redis.close()


def _running(services: Services, command: str, run_id: int = RUN, **fields: Any) -> str:
    store = services.store
    task_id = store.create({"command": command, "query": "q", "agent_run_id": run_id, **fields})
    store.attach_run(task_id, run_id)
    observe.start(services, store.get(task_id) or {}, Run(id=run_id, status="ACTIVE"))
    return task_id


def test_a_paused_task_follows_the_run_its_answer_moved_on(services: Services) -> None:
    store = services.store
    asker = _running(services, "new", repo="acme/demo")
    observe.apply(services, asker, Run(id=RUN, status="PAUSED", result="Which database?"))
    assert (store.get(asker) or {})["state"] == "paused"
    answer = _running(services, "resume")  # the answer's resume reaches the run: ACTIVE
    assert (store.get(asker) or {})["state"] == "running"
    watched = [task_id for task_id, _ in store.watched()]
    assert asker in watched and answer in watched
    for task_id in watched:  # as the sweep does: every watched task of the run hears
        observe.apply(services, task_id, Run(id=RUN, status="COMPLETE", result="Used Postgres."))
    for task_id in (answer, asker):
        task = store.get(task_id) or {}
        assert (task["state"], task["result"]) == ("completed", "Used Postgres.")
    assert asker not in store.in_state(State.PAUSED)


def test_a_following_task_ends_when_the_answering_task_sees_the_run_end(
    services: Services,
) -> None:
    """A run webhook reaches the newest task's address only, and its confirming read applies
    to that task: the task that asked follows at once, not a covered sweep (50 s) later."""
    store = services.store
    asker = _running(services, "new", repo="acme/demo")
    observe.apply(services, asker, Run(id=RUN, status="PAUSED", result="Which database?"))
    answer = _running(services, "resume")
    assert (store.get(asker) or {})["state"] == "running"  # following the run
    observe.apply(services, answer, Run(id=RUN, status="COMPLETE", result="Used Postgres."))
    task = store.get(asker) or {}
    assert (task["state"], task["result"]) == ("completed", "Used Postgres.")


def test_a_finished_task_keeps_its_outcome_when_a_resume_takes_the_run_over(
    services: Services,
) -> None:
    store = services.store
    first = _running(services, "new", repo="acme/demo")
    observe.apply(services, first, Run(id=RUN, status="COMPLETE", result="Plan ready."))
    _running(services, "resume")
    task = store.get(first) or {}
    assert (task["state"], task["result"]) == ("completed", "Plan ready.")


def test_delivered_keeps_the_first_delivery_time(services: Services) -> None:
    store = services.store
    child = _running(services, "new", run_id=RUN + 1, orchestrator_run_id=RUN)
    store.update(child, delivery_seq=1, delivery_state="pending")  # accepted in the inbox
    resume = store.create(
        {
            "command": "resume",
            "agent_run_id": RUN,
            "query": "results",
            "delivers": [{"task_id": child, "seq": 1, "at": 1.0}],
        }
    )
    resume_task = store.get(resume) or {}
    delivery.delivered(services, resume_task)
    first = (store.get(child) or {})["delivered_at"]
    wait_for(lambda: now_iso() != first, what="the clock to move on")
    delivery.delivered(services, resume_task)  # the finished-hook heals a launch: twice is fine
    assert (store.get(child) or {})["delivered_at"] == first


def test_a_runs_repository_comes_from_its_metadata_or_its_pull_request() -> None:
    tagged = Run(id=1, status="COMPLETE", metadata={"repo": "acme/web"})
    assert launch.repo_of(tagged) == "acme/web"
    pr = PullRequest(url="https://github.com/acme/infra/pull/7")
    assert launch.repo_of(Run(id=2, status="COMPLETE", pull_requests=(pr,))) == "acme/infra"
    assert launch.repo_of(Run(id=3, status="COMPLETE")) is None


def test_the_tree_without_a_run_lists_roots_only_newest_first(services: Services) -> None:
    store = services.store
    top = _running(services, "new", run_id=RUN + 10)
    middle = _running(services, "new", run_id=RUN + 11, orchestrator_run_id=RUN + 10)
    _running(services, "new", run_id=RUN + 12, orchestrator_run_id=RUN + 11)
    other = _running(services, "new", run_id=RUN + 20, orchestrator_run_id=RUN + 30)
    answer = tree.roots(store, limit=10)
    assert [node["agent_run_id"] for node in answer] == [RUN + 30, RUN + 10]
    assert answer[0]["state"] == "untracked" and answer[0]["children"][0]["task_id"] == other
    [middle_node] = answer[1]["children"]
    assert middle_node["task_id"] == middle and len(middle_node["children"]) == 1
    assert [node["agent_run_id"] for node in tree.roots(store, limit=1)] == [RUN + 30]
    assert top in answer[1]["tasks"]
