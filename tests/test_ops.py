"""The operators' kit under ops/: the Prometheus alert rules pass promtool's check and their
unit tests, and every metric the rules and the Grafana dashboard query is one /metrics exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from codegen_mcp.services import Services
from codegen_mcp.settings import Settings
from codegen_mcp.web import create_app
from tests.support import ROOT, require

RULES = ROOT / "ops" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "ops" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "codegen-mcp.json"
METRIC = re.compile(r"\bcodegen_mcp_[a-z_]+\b")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    require(shutil.which("promtool"), "promtool is missing (apt-get install prometheus)")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120)


def test_the_alert_rules_pass_promtool_check() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_alert_fires_when_it_should_and_only_then(tmp_path: Path) -> None:
    # promtool compares annotations too: copy them in from the rules, written once there.
    rules = {
        rule["alert"]: rule
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }
    spec = yaml.safe_load(RULE_TESTS.read_text())
    for case in spec["tests"]:
        for check in case["alert_rule_test"]:
            for alert in check["exp_alerts"]:
                alert["exp_annotations"] = rules[check["alertname"]]["annotations"]
    shutil.copy(RULES, tmp_path / RULES.name)
    (tmp_path / RULE_TESTS.name).write_text(yaml.safe_dump(spec))
    tested = promtool("test", "rules", str(tmp_path / RULE_TESTS.name))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    tested_alerts = {c["alertname"] for t in spec["tests"] for c in t["alert_rule_test"]}
    assert tested_alerts == set(rules)  # every alert has a test


def test_rules_and_dashboard_query_only_metrics_that_exist(redis_url: str) -> None:
    settings = Settings.from_env({"REDIS_URL": redis_url})
    client = create_app(Services(settings, redis_url)).test_client()
    exported: set[str] = set()
    for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True)):
        exported.add(family.name)
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
        exported.update(family.name + suffix for suffix in suffixes.get(family.type, []))

    rule_names = set(METRIC.findall(RULES.read_text()))
    exprs = [
        target["expr"]
        for panel in json.loads(DASHBOARD.read_text())["panels"]
        for target in panel["targets"]
    ]
    dashboard_names = {name for expr in exprs for name in METRIC.findall(expr)}
    assert rule_names and dashboard_names
    assert rule_names - exported == set()
    assert dashboard_names - exported == set()
