"""The /metrics families of Codegen's run webhooks (webhooks_in.py, workers/confirm.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily

from codegen_mcp.metrics_recorder import Recorder


def families(recorder: Recorder) -> Iterator[Any]:
    """Webhooks accepted, refused (by reason), repeated, coalesced; the signature form that
    matched; confirming reads; settled runs first seen by webhook or by sweep; lost ones;
    orchestrator deliveries a confirming read started."""
    totals = recorder.redis.hgetall(recorder.key("hooks"))
    received = CounterMetricFamily(
        "codegen_mcp_webhooks_received", "Run webhooks taken and handed to a worker"
    )
    rejected = CounterMetricFamily(
        "codegen_mcp_webhooks_rejected", "Run webhooks refused, by reason", labels=["reason"]
    )
    signature = CounterMetricFamily(
        "codegen_mcp_webhooks_signature",
        "Run webhooks by the signature form that matched (none: unsigned)",
        labels=["form"],
    )
    first_seen = CounterMetricFamily(
        "codegen_mcp_settled_first_seen",
        "Settled runs by what saw them first: a webhook or the sweep",
        labels=["by"],
    )
    for by in ("webhook", "sweep"):
        first_seen.add_metric([by], int(totals.get(f"first_seen|{by}", 0)))
    received.add_metric([], int(totals.get("accepted", 0)))
    for field, count in sorted(totals.items()):
        kind, _, label = field.partition("|")
        if kind == "rejected":
            rejected.add_metric([label], int(count))
        elif kind == "signature":
            signature.add_metric([label], int(count))
    yield from (received, rejected, signature, first_seen)
    for name, field, text in (
        ("codegen_mcp_webhooks_duplicate", "duplicate", "Webhook deliveries seen before: dropped"),
        ("codegen_mcp_webhooks_coalesced", "coalesced", "Webhooks that needed no read"),
        ("codegen_mcp_webhook_reads", "reads", "Run reads that confirmed a webhook"),
        ("codegen_mcp_webhooks_lost", "lost", "Settled runs the sweep found before their webhook"),
        (
            "codegen_mcp_webhook_delivery_requests",
            "delivery_requests",
            "Deliveries to an orchestrator asked for at once because a webhook's read showed it "
            "free (each takes the inbox only if a resume is not already on its way)",
        ),
    ):
        family = CounterMetricFamily(name, text)
        family.add_metric([], int(totals.get(field, 0)))
        yield family
