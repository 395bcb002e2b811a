"""The Codegen API simulator, exercised over real HTTP the way clients see it."""

from __future__ import annotations

import itertools
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
import requests

from codegen_mcp.simulator import SimConfig, Simulator
from tests.support import wait_for, with_sigint

T = TypeVar("T")
TOKEN = "sim-token"
OTHER_TOKEN = "other-token"
WIRE_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
FAST: dict[str, Any] = {
    "tokens": {TOKEN: 7, OTHER_TOKEN: 8},
    "active_seconds": 0.2,
    "evaluation_seconds": 0.1,
}
QUICK = "[sim:active=0.05][sim:eval=0]"


# -- helpers ---------------------------------------------------------------------------------


class Api:
    """A bare client of the simulated API: one place that builds URLs and headers."""

    def __init__(self, sim: Simulator, token: str | None = TOKEN, org_id: int = 1) -> None:
        self.base = sim.url
        self.org_id = org_id
        self.org = f"/v1/organizations/{org_id}"
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.base + path, headers=self.headers, timeout=5, **kwargs)

    def create(self, prompt: str = "Fix the login bug", **fields: Any) -> requests.Response:
        return self.call("POST", f"{self.org}/agent/run", json={"prompt": prompt, **fields})

    def new_run(self, prompt: str = "Fix the login bug", **fields: Any) -> dict[str, Any]:
        response = self.create(prompt, **fields)
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, run_id: int | str) -> requests.Response:
        return self.call("GET", f"{self.org}/agent/run/{run_id}")

    def list(self, **params: Any) -> requests.Response:
        return self.call("GET", f"{self.org}/agent/runs", params=params)

    def resume(self, run_id: int, prompt: str = "Please also update the docs") -> requests.Response:
        body = {"agent_run_id": run_id, "prompt": prompt}
        return self.call("POST", f"{self.org}/agent/run/resume", json=body)

    def logs(self, run_id: int, **params: Any) -> requests.Response:
        return self.call(
            "GET", f"/v1/alpha/organizations/{self.org_id}/agent/run/{run_id}/logs", params=params
        )

    def pr_action(self, action: str, run_id: int) -> requests.Response:
        return self.call("POST", f"{self.org}/agent/run/{action}", json={"agent_run_id": run_id})

    def wait_status(self, run_id: int, status: str, timeout: float = 5.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            run = self.get(run_id).json()
            return run if run["status"] == status else None

        return wait_for(reached, timeout, f"run {run_id} to be {status}")


def statuses(record: dict[str, Any]) -> list[str]:
    return [change["status"] for change in record["history"]]


@pytest.fixture
def make_sim() -> Iterator[Callable[..., Simulator]]:
    started: list[Simulator] = []

    def make(**overrides: Any) -> Simulator:
        simulator = Simulator(SimConfig(**{**FAST, **overrides}))
        simulator.start()
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        simulator.stop()


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Simulator]:
    simulator = Simulator(SimConfig(**FAST))
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def sim(shared_sim: Simulator) -> Simulator:
    """The default simulator, reset to a blank state for each test."""
    shared_sim.reset()
    return shared_sim


@pytest.fixture
def api(sim: Simulator) -> Api:
    return Api(sim)


# -- auth and errors -------------------------------------------------------------------------


