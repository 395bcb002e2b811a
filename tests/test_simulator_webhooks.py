"""The simulator's 2026 surface: models, the org webhook, per-run webhooks and their faults,
each checked with a real receiver on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from codegen_mcp.simulator import SimConfig, Simulator
from tests.receiver import Receiver, signature_ok
from tests.support import wait_for

TOKEN = "sim-token"
QUICK = "[sim:active=0.05][sim:eval=0]"
SECRET = "s3cret-for-tests"


class Api:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.org = f"{sim.url}/v1/organizations/1"
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.org + path, headers=self.headers, timeout=10, **kwargs)

    def run(self, prompt: str = f"Fix the bug {QUICK}", **fields: Any) -> dict[str, Any]:
        response = self.call("POST", "/agent/run", json={"prompt": prompt, **fields})
        assert response.status_code == 200, response.text
        return response.json()

    def resume(self, run_id: int, prompt: str = f"And the docs {QUICK}", **fields: Any) -> Any:
        body = {"agent_run_id": run_id, "prompt": prompt, **fields}
        return self.call("POST", "/agent/run/resume", json=body)

    def deliveries(self, run_id: int | None = None, state: str | None = None) -> list[Any]:
        found = self.sim.deliveries()
        return [
            d
            for d in found
            if (run_id is None or d["run_id"] == run_id) and (state is None or d["state"] == state)
        ]


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(active_seconds=0.2, evaluation_seconds=0.05)) as simulator:
        yield simulator


@pytest.fixture
def sim(shared_sim: Simulator) -> Simulator:
    shared_sim.reset()
    return shared_sim


@pytest.fixture
def api(sim: Simulator) -> Api:
    return Api(sim)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as hook:
        yield hook


def hook(receiver: Receiver, secret: str | None = SECRET) -> list[dict[str, Any]]:
    return [{"url": receiver.url, "secret": secret}]


def settled(api: Api, run_id: int, count: int = 1, state: str = "delivered") -> list[Any]:
    return wait_for(
        lambda: (found := api.deliveries(run_id, state)) and len(found) >= count and found,
        10,
        f"{count} {state} deliveries for run {run_id}",
    )


# -- models --------------------------------------------------------------------------------


def test_models_lists_providers_and_a_default_that_is_one_of_them(api: Api) -> None:
    body = api.call("GET", "/models").json()
    values = [m["value"] for p in body["providers"] for m in p["models"]]
    assert all(set(p) == {"name", "models"} for p in body["providers"])
    assert all(set(m) == {"label", "value"} for p in body["providers"] for m in p["models"])
    assert body["default_model"] in values
    assert api.sim.stats()["requests"]["models"] == 1


def test_a_run_works_with_its_model_and_a_resume_keeps_it_unless_told(api: Api) -> None:
    default = api.call("GET", "/models").json()["default_model"]
    plain = api.run()
    assert api.sim.run(plain["id"])["model"] == default
    run = api.run(model="gpt-5")
    assert "model" not in run  # the run object has no model field
    api.sim.transition(run["id"], "COMPLETE")
    assert api.resume(run["id"]).status_code == 200
    assert api.sim.run(run["id"])["model"] == "gpt-5"
    assert api.resume(run["id"], model="claude-opus-4-1").status_code == 200
    record = api.sim.run(run["id"])
    assert record["model"] == "claude-opus-4-1"
    assert [r["model"] for r in record["resumes"]] == ["gpt-5", "claude-opus-4-1"]


# -- the org webhook -------------------------------------------------------------------------


def test_org_webhook_shows_whether_it_has_a_secret_never_the_secret(api: Api) -> None:
    empty = api.call("GET", "/webhooks/agent-run").json()
    assert empty == {"url": None, "enabled": False, "has_secret": False}
    body = {"url": "https://example.com/hook", "secret": SECRET}
    set_answer = api.call("POST", "/webhooks/agent-run", json=body)
    assert set_answer.status_code == 200 and SECRET not in set_answer.text
    shown = api.call("GET", "/webhooks/agent-run")
    assert shown.json() == {"url": "https://example.com/hook", "enabled": True, "has_secret": True}
    assert SECRET not in shown.text
    assert api.call("DELETE", "/webhooks/agent-run").status_code == 200
    assert api.call("GET", "/webhooks/agent-run").json() == empty


def test_org_webhook_url_must_be_http_and_names_the_field(api: Api) -> None:
    for url in ("ftp://example.com/x", "not a url", 42, "https://x/" + "a" * 2100):
        answer = api.call("POST", "/webhooks/agent-run", json={"url": url})
        assert answer.status_code == 422, url
        assert answer.json()["detail"][0]["loc"] == ["body", "url"]
    missing = api.call("POST", "/webhooks/agent-run", json={"enabled": True})
    assert missing.json()["detail"][0]["type"] == "missing"


def test_a_settled_run_is_posted_signed_to_the_org_webhook(api: Api, receiver: Receiver) -> None:
    body = {"url": receiver.url, "secret": SECRET}
    api.call("POST", "/webhooks/agent-run", json=body)
    run = api.run()
    [delivery] = settled(api, run["id"])
    [hit] = receiver.received
    payload = receiver.bodies()[0]
    assert signature_ok(SECRET, hit["headers"]["X-Codegen-Signature"], hit["body"])
    assert hit["headers"]["X-Codegen-Event"] == "agent_run.completed"
    assert hit["headers"]["X-Codegen-Delivery"] == payload["delivery_id"] == delivery["delivery_id"]
    now = api.call("GET", f"/agent/run/{run['id']}").json()
    assert {k: payload[k] for k in now} == now
    assert payload["event_type"] == "agent_run.completed"


def test_disabled_org_webhook_sends_nothing(api: Api, receiver: Receiver) -> None:
    api.call("POST", "/webhooks/agent-run", json={"url": receiver.url, "enabled": False})
    run = api.run()
    wait_for(lambda: api.sim.run(run["id"])["status"] == "COMPLETE", 10, "the run to complete")
    assert api.deliveries() == [] and receiver.received == []


def test_per_run_webhooks_override_the_org_one(api: Api, receiver: Receiver) -> None:
    with Receiver() as org_receiver:
        api.call("POST", "/webhooks/agent-run", json={"url": org_receiver.url})
        own = api.run(webhooks=hook(receiver))
        silent = api.run(webhooks=[])
        plain = api.run()
        settled(api, plain["id"])
        settled(api, own["id"])
        assert [b["id"] for b in receiver.bodies()] == [own["id"]]
        assert [b["id"] for b in org_receiver.bodies()] == [plain["id"]]
        assert api.deliveries(silent["id"]) == []
        assert SECRET not in str(api.sim.run(own["id"]))


def test_a_resume_with_webhooks_reroutes_the_run(api: Api, receiver: Receiver) -> None:
    with Receiver() as later:
        run = api.run(webhooks=hook(receiver))
        settled(api, run["id"])
        assert api.resume(run["id"], webhooks=hook(later, None)).status_code == 200
        settled(api, run["id"], 2)
        assert len(receiver.received) == 1 and len(later.received) == 1
        assert "X-Codegen-Signature" not in later.received[0]["headers"]  # no secret: unsigned


def test_webhooks_on_create_are_validated_like_fastapi(api: Api) -> None:
    answer = api.call("POST", "/agent/run", json={"prompt": "x", "webhooks": [{"secret": "s"}]})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "webhooks", 0, "url"]
    assert api.call("POST", "/agent/run", json={"prompt": "x", "webhooks": "u"}).status_code == 422


def test_every_status_change_fires_when_asked(api: Api, receiver: Receiver) -> None:
    api.sim.set_webhook_faults(events="all")
    run = api.run(
        "Fix it [sim:pending=0.05][sim:active=0.05][sim:eval=0.05]", webhooks=hook(receiver)
    )
    # Four senders: deliveries leave in order but may arrive in any; their payloads say when.
    sent = sorted(settled(api, run["id"], 4), key=lambda d: d["number"])
    assert [d["payload"]["status"] for d in sent] == ["PENDING", "ACTIVE", "EVALUATION", "COMPLETE"]
    assert [d["event_type"] for d in sent] == ["agent_run.status_changed"] * 3 + [
        "agent_run.completed"
    ]
    assert sorted(b["delivery_id"] for b in receiver.bodies()) == sorted(
        d["delivery_id"] for d in sent
    )


def test_the_test_endpoint_posts_and_is_limited_to_ten_a_minute(
    api: Api, receiver: Receiver
) -> None:
    answers = [
        api.call("POST", "/webhooks/agent-run/test", json={"url": receiver.url}) for _ in range(11)
    ]
    assert [a.status_code for a in answers] == [200] * 10 + [429]
    assert answers[0].json()["success"] is True
    assert len(receiver.received) == 10
    assert receiver.bodies()[0]["event_type"] == "webhook.test"


def test_the_test_endpoint_reports_a_receiver_that_fails(api: Api, receiver: Receiver) -> None:
    receiver.answers = [500]
    answer = api.call("POST", "/webhooks/agent-run/test", json={"url": receiver.url}).json()
    assert answer["success"] is False and answer["status_code"] == 500


# -- faults ------------------------------------------------------------------------------------


def test_a_lost_delivery_is_recorded_and_never_sent(api: Api, receiver: Receiver) -> None:
    api.sim.set_webhook_faults(lose_next=1)
    lost, kept = api.run(webhooks=hook(receiver)), api.run(webhooks=hook(receiver))
    settled(api, kept["id"])
    settled(api, lost["id"], state="lost")
    assert [b["id"] for b in receiver.bodies()] == [kept["id"]]
    assert api.deliveries(lost["id"])[0]["attempts"] == []


def test_a_lose_rate_of_one_loses_everything(api: Api, receiver: Receiver) -> None:
    api.sim.set_webhook_faults(lose_rate=1.0)
    run = api.run(webhooks=hook(receiver))
    settled(api, run["id"], state="lost")
    assert receiver.received == []


def test_a_duplicate_arrives_twice_with_the_same_delivery_id(api: Api, receiver: Receiver) -> None:
    api.sim.set_webhook_faults(duplicate_next=1)
    run = api.run(webhooks=hook(receiver))
    settled(api, run["id"], 2)
    first, second = receiver.bodies()
    assert first == second
    assert [d["duplicate"] for d in api.deliveries(run["id"])] == [False, True]


def test_a_delayed_delivery_waits_at_least_the_delay(api: Api, receiver: Receiver) -> None:
    api.sim.set_webhook_faults(delay=0.3)
    run = api.run(webhooks=hook(receiver))
    [delivery] = settled(api, run["id"])
    # Both times are wall-clock readings; the wait itself is measured on the monotonic clock.
    assert delivery["attempts"][0]["at"] - delivery["queued_at"] >= 0.29


def test_a_held_delivery_arrives_after_a_later_one(api: Api, receiver: Receiver) -> None:
    api.sim.set_webhook_faults(hold_next=1)
    first = api.run(webhooks=hook(receiver))
    wait_for(lambda: api.deliveries(first["id"], "held"), 10, "the first delivery to be held")
    second = api.run(webhooks=hook(receiver))
    settled(api, first["id"])
    assert [b["id"] for b in receiver.bodies()] == [second["id"], first["id"]]


def test_a_wrong_signature_does_not_verify(api: Api, receiver: Receiver) -> None:
    api.sim.set_webhook_faults(wrong_signature_next=1)
    bad, good = api.run(webhooks=hook(receiver)), api.run(webhooks=hook(receiver))
    settled(api, bad["id"])
    settled(api, good["id"])
    verdicts = {
        json_id(hit["body"]): signature_ok(
            SECRET, hit["headers"]["X-Codegen-Signature"], hit["body"]
        )
        for hit in receiver.received
    }
    assert verdicts == {bad["id"]: False, good["id"]: True}


def test_a_failing_receiver_is_retried_then_given_up(api: Api, receiver: Receiver) -> None:
    api.sim.set_webhook_faults(attempts=3, backoff=0.01)
    receiver.answers = [500, 500, 500]
    run = api.run(webhooks=hook(receiver))
    [delivery] = settled(api, run["id"], state="failed")
    assert [a["status"] for a in delivery["attempts"]] == [500, 500, 500]
    assert len(receiver.received) == 3


def test_a_receiver_that_recovers_gets_the_delivery(api: Api, receiver: Receiver) -> None:
    api.sim.set_webhook_faults(attempts=3, backoff=0.01)
    receiver.answers = [503]
    run = api.run(webhooks=hook(receiver))
    [delivery] = settled(api, run["id"])
    assert [a["status"] for a in delivery["attempts"]] == [503, 200]


def test_an_unreachable_receiver_is_given_up_with_its_errors(api: Api) -> None:
    api.sim.set_webhook_faults(attempts=2, backoff=0.01)
    run = api.run(webhooks=[{"url": "http://127.0.0.1:9/nothing-listens"}])
    [delivery] = settled(api, run["id"], state="failed")
    assert all(a["status"] is None and a["error"] for a in delivery["attempts"])


def test_a_slow_receiver_never_blocks_the_api(api: Api, receiver: Receiver) -> None:
    receiver.released.clear()
    run = api.run(webhooks=hook(receiver))
    wait_for(lambda: receiver.received, 10, "the delivery to reach the receiver")
    assert api.call("GET", f"/agent/run/{run['id']}").json()["status"] == "COMPLETE"
    assert api.deliveries(run["id"])[0]["state"] == "sending"
    receiver.released.set()
    settled(api, run["id"])


def test_webhook_faults_are_set_and_read_over_the_control_api(sim: Simulator) -> None:
    answer = requests.post(f"{sim.url}/_sim/webhook-faults", json={"lose_next": 2}, timeout=5)
    assert answer.json()["left"]["lose_next"] == 2
    bad = requests.post(f"{sim.url}/_sim/webhook-faults", json={"lose_rate": 2}, timeout=5)
    assert bad.status_code == 400 and "lose_rate" in bad.json()["error"]
    unknown = requests.post(f"{sim.url}/_sim/webhook-faults", json={"nope": 1}, timeout=5)
    assert unknown.status_code == 400
    assert requests.get(f"{sim.url}/_sim/webhooks", timeout=5).json()["faults"]["lose_next"] == 2


def test_deliveries_are_listed_over_the_control_api(api: Api, receiver: Receiver) -> None:
    run = api.run(webhooks=hook(receiver))
    settled(api, run["id"])
    listed = requests.get(f"{api.sim.url}/_sim/deliveries?run_id={run['id']}", timeout=5).json()
    assert [d["state"] for d in listed] == ["delivered"]
    assert SECRET not in str(listed)


def json_id(body: bytes) -> int:
    import json

    return int(json.loads(body)["id"])
