"""`observe`, the one place where what the API says about a run becomes a task state:
called directly on a real Redis (no worker), as the sweep and the launcher call it."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codegen_mcp import queue
from codegen_mcp.api.models import PullRequest, Run
from codegen_mcp.services import Services
from codegen_mcp.states import State
from tests.support import fast_settings
from workers import observe

RUN = 4242


@pytest.fixture
def services(redis_url: str, tmp_path: Path) -> Iterator[Services]:
    """Services on the real Redis; no API is called here (nothing listens on port 9)."""
    built = Services(fast_settings(redis_url, "http://127.0.0.1:9", tmp_path), redis_url)
    yield built
    built.queue.app.close()
    built.redis.close()


def sent(services: Services) -> list[tuple[str, list[Any]]]:
    """The Celery messages sent so far (name, args), oldest first, read off the broker."""
    raw = services.redis.lrange(services.settings.key_prefix, 0, -1)
    messages = [json.loads(m) for m in reversed(raw)]
    return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0]) for m in messages]


def finished(services: Services, task_id: str) -> list[int]:
    """The outcome numbers announced to the finished-hook for `task_id`."""
    return [
        args[1] for name, args in sent(services) if name == queue.FINISHED and args[0] == task_id
    ]


def task(services: Services, task_id: str) -> dict[str, Any]:
    found = services.store.get(task_id)
    assert found is not None
    return found


def started(services: Services, run: Run, **fields: Any) -> str:
    """A task whose launcher has just created (or resumed) `run`."""
    task_id = services.store.create({"repo": "acme/demo", "query": "q", **fields})
    observe.start(services, task(services, task_id), run)
    return task_id


def resumed(services: Services, previous: Run) -> str:
    """A resume of a run whose previous outcome was `previous`, as the launcher records it."""
    return started(
        services,
        previous,
        command="resume",
        agent_run_id=RUN,
        baseline_status=previous.status,
        baseline_result=observe.digest(previous.result),
    )


def completed(services: Services, result: str) -> str:
    task_id = started(services, Run(RUN, "ACTIVE"))
    assert observe.apply(services, task_id, Run(RUN, "COMPLETE", result=result))
    return task_id


def test_a_completed_run_seen_active_again_reopens_the_task_as_a_new_outcome(
    services: Services,
) -> None:
    task_id = completed(services, "first")
    services.store.update(task_id, finished_at="2026-01-01T00:00:00Z")  # as the hook reads it
    first = task(services, task_id)
    assert (first["state"], first["outcome_seq"]) == ("completed", 1)

    assert observe.apply(services, task_id, Run(RUN, "ACTIVE"))

    reopened = task(services, task_id)
    assert reopened["state"] == "running"
    assert reopened["reopen_count"] == 1
    assert reopened["seen_active"] == "1"
    assert not {"completed_at", "finished_at"} & reopened.keys()
    assert float(reopened["started_ts"]) > float(first["started_ts"])  # the cap restarts
    assert [t for t, _ in services.store.watched()] == [task_id]

    assert observe.apply(services, task_id, Run(RUN, "COMPLETE", result="second"))
    again = task(services, task_id)
    assert (again["state"], again["result"], again["outcome_seq"]) == ("completed", "second", 2)
    assert finished(services, task_id) == [1, 2]


def test_a_settled_run_seen_again_changes_nothing_and_announces_nothing(
    services: Services,
) -> None:
    task_id = completed(services, "done")
    before = services.redis.hgetall(services.store.keys.task(task_id))

    assert not observe.apply(services, task_id, Run(RUN, "COMPLETE", result="done"))

    assert services.redis.hgetall(services.store.keys.task(task_id)) == before
    assert finished(services, task_id) == [1]


def test_a_run_that_reopened_and_finished_between_two_looks_is_a_new_outcome(
    services: Services,
) -> None:
    task_id = completed(services, "first")

    assert observe.apply(services, task_id, Run(RUN, "COMPLETE", result="second"))

    again = task(services, task_id)
    assert (again["state"], again["result"], again["outcome_seq"]) == ("completed", "second", 2)
    assert finished(services, task_id) == [1, 2]


def test_a_look_read_before_the_user_cancelled_does_not_undo_the_cancel(
    services: Services,
) -> None:
    task_id = completed(services, "first")
    read_early = task(services, task_id)  # a slow sweep read the task here
    observe.apply(services, task_id, Run(RUN, "ACTIVE"))  # a faster look re-opened it
    cancel = services.store.transition(
        task_id, State.CANCELLED, allowed=[State.RUNNING], cancel_scope="local"
    )  # as `cancel` records it
    assert cancel.applied

    observe.apply(services, task_id, Run(RUN, "ACTIVE"), read_early)

    now = task(services, task_id)
    assert (now["state"], now["reopen_count"]) == ("cancelled", 1)


def test_a_stale_look_after_a_resume_does_not_move_the_task_back(services: Services) -> None:
    previous = Run(RUN, "COMPLETE", result="the earlier answer")
    task_id = resumed(services, previous)  # the API still shows the earlier outcome

    assert not observe.apply(services, task_id, previous)

    assert task(services, task_id)["state"] == "running"
    assert services.store.outbox() == [] and finished(services, task_id) == []
    assert observe.apply(services, task_id, Run(RUN, "COMPLETE", result="the new answer"))
    now = task(services, task_id)
    assert (now["state"], now["result"], now["outcome_seq"]) == ("completed", "the new answer", 1)


def test_after_a_resume_was_seen_active_the_same_answer_is_its_outcome(
    services: Services,
) -> None:
    previous = Run(RUN, "COMPLETE", result="same answer")
    task_id = resumed(services, previous)
    observe.apply(services, task_id, Run(RUN, "ACTIVE"))

    assert observe.apply(services, task_id, previous)

    assert task(services, task_id)["state"] == "completed"


def test_a_look_like_the_earlier_outcome_stands_once_the_grace_has_passed(
    services: Services,
) -> None:
    previous = Run(RUN, "COMPLETE", result="same answer")
    task_id = resumed(services, previous)
    services.store.update(task_id, started_ts=repr(time.time() - 600))  # resumed long ago

    assert observe.apply(services, task_id, previous)

    assert task(services, task_id)["state"] == "completed"


@pytest.mark.parametrize("status", ["ACTIVE", "COMPLETE"])
def test_a_queued_task_is_moved_only_by_its_launcher(services: Services, status: str) -> None:
    task_id = services.store.create({"repo": "acme/demo", "query": "q"})
    before = services.redis.hgetall(services.store.keys.task(task_id))

    assert not observe.apply(services, task_id, Run(RUN, status, result="x"))

    assert services.redis.hgetall(services.store.keys.task(task_id)) == before


def test_a_task_the_user_stopped_watching_ignores_its_run(services: Services) -> None:
    task_id = started(services, Run(RUN, "ACTIVE"))
    services.store.update(task_id, cancel_scope="local")

    assert not observe.apply(services, task_id, Run(RUN, "COMPLETE", result="x"))

    assert task(services, task_id)["state"] == "running"


def test_starting_twice_moves_the_task_once(services: Services) -> None:
    task_id = started(services, Run(RUN, "ACTIVE"))
    first = task(services, task_id)

    observe.start(services, first, Run(RUN, "COMPLETE", result="late"))

    assert task(services, task_id)["state"] == "running"
    assert task(services, task_id)["started_ts"] == first["started_ts"]


def test_an_active_run_records_new_upstream_details_only(services: Services) -> None:
    task_id = started(services, Run(RUN, "ACTIVE"))
    run = Run(
        RUN,
        "EVALUATION",
        web_url="https://codegen.com/agent/trace/4242",
        pull_requests=(PullRequest(id=1, title="Fix", url="https://github.com/a/b/pull/1"),),
    )

    assert observe.apply(services, task_id, run)
    assert not observe.apply(services, task_id, run)

    now = task(services, task_id)
    assert (now["state"], now["api_status"]) == ("running", "EVALUATION")
    assert now["web_url"] == run.web_url
    assert [pr["url"] for pr in now["pull_requests"]] == ["https://github.com/a/b/pull/1"]


def test_a_run_still_active_past_the_cap_fails_the_task_saying_why(services: Services) -> None:
    task_id = started(services, Run(RUN, "ACTIVE"))
    services.store.update(task_id, started_ts=repr(time.time() - 2 * 24 * 3600))

    assert observe.apply(services, task_id, Run(RUN, "ACTIVE"))

    failed = task(services, task_id)
    assert failed["state"] == "failed"
    assert "CODEGEN_MCP_MAX_RUN_SECONDS" in failed["error"]
    assert finished(services, task_id) == [1]


def test_a_failed_run_fails_the_task_with_its_status(services: Services) -> None:
    task_id = started(services, Run(RUN, "ACTIVE"))

    assert observe.apply(services, task_id, Run(RUN, "ERROR"))

    failed = task(services, task_id)
    assert failed["state"] == "failed"
    assert failed["error"] == "the agent run ended with status ERROR"


def test_a_paused_run_that_then_completes_is_a_second_outcome(services: Services) -> None:
    task_id = started(services, Run(RUN, "ACTIVE"))
    assert observe.apply(services, task_id, Run(RUN, "PAUSED", result="which branch?"))

    assert observe.apply(services, task_id, Run(RUN, "COMPLETE", result="done"))

    assert task(services, task_id)["state"] == "completed"
    assert finished(services, task_id) == [1, 2]


def paused_on_run(services: Services) -> str:
    """A task whose run asked a question (paused), owning the run as the launcher records."""
    asked = started(services, Run(RUN, "ACTIVE"), agent_run_id=RUN)
    services.store.attach_run(asked, RUN)
    observe.apply(services, asked, Run(RUN, "PAUSED", result="which branch?"))
    return asked


def answered(services: Services, run: Run) -> str:
    """Another task (the answer, a resume) started while the API shows `run`."""
    answer = services.store.create(
        {"repo": "acme/demo", "query": "main", "command": "resume", "agent_run_id": RUN}
    )
    services.store.attach_run(answer, RUN)
    observe.start(services, task(services, answer), run)
    return answer


def test_a_task_paused_on_a_run_follows_it_when_another_task_sees_it_move_on(
    services: Services,
) -> None:
    asked = paused_on_run(services)

    answered(services, Run(RUN, "ACTIVE"))

    followed = task(services, asked)
    assert followed["state"] == "running"
    assert asked in [t for t, _ in services.store.watched()]  # the sweep takes it from here


def test_a_task_paused_on_a_run_takes_the_outcome_another_task_sees(services: Services) -> None:
    asked = paused_on_run(services)

    answered(services, Run(RUN, "COMPLETE", result="done on main"))

    followed = task(services, asked)
    assert (followed["state"], followed["result"]) == ("completed", "done on main")
    assert finished(services, asked) == [1, 2]