def test_missing_or_unknown_token_is_401_with_detail(sim: Simulator) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Token {TOKEN}"}):
        response = requests.get(f"{sim.url}/v1/users/me", headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid or missing API token"}


def test_other_org_is_403_with_message(sim: Simulator) -> None:
    response = Api(sim, org_id=2).list()
    assert response.status_code == 403
    assert response.json() == {
        "message": "You are not a member of this organization.",
        "status_code": 403,
    }
    assert Api(sim, org_id=2).create().status_code == 403
    assert sim.runs() == []


def test_non_integer_path_ids_are_422_in_fastapi_shape(api: Api) -> None:
    response = api.get("abc")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["path", "agent_run_id"]
    assert error["type"] == "int_parsing"
    assert api.call("GET", "/v1/organizations/acme/agent/runs").status_code == 422


def test_get_unknown_run_is_404_agent_run_not_found(api: Api) -> None:
    response = api.get(999_999)
    assert response.status_code == 404
    assert response.json() == {"message": "Agent run not found.", "status_code": 404}


def test_unknown_route_is_fastapi_404(api: Api) -> None:
    response = api.call("GET", "/v1/nothing/here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


# -- create, get, list -----------------------------------------------------------------------


def test_create_returns_200_with_timezone_less_created_at(sim: Simulator, api: Api) -> None:
    response = api.create()
    assert response.status_code == 200
    run = response.json()
    assert list(run) == [
        *("id", "organization_id", "status", "created_at", "web_url", "result", "summary"),
        *("source_type", "github_pull_requests", "metadata"),
    ]
    assert run["id"] >= 41000
    assert run["organization_id"] == 1
    assert run["status"] == "ACTIVE"
    assert WIRE_TIME.match(run["created_at"]), run["created_at"]
    assert run["web_url"] == f"https://codegen.com/agent/trace/{run['id']}"
    assert run["result"] is None and run["summary"] is None
    assert run["source_type"] == "API"
    assert run["github_pull_requests"] == []
    assert api.get(run["id"]).json()["id"] == run["id"]


def test_metadata_is_null_unless_given_and_then_echoed(sim: Simulator, api: Api) -> None:
    plain = api.new_run()
    tagged = api.new_run(metadata={"correlation_id": "abc-123", "n": [1, 2]})
    assert plain["metadata"] is None
    assert tagged["metadata"] == {"correlation_id": "abc-123", "n": [1, 2]}
    assert api.get(tagged["id"]).json()["metadata"] == {"correlation_id": "abc-123", "n": [1, 2]}
    assert sim.run(tagged["id"])["create_body"]["metadata"]["correlation_id"] == "abc-123"


def test_create_without_a_valid_prompt_is_422_naming_the_field(sim: Simulator, api: Api) -> None:
    missing = api.call("POST", f"{api.org}/agent/run", json={"metadata": {}})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "prompt"]
    assert missing.json()["detail"][0]["msg"] == "Field required"
    assert missing.json()["detail"][0]["type"] == "missing"
    empty = api.create("")
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["type"] == "string_too_short"
    wrong = api.create(5, metadata="x", agent_type="gpt")  # type: ignore[arg-type]
    locs = [error["loc"] for error in wrong.json()["detail"]]
    assert wrong.status_code == 422
    assert locs == [["body", "prompt"], ["body", "metadata"], ["body", "agent_type"]]
    assert api.call("POST", f"{api.org}/agent/run", data="{not json").status_code == 422
    assert sim.runs() == []


def test_create_accepts_the_optional_fields(api: Api) -> None:
    run = api.new_run("Add tests", images=[], model="claude", agent_type="claude_code")
    assert run["status"] == "ACTIVE"


def test_create_with_unknown_repo_is_404_and_creates_nothing(sim: Simulator, api: Api) -> None:
    response = api.create(repo_id=5555)
    assert response.status_code == 404
    assert response.json()["status_code"] == 404
    assert response.json()["message"].startswith("No repos found")
    assert sim.runs() == []


def test_run_goes_active_then_evaluation_then_complete_with_one_pr(
    sim: Simulator, api: Api
) -> None:
    run = api.new_run("Add a health endpoint\n\nDetails follow.", repo_id=101)
    final = api.wait_status(run["id"], "COMPLETE")
    assert "Add a health endpoint" in final["result"]
    assert final["summary"] and "\n" not in final["summary"]
    [pr] = final["github_pull_requests"]
    assert set(pr) == {"id", "title", "url", "created_at", "head_branch_name"}
    assert re.match(r"^https://github.com/Zeeeepa/codegen.py/pull/\d+$", pr["url"])
    assert pr["head_branch_name"].startswith("codegen-bot/")
    record = sim.run(run["id"])
    assert statuses(record) == ["ACTIVE", "EVALUATION", "COMPLETE"]
    active, evaluation, complete = (change["at"] for change in record["history"])
    assert evaluation - active == pytest.approx(0.2)
    assert complete - evaluation == pytest.approx(0.1)
    assert record["completed_at"] == complete
    assert record["finishes"] == 1
    assert record["prompt"].startswith("Add a health endpoint")
    assert record["user_id"] == 7 and record["repo_id"] == 101 and record["resumes"] == []


def test_pr_url_defaults_to_acme_demo_without_repo(api: Api) -> None:
    run = api.new_run(QUICK)
    final = api.wait_status(run["id"], "COMPLETE")
    assert final["github_pull_requests"][0]["url"].startswith("https://github.com/acme/demo/pull/")


def test_list_is_a_page_newest_first(api: Api) -> None:
    ids = [api.new_run(f"task {n}")["id"] for n in range(3)]
    page = api.list().json()
    assert set(page) == {"items", "total", "page", "size", "pages"}
    assert [item["id"] for item in page["items"]] == sorted(ids, reverse=True)
    assert (page["total"], page["page"], page["size"], page["pages"]) == (3, 1, 100, 1)


def test_list_filters_by_user_id_and_source_type_only(sim: Simulator, api: Api) -> None:
    mine = api.new_run()["id"]
    slack = sim.add_foreign_run(user_id=7, source_type="SLACK")["id"]
    theirs = sim.add_foreign_run(user_id=99, source_type="API")["id"]
    ids = lambda **params: {item["id"] for item in api.list(**params).json()["items"]}  # noqa: E731
    assert ids() == {mine, slack, theirs}
    assert ids(user_id=7) == {mine, slack}
    assert ids(source_type="API") == {mine, theirs}
    assert ids(user_id=7, source_type="API") == {mine}
    # Unknown parameters are silently ignored: no status or repo filter exists.
    assert ids(status="COMPLETE", repo="acme/demo", user_id=7, source_type="API") == {mine}


def test_list_skip_and_limit_page_through(api: Api) -> None:
    ids = sorted((api.new_run(f"task {n}")["id"] for n in range(5)), reverse=True)
    page = api.list(skip=2, limit=2).json()
    assert [item["id"] for item in page["items"]] == ids[2:4]
    assert (page["total"], page["page"], page["size"], page["pages"]) == (5, 2, 2, 3)


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"skip": -1}, {"user_id": "me"}])
def test_list_out_of_range_paging_is_422(api: Api, params: dict[str, Any]) -> None:
    response = api.list(**params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]


