"""bench.burst's table and verdicts: one column per front, the targets beside the figures."""

from __future__ import annotations

import argparse
from typing import Any

from bench import common

NEW_P99_MS = 250.0
READ_FLOOR_MS = 50.0  # task_status p99 during the burst: at most max(5 x idle p99, this)
FRONTS = {"http": "web front (gunicorn)", "mcp": "MCP front (Streamable HTTP)"}


def read_bound(figures: dict[str, Any]) -> float:
    """The bound on task_status p99 during the burst, from the idle p99 of the same run."""
    return max(5 * (figures["idle"]["p99"] or 0.0), READ_FLOOR_MS)


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    """Print the table and the verdicts; the table's text (Markdown)."""
    fronts = list(results)
    rows = [[label, *(cell(results[f]) for f in fronts), target] for label, cell, target in ROWS]
    text = common.table(["measure", *(FRONTS[f] for f in fronts), "target"], rows)
    print(f"\n{text}\n", flush=True)
    print("targets:")
    for front in fronts:
        for line in verdicts(results[front], args.calls):
            print(f"  {FRONTS[front]}: {line}")
    print(
        f"load: {args.calls} `new` from {args.clients} clients (a process of their own); one "
        f"reader at 20 task_status a second; per-client run limit and queue bound lifted "
        f"(bench/common.py); exactly once: {_once_setting(args)}"
    )
    return text


def verdicts(figures: dict[str, Any], calls: int) -> list[str]:
    new = figures["new"]
    p99 = new["latency_ms"]["p99"] or 0.0
    burst = figures["burst"]["p99"] or 0.0
    bound = read_bound(figures)
    lines = [
        f"new p99 {p99:,.0f} ms ≤ {NEW_P99_MS:.0f} ms: {common.verdict(p99 <= NEW_P99_MS)}",
        f"task_status p99 during the burst {burst:,.1f} ms ≤ {bound:,.1f} ms: "
        f"{common.verdict(burst <= bound)}",
        f"{new['accepted']}/{calls} answered with a task id: "
        f"{common.verdict(new['accepted'] == calls)}",
    ]
    once = figures.get("exactly_once")
    if once is None:
        lines.append("runs created exactly once: not checked (--exactly-once skip)")
    else:
        met = once["once"] == calls and not once["twice_or_more"]
        lines.append(f"{once['once']}/{calls} runs created exactly once: {common.verdict(met)}")
    return lines


def _ms(figures: dict[str, Any]) -> str:
    return " / ".join(common.fmt(figures[k], 1) for k in ("p50", "p99", "max"))


def _states(figures: dict[str, Any]) -> str:
    states = figures["new"]["answer_states"]
    return f"{states.get('running', 0)} / {states.get('queued', 0)}"


def _once(figures: dict[str, Any]) -> str:
    once = figures.get("exactly_once")
    if once is None:
        return "not checked"
    return (
        f"{once['once']}/{once['tasks']} ({once['twice_or_more']} twice, {once['none_yet']} none)"
    )


def _once_setting(args: argparse.Namespace) -> str:
    window = f"{args.fast_window:g}"
    return {
        "fast": f"a second burst, create limit 10/{window} s (ours 9/{window} s)",
        "real": "the measured burst drained at the real limit, 10/60 s (ours 9/60 s)",
        "skip": "not checked",
    }[args.once]


ROWS = [
    ("time to accept the burst (s)", lambda f: f["new"]["accept_seconds"], "-"),
    ("`new` latency p50 (ms)", lambda f: f["new"]["latency_ms"]["p50"], "-"),
    ("`new` latency p99 (ms)", lambda f: f["new"]["latency_ms"]["p99"], f"≤ {NEW_P99_MS:.0f}"),
    (
        "`new` answered 202 / ok with a task id",
        lambda f: f"{f['new']['accepted']}/{f['new']['calls']}",
        "all",
    ),
    ("`new` answers: running / queued", _states, "-"),
    ("task_status idle p50 / p99 / max (ms)", lambda f: _ms(f["idle"]), "-"),
    (
        "task_status in the burst p50 / p99 / max (ms)",
        lambda f: _ms(f["burst"]),
        "p99 ≤ max(5 x idle p99, 50)",
    ),
    ("  that bound for this run (ms)", lambda f: round(read_bound(f), 1), "-"),
    (
        "task_status reads idle / in the burst (errors)",
        lambda f: (
            f"{f['idle']['n']} / {f['burst']['n']} ({f['idle']['errors'] + f['burst']['errors']})"
        ),
        "-",
    ),
    (
        "runs created for the measured burst (10/60 s)",
        lambda f: f"{f['created']['once']} (+{f['created']['twice_or_more']} twice)",
        "-",
    ),
    ("runs created exactly once", _once, "all"),
]
