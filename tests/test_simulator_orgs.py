"""The simulator with a token in two organizations: a run lives in the org it was created in.

Asked for in the other org, the run is a 404 (get, resume, logs, remove-from-pr) and it is not
on that org's list, as on the real API; a token outside an org gets the 403 of a non-member.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codegen_mcp.simulator import SimConfig, Simulator
from tests.test_simulator import FAST, OTHER_TOKEN, QUICK, TOKEN, Api


@pytest.fixture
def two_orgs() -> Iterator[Simulator]:
    config = SimConfig(**{**FAST, "org_ids": (2,), "token_orgs": {OTHER_TOKEN: (2,)}})
    with Simulator(config) as simulator:
        yield simulator


def test_a_run_lives_in_the_org_it_was_created_in(two_orgs: Simulator) -> None:
    in_one, in_two = Api(two_orgs, org_id=1), Api(two_orgs, org_id=2)
    first, second = in_one.new_run(QUICK), in_two.new_run(QUICK)
    assert (first["organization_id"], second["organization_id"]) == (1, 2)
    assert in_one.get(first["id"]).status_code == 200
    assert in_two.get(first["id"]).status_code == 404
    assert in_one.get(second["id"]).status_code == 404
    assert [run["id"] for run in in_one.list().json()["items"]] == [first["id"]]
    assert [run["id"] for run in in_two.list().json()["items"]] == [second["id"]]
    assert in_two.resume(first["id"]).status_code == 404
    assert in_two.logs(first["id"]).status_code == 404
    assert in_two.pr_action("remove-from-pr", first["id"]).status_code == 404
    assert two_orgs.run(first["id"])["resumes"] == []


def test_a_token_sees_only_its_organizations(two_orgs: Simulator) -> None:
    both = Api(two_orgs, TOKEN).call("GET", "/v1/organizations").json()["items"]
    assert [org["id"] for org in both] == [1, 2]
    only_two = Api(two_orgs, OTHER_TOKEN).call("GET", "/v1/organizations").json()["items"]
    assert [org["id"] for org in only_two] == [2]
    assert Api(two_orgs, OTHER_TOKEN, org_id=1).list().status_code == 403
    repos = Api(two_orgs, OTHER_TOKEN, org_id=2).call("GET", "/v1/organizations/2/repos")
    assert {repo["organization_id"] for repo in repos.json()["items"]} == {2}