def test_user_orgs_and_repos_have_the_api_shapes(sim: Simulator, api: Api) -> None:
    me = api.call("GET", "/v1/users/me").json()
    assert me["id"] == 7
    assert set(me) == {"id", "email", "github_username", "full_name", "avatar_url"}
    assert Api(sim, OTHER_TOKEN).call("GET", "/v1/users/me").json()["id"] == 8
    orgs = api.call("GET", "/v1/organizations").json()
    assert orgs["items"] == [{"id": 1, "name": orgs["items"][0]["name"], "settings": {}}]
    repos = api.call("GET", f"{api.org}/repos", params={"limit": 2}).json()
    assert repos["total"] >= 2 and len(repos["items"]) == 2
    assert repos["items"][0]["full_name"] == "Zeeeepa/codegen.py"
    assert set(repos["items"][0]) == {
        *("id", "name", "full_name", "description", "github_id", "organization_id"),
        *("visibility", "archived_time", "setup_status", "language"),
    }


# -- scripted outcomes -----------------------------------------------------------------------


def test_error_directive_ends_in_error_with_null_result(api: Api) -> None:
    run = api.new_run(f"Break things [sim:error]{QUICK}")
    final = api.wait_status(run["id"], "ERROR")
    assert final["result"] is None
    assert final["summary"] == "Agent failed: simulated error"


