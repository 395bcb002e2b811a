"""The benchmarks under bench/ are run by hand; here only that each one still loads."""

from __future__ import annotations

import importlib

import pytest

from bench import common

BENCHMARKS = [
    "polling_cost",
    "delivery_latency",
    "front_throughput",
    "store_footprint",
    "chaos",
    "repo_misses",
    "slow_clients",
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
