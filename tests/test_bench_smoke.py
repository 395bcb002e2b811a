"""The benchmarks under bench/ are run by hand; here only that each one still loads."""

from __future__ import annotations

import importlib

import pytest

from bench import burst_load, burst_report, common, delivery_latency, push

BENCHMARKS = [
    "polling_cost",
    "delivery_latency",
    "front_throughput",
    "store_footprint",
    "chaos",
    "repo_misses",
    "slow_clients",
    "burst",
    "push",
    "durability",
]


@pytest.mark.parametrize("name", BENCHMARKS)
def test_each_benchmark_imports_and_reads_its_default_flags(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert module.parse([]) is not None
    assert callable(module.main)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert common.percentile(values, 50) == 50.0
    assert common.percentile(values, 95) == 95.0
    assert common.percentile([], 95) is None


def test_tables_print_as_markdown() -> None:
    text = common.table(["N", "reads/min"], [[1000, 72.25]])
    assert text.splitlines() == [
        "| N     | reads/min |",
        "|-------|-----------|",
        "| 1,000 | 72.25     |",
    ]


def test_the_burst_clients_read_their_flags() -> None:
    args = burst_load.parse(["mcp", "http://127.0.0.1:8090/mcp"])
    assert (args.calls, args.clients) == (100, 64)


def test_the_burst_read_bound_is_five_idle_p99s_or_50_ms() -> None:
    assert burst_report.read_bound({"idle": {"p99": 4.0}}) == 50.0
    assert burst_report.read_bound({"idle": {"p99": 30.0}}) == 150.0


def test_the_push_bench_reads_its_flags() -> None:
    args = push.parse(["--runs", "5", "--active", "5", "8"])
    assert (args.runs, args.active, args.poll_every) == (5, [5.0, 8.0], 5.0)


def test_the_delivery_bench_runs_webhooks_off_and_on_side_by_side_by_default() -> None:
    assert delivery_latency.parse([]).webhooks == ["off", "on"]
    assert delivery_latency.parse(["--webhooks", "on"]).webhooks == ["on"]
    assert delivery_latency.parse(["--webhooks", "off"]).webhooks == ["off"]
    with pytest.raises(SystemExit):
        delivery_latency.parse(["--webhooks", "sometimes"])