@pytest.mark.parametrize(
    "status", ["FAILED", "TIMEOUT", "MAX_ITERATIONS_REACHED", "OUT_OF_TOKENS", "CANCELLED"]
)
def test_status_directive_ends_in_that_status(sim: Simulator, api: Api, status: str) -> None:
    run = api.new_run(f"Try [sim:status={status}]{QUICK}")
    final = api.wait_status(run["id"], status)
    assert final["result"] is None
    assert sim.run(run["id"])["completed_at"] is not None


def test_unknown_status_word_is_held_and_never_counts_as_finished(sim: Simulator, api: Api) -> None:
    run = api.new_run(f"Try [sim:status=WEIRD_NEW]{QUICK}")
    api.wait_status(run["id"], "WEIRD_NEW")
    record = sim.run(run["id"])
    assert record["completed_at"] is None and record["finishes"] == 0


def test_paused_directive_asks_a_question(api: Api) -> None:
    run = api.new_run(f"Refactor auth [sim:paused]{QUICK}")
    final = api.wait_status(run["id"], "PAUSED")
    assert "?" in final["result"]


def test_stuck_run_stays_active_while_others_finish(sim: Simulator, api: Api) -> None:
    stuck = api.new_run("Never ends [sim:stuck]")
    api.wait_status(api.new_run(QUICK)["id"], "COMPLETE")
    api.wait_status(api.new_run()["id"], "COMPLETE")
    assert api.get(stuck["id"]).json()["status"] == "ACTIVE"
    assert statuses(sim.run(stuck["id"])) == ["ACTIVE"]


