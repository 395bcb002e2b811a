"""/metrics (Prometheus text, the same from every process) and /healthz."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families

from codegen_mcp.simulator import Simulator
from tests.support import Front, Worker, wait_for


def _scrape(front: Front) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(front.url + "/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(figures: dict, name: str, **labels: str) -> float:
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_change_when_a_run_completes(front: Front, sim: Simulator, worker: Worker) -> None:
    before = _scrape(front)
    task_id = front.ok(
        "new", {"repo": "acme/demo", "query": "count me [sim:active=0.3] [sim:eval=0]"}
    )["task_id"]
    front.wait_state(task_id, "completed")
    after = wait_for(
        lambda: (
            (f := _scrape(front))
            and _value(f, "codegen_mcp_sweeps_total") > _value(before, "codegen_mcp_sweeps_total")
            and f
        ),
        what="a sweep to be counted",
    )
    assert (
        _value(after, "codegen_mcp_tasks", state="completed")
        == _value(before, "codegen_mcp_tasks", state="completed") + 1
    )
    assert (
        _value(after, "codegen_mcp_api_requests_total", endpoint="create", code="200")
        == _value(before, "codegen_mcp_api_requests_total", endpoint="create", code="200") + 1
    )
    assert _value(after, "codegen_mcp_api_requests_total", endpoint="list", code="200") > 0
    assert _value(after, "codegen_mcp_sweep_seconds_total") > 0
    assert 0 <= _value(after, "codegen_mcp_budget_remaining", bucket="read") <= 500


def test_every_process_reports_the_same_figures(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    other = Front(front.services.settings)  # a second web process on the same Redis
    try:
        keys = ("codegen_mcp_tasks", "codegen_mcp_api_requests_total")
        mine = {k: v for k, v in _scrape(front).items() if k[0] in keys}
        theirs = {k: v for k, v in _scrape(other).items() if k[0] in keys}
        assert mine == theirs and mine
    finally:
        other.stop()


def test_delivery_latency_and_pending_are_reported(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    orchestrator_task = front.ok(
        "new", {"repo": "acme/demo", "query": "boss [sim:active=0.2] [sim:eval=0]"}
    )
    orchestrator = front.wait_state(orchestrator_task["task_id"], "completed")["agent_run_id"]
    before = _value(_scrape(front), "codegen_mcp_delivery_latency_seconds_count")
    child = front.ok(
        "new",
        {
            "repo": "acme/demo",
            "query": "kid [sim:active=0.2] [sim:eval=0]",
            "orchestrator_run_id": orchestrator,
        },
    )["task_id"]
    wait_for(lambda: front.status(child)["delivery"]["state"] == "delivered", what="delivery")
    figures = _scrape(front)
    assert _value(figures, "codegen_mcp_delivery_latency_seconds_count") == before + 1
    assert ("codegen_mcp_deliveries_pending", ()) in figures


def test_healthz_sees_the_worker_and_the_sweep(
    front: Front, sim: Simulator, worker: Worker
) -> None:
    health = wait_for(
        lambda: (r := requests.get(front.url + "/healthz", timeout=10)).status_code == 200 and r,
        what="a healthy stack",
    )
    body = health.json()
    assert body["redis"] == "ok" and body["sweep"] == "ok" and body["worker"] == "ok"


def test_healthz_says_what_is_missing(settings) -> None:
    lonely = Front(settings.with_(key_prefix=settings.key_prefix + "lonely"))
    try:
        response = requests.get(lonely.url + "/healthz", timeout=10)
        assert response.status_code == 503
        assert (
            response.json()["sweep"] == "never seen" and response.json()["worker"] == "none running"
        )
    finally:
        lonely.stop()


def test_metrics_content_type_names_its_charset_once(front: Front) -> None:
    response = requests.get(front.url + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=1.0.0; charset=utf-8"