def test_slow_directive_takes_ten_times_the_active_time(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(active_seconds=0.05, evaluation_seconds=0.0)
    api = Api(sim)
    slow = api.new_run("Big job [sim:slow]")
    api.wait_status(api.new_run()["id"], "COMPLETE")
    assert api.get(slow["id"]).json()["status"] == "ACTIVE"
    api.wait_status(slow["id"], "COMPLETE")
    active, complete = (change["at"] for change in sim.run(slow["id"])["history"])
    assert complete - active == pytest.approx(0.5)


def test_timing_directives_set_active_eval_and_pending(sim: Simulator, api: Api) -> None:
    run = api.new_run("Timed [sim:pending=0.1] [sim:active=0.15] [sim:eval=0.05]")
    assert run["status"] == "PENDING"
    api.wait_status(run["id"], "COMPLETE")
    record = sim.run(run["id"])
    assert statuses(record) == ["PENDING", "ACTIVE", "EVALUATION", "COMPLETE"]
    times = [change["at"] for change in record["history"]]
    assert [b - a for a, b in itertools.pairwise(times)] == pytest.approx([0.1, 0.15, 0.05])
    skipped = api.new_run(QUICK)
    api.wait_status(skipped["id"], "COMPLETE")
    assert statuses(sim.run(skipped["id"])) == ["ACTIVE", "COMPLETE"]


def test_reopen_directive_reopens_after_complete_with_a_new_result(
    sim: Simulator, api: Api
) -> None:
    run = api.new_run(f"Ship it [sim:reopen=0.1]{QUICK}")
    record = wait_for(lambda: (r := sim.run(run["id"]))["finishes"] == 2 and r, what="2 finishes")
    assert statuses(record) == ["ACTIVE", "COMPLETE", "ACTIVE", "COMPLETE"]
    first_complete, reopened = record["history"][1]["at"], record["history"][2]["at"]
    assert reopened - first_complete == pytest.approx(0.1)
    assert record["completed_at"] == record["history"][3]["at"]
    assert record["result"].startswith("Follow-up:")
    assert len(record["github_pull_requests"]) == 1


# -- resume ----------------------------------------------------------------------------------


def test_resume_on_finished_run_reactivates_same_id_then_completes_again(
    sim: Simulator, api: Api
) -> None:
    run = api.new_run(QUICK)
    first = api.wait_status(run["id"], "COMPLETE")
    response = api.resume(run["id"], "Also handle the empty case")
    assert response.status_code == 200
    resumed = response.json()
    assert (resumed["id"], resumed["status"]) == (run["id"], "ACTIVE")
    assert resumed["result"] is None and resumed["summary"] is None
    final = api.wait_status(run["id"], "COMPLETE")
    assert "Also handle the empty case" in final["result"]
    assert final["result"] != first["result"]
    record = sim.run(run["id"])
    assert record["finishes"] == 2
    [resume] = record["resumes"]
    assert (resume["prompt"], resume["status_before"]) == ("Also handle the empty case", "COMPLETE")


def test_resume_prompt_directives_script_the_next_round(api: Api) -> None:
    run = api.new_run(QUICK)
    api.wait_status(run["id"], "COMPLETE")
    assert api.resume(run["id"], f"Try again [sim:error]{QUICK}").status_code == 200
    api.wait_status(run["id"], "ERROR")
    api.resume(run["id"], f"Once more{QUICK}")
    api.wait_status(run["id"], "COMPLETE")


def test_resume_on_active_run_is_accepted_and_restarts_its_timer(sim: Simulator, api: Api) -> None:
    run = api.new_run("Long task")
    response = api.resume(run["id"], "Also rename the module")
    assert response.status_code == 200
    assert response.json()["status"] == "ACTIVE"
    final = api.wait_status(run["id"], "COMPLETE")
    assert "Also rename the module" in final["result"]
    record = sim.run(run["id"])
    assert statuses(record) == ["ACTIVE", "EVALUATION", "COMPLETE"]
    [resume] = record["resumes"]
    assert resume["status_before"] == "ACTIVE"
    assert record["completed_at"] - resume["at"] == pytest.approx(0.3)


def test_resume_on_active_run_is_409_when_rejecting(sim: Simulator, api: Api) -> None:
    sim.set_faults(resume_on_active="reject")
    run = api.new_run("[sim:stuck]")
    response = api.resume(run["id"])
    assert response.status_code == 409
    assert response.json()["status_code"] == 409
    assert sim.run(run["id"])["resumes"] == []


def test_resume_with_id_in_path_does_not_exist(api: Api) -> None:
    run = api.new_run()
    response = api.call("POST", f"{api.org}/agent/run/{run['id']}/resume", json={"prompt": "x"})
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_resume_of_unknown_run_is_404_and_bad_body_is_422(api: Api) -> None:
    assert api.resume(424242).json() == {"message": "Agent run not found.", "status_code": 404}
    response = api.call("POST", f"{api.org}/agent/run/resume", json={"prompt": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "agent_run_id"]


# -- logs ------------------------------------------------------------------------------------


def test_logs_hold_each_resume_prompt_verbatim_and_page(sim: Simulator, api: Api) -> None:
    run = api.new_run("Watch me [sim:stuck]")
    prompts = [f"Follow-up {n} [marker:{n}abc]\nsecond line" for n in range(4)]
    for prompt in prompts:
        assert api.resume(run["id"], prompt).status_code == 200
    sim.transition(run["id"], "CANCELLED")  # freezes the log: no more ACTION ticks
    full = api.logs(run["id"]).json()
    assert {
        "id",
        "organization_id",
        "status",
        "created_at",
        "web_url",
        "result",
        "metadata",
    } <= set(full)
    assert full["status"] == "CANCELLED"
    user_messages = [e["observation"] for e in full["logs"] if e["message_type"] == "USER_MESSAGE"]
    assert user_messages == prompts
    entry = full["logs"][0]
    assert set(entry) == {
        *("agent_run_id", "created_at", "message_type", "thought"),
        *("tool_name", "tool_input", "tool_output", "observation"),
    }
    assert entry["message_type"] == "ACTION" and WIRE_TIME.match(entry["created_at"])
    total = full["total_logs"]
    page = api.logs(run["id"], skip=1, limit=2).json()
    assert page["logs"] == full["logs"][1:3]
    assert (page["total_logs"], page["page"], page["size"]) == (total, 1, 2)
    assert page["pages"] == -(-total // 2)
    newest_first = api.logs(run["id"], reverse="true").json()["logs"]
    assert newest_first == list(reversed(full["logs"]))
    assert api.logs(run["id"], limit=101).status_code == 422


def test_logs_end_with_final_answer_or_error(api: Api) -> None:
    good = api.new_run(QUICK)
    bad = api.new_run(f"[sim:error]{QUICK}")
    api.wait_status(good["id"], "COMPLETE")
    api.wait_status(bad["id"], "ERROR")
    assert api.logs(good["id"]).json()["logs"][-1]["message_type"] == "FINAL_ANSWER"
    last = api.logs(bad["id"]).json()["logs"][-1]
    assert last["message_type"] == "ERROR"
    assert api.logs(999_999).status_code == 404


# -- rate limits and quota -------------------------------------------------------------------


def test_reads_over_the_limit_get_429_with_retry_after(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(read_limit=(3, 0.5))
    api = Api(sim)
    assert [api.call("GET", "/v1/users/me").status_code for _ in range(3)] == [200] * 3
    refused = api.list()
    assert refused.status_code == 429
    assert refused.json() == {
        "message": "Rate limit exceeded. Please try again later.",
        "status_code": 429,
    }
    assert refused.headers["Retry-After"] == "1"
    # The budget is per token, and other buckets are untouched.
    assert Api(sim, OTHER_TOKEN).list().status_code == 200
    assert api.create().status_code == 200
    # Refused requests use no budget: polling through the window still gets back in.
    wait_for(lambda: api.list().status_code == 200, timeout=3, what="the window to slide")
    stats = sim.stats()
    assert stats["rate_limited"] == stats["by_status"]["429"] >= 1
    assert stats["injected"]["throttle"] == 0


def test_429_has_no_retry_after_when_configured_so(make_sim: Callable[..., Simulator]) -> None:
    api = Api(make_sim(read_limit=(1, 30.0), retry_after=False))
    assert api.list().status_code == 200
    refused = api.list()
    assert refused.status_code == 429
    assert "Retry-After" not in refused.headers


def test_refused_create_is_not_acted_on(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(create_limit=(2, 60.0))
    api = Api(sim)
    assert [api.create().status_code for _ in range(3)] == [200, 200, 429]
    assert len(sim.runs()) == 2


def test_breaking_the_documented_limits_is_counted_even_when_allowed(
    make_sim: Callable[..., Simulator],
) -> None:
    sim = make_sim(read_limit=(1000, 30.0))
    api = Api(sim)
    codes = {api.call("GET", "/v1/users/me").status_code for _ in range(61)}
    assert codes == {200}
    assert sim.stats()["limit_violations"] == 1
    assert sim.stats()["rate_limited"] == 0


def test_creates_beyond_the_quota_are_402(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(run_quota=2)
    api = Api(sim)
    assert [api.create().status_code for _ in range(2)] == [200, 200]
    response = api.create()
    assert response.status_code == 402
    assert response.json() == {
        "message": "You have used all agent runs in your plan.",
        "status_code": 402,
    }
    assert len(sim.runs()) == 2


# -- faults ----------------------------------------------------------------------------------


def test_dropped_create_still_creates_the_run(sim: Simulator, api: Api) -> None:
    sim.set_faults(drop_after_act_rate=1.0)
    response = api.create(metadata={"correlation_id": "c-1"})
    assert response.status_code == 502
    assert response.json() == {"message": "Bad gateway"}
    [run] = sim.runs()
    assert run["metadata"] == {"correlation_id": "c-1"}
    assert api.resume(run["id"], "more").status_code == 502
    assert sim.run(run["id"])["resumes"][0]["prompt"] == "more"
    assert api.get(run["id"]).status_code == 200  # reads are never "dropped"
    assert sim.stats()["injected"]["drop"] == 2


def test_injected_errors_happen_before_acting(sim: Simulator, api: Api) -> None:
    sim.set_faults(error_rate=1.0)
    codes = {api.create().status_code for _ in range(12)}
    assert codes <= {500, 502, 503} and codes
    assert sim.runs() == []
    assert sim.stats()["injected"]["error"] == 12
    sim.set_faults(throttle_rate=1.0)
    throttled = api.get(1)
    assert throttled.status_code == 429
    assert throttled.json()["message"] == "Rate limit exceeded. Please try again later."
    stats = requests.get(f"{sim.url}/_sim/stats", timeout=5)  # never faulted
    assert stats.status_code == 200
    assert stats.json()["injected"]["throttle"] == 1
    assert stats.json()["rate_limited"] == 0


def test_latency_delays_api_responses(sim: Simulator, api: Api) -> None:
    sim.set_faults(latency=0.2)
    started = time.monotonic()
    assert api.list().status_code == 200
    assert time.monotonic() - started >= 0.2


def test_invalid_faults_are_refused(sim: Simulator) -> None:
    with pytest.raises(ValueError):
        sim.set_faults(error_rate=1.5)
    with pytest.raises(ValueError):
        sim.set_faults(resume_on_active="maybe")


# -- stopping agents on a PR -----------------------------------------------------------------


def test_ban_cancels_every_running_agent_on_the_pr(sim: Simulator, api: Api) -> None:
    run = api.new_run(QUICK)
    api.wait_status(run["id"], "COMPLETE")
    api.resume(run["id"], "[sim:stuck] keep going")
    same_pr = sim.add_foreign_run(user_id=7, source_type="GITHUB", same_pr_as=run["id"])
    elsewhere = sim.add_foreign_run(user_id=7, source_type="SLACK")
    response = api.pr_action("ban", run["id"])
    assert response.status_code == 200
    assert response.json()["message"]
    assert api.get(run["id"]).json()["status"] == "CANCELLED"
    assert api.get(same_pr["id"]).json()["status"] == "CANCELLED"
    assert api.get(elsewhere["id"]).json()["status"] == "ACTIVE"
    assert sim.run(same_pr["id"])["completed_at"] is not None
    assert api.pr_action("unban", run["id"]).status_code == 200


def test_remove_from_pr_needs_a_pr(sim: Simulator, api: Api) -> None:
    run = api.new_run("[sim:stuck]")
    response = api.pr_action("remove-from-pr", run["id"])
    assert response.status_code == 400
    assert response.json() == {"message": "Agent run has no pull request.", "status_code": 400}
    assert api.get(run["id"]).json()["status"] == "ACTIVE"
    assert api.pr_action("ban", 999_999).status_code == 404
    finished = api.new_run(QUICK)
    api.wait_status(finished["id"], "COMPLETE")
    assert api.pr_action("remove-from-pr", finished["id"]).status_code == 200


# -- control (Python and HTTP) ---------------------------------------------------------------


def test_reopen_sends_a_finished_run_back_to_active(sim: Simulator, api: Api) -> None:
    run = api.new_run(QUICK)
    api.wait_status(run["id"], "COMPLETE")
    reopened = sim.reopen(run["id"])
    assert (reopened["status"], reopened["result"]) == ("ACTIVE", None)
    final = api.wait_status(run["id"], "COMPLETE")
    assert final["result"].startswith("Follow-up:")
    assert sim.run(run["id"])["finishes"] == 2
    sim.reopen(run["id"], result="Fixed the review comment")
    with pytest.raises(ValueError):
        sim.reopen(run["id"])  # still running
    assert api.wait_status(run["id"], "COMPLETE")["result"] == "Fixed the review comment"


def test_transition_forces_a_status_now(sim: Simulator, api: Api) -> None:
    run = api.new_run("[sim:stuck]")
    forced = sim.transition(run["id"], "COMPLETE", result="Forced done")
    assert (forced["status"], forced["result"], forced["finishes"]) == (
        "COMPLETE",
        "Forced done",
        1,
    )
    assert len(forced["github_pull_requests"]) == 1
    assert sim.transition(run["id"], "ACTIVE")["status"] == "ACTIVE"
    api.wait_status(run["id"], "COMPLETE")
    assert sim.transition(run["id"], "failed")["status"] == "FAILED"
    with pytest.raises(LookupError):
        sim.transition(1, "COMPLETE")


def test_requests_log_names_each_endpoint(sim: Simulator, api: Api) -> None:
    run = api.new_run()
    api.get(run["id"])
    api.list()
    api.resume(run["id"])
    api.logs(run["id"])
    api.call("GET", "/v1/users/me")
    api.call("GET", "/v1/organizations")
    api.call("GET", f"{api.org}/repos")
    api.call("GET", "/v1/nope")
    requests.get(f"{sim.url}/_sim/runs", timeout=5)
    log = sim.requests_log()
    assert [entry["endpoint"] for entry in log] == [
        *("create", "get", "list", "resume", "logs", "me", "orgs", "repos", "other"),
    ]
    assert {"at", "method", "path", "status", "endpoint"} <= set(log[0])
    assert (log[0]["method"], log[0]["path"], log[0]["status"]) == (
        "POST",
        f"{api.org}/agent/run",
        200,
    )
    assert sim.stats()["requests"]["create"] == 1


def test_control_api_over_http_drives_everything(sim: Simulator, api: Api) -> None:
    control = sim.url + "/_sim"
    post = lambda path, body=None: requests.post(control + path, json=body, timeout=5)  # noqa: E731
    get = lambda path: requests.get(control + path, timeout=5)  # noqa: E731
    assert get("/config").json()["org_id"] == 1
    run = api.new_run("[sim:stuck]")
    assert [r["id"] for r in get("/runs").json()] == [run["id"]]
    assert get(f"/runs/{run['id']}").json()["prompt"] == "[sim:stuck]"
    assert get("/runs/1").status_code == 404
    done = post(f"/runs/{run['id']}/transition", {"status": "COMPLETE", "result": "ok"}).json()
    assert (done["status"], done["result"]) == ("COMPLETE", "ok")
    assert post(f"/runs/{run['id']}/reopen").json()["status"] == "ACTIVE"
    assert post(f"/runs/{run['id']}/reopen").status_code == 409
    foreign = post("/foreign-runs", {"user_id": 99, "source_type": "SLACK"})
    assert foreign.status_code == 201 and foreign.json()["source_type"] == "SLACK"
    faults = post("/faults", {"drop_after_act_rate": 1.0, "resume_on_active": "reject"}).json()
    assert (faults["drop_after_act_rate"], faults["resume_on_active"]) == (1.0, "reject")
    assert api.create().status_code == 502
    assert post("/faults", {"bogus": 1}).status_code == 400
    assert post("/faults", {}).json()["drop_after_act_rate"] == 0.0
    assert get("/requests").json()[-1]["status"] == 502
    assert get("/stats").json()["injected"]["drop"] == 1
    assert post("/reset").status_code == 200
    assert get("/runs").json() == [] and get("/requests").json() == []
    assert api.resume(api.new_run("[sim:stuck]")["id"]).status_code == 200  # reset faults too


def test_concurrent_creates_get_distinct_ids(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(create_limit=(100, 60.0))
    api = Api(sim)
    with ThreadPoolExecutor(max_workers=8) as pool:
        runs = list(pool.map(lambda n: api.new_run(f"task {n}"), range(24)))
    assert len({run["id"] for run in runs}) == 24
    assert len(sim.runs()) == 24


def test_serve_runs_in_the_foreground_until_interrupted() -> None:
    code = (
        "from codegen_mcp.simulator import SimConfig, serve\n"
        "serve(SimConfig(tokens={'demo-token': 3}, org_id=5), port=0)\n"
    )
    process = subprocess.Popen(
        with_sigint([sys.executable, "-c", code]), stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "org_id=5" in line and "demo-token" in line
        url = re.search(r"http://[\d.]+:\d+", line)
        assert url, line
        me = requests.get(
            f"{url.group(0)}/v1/users/me", headers={"Authorization": "Bearer demo-token"}, timeout=5
        )
        assert me.json()["id"] == 3
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
