"""Figures for /metrics and /healthz, kept in Redis so every process adds to the same ones.

Counters are Redis hashes written by whichever web or worker process did the work; the
Prometheus collector reads them at scrape time, so several gunicorn and Celery workers on
several machines report one consistent set of figures.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from codegen_mcp import inbox, memory_guard, metrics_hooks
from codegen_mcp.api.budget import BUCKETS, Budget
from codegen_mcp.errors import NotConfigured
from codegen_mcp.metrics_recorder import LATENCY_BUCKETS, Recorder
from codegen_mcp.notify import Outbox
from codegen_mcp.redis_conn import UNREACHABLE
from codegen_mcp.services import Services
from codegen_mcp.states import State


class RedisCollector(Collector):
    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Any]:
        """The Prometheus metric families, read fresh from Redis at each scrape: tasks, API calls,
        budget, sweeps and deliveries."""
        services = self.services
        recorder = Recorder(services.redis, services.settings.key_prefix)
        yield _tasks(services)
        yield from _api(recorder)
        yield from _budget(services)
        yield from _sweep(services, recorder)
        yield from _delivery(services, recorder)
        yield from _webhooks(services, recorder)
        yield from _liveness(services, recorder)
        yield from metrics_hooks.families(recorder)


def _tasks(services: Services) -> GaugeMetricFamily:
    family = GaugeMetricFamily("codegen_mcp_tasks", "Tasks by state", labels=["state"])
    for state, count in services.store.counts().items():
        family.add_metric([state], count)
    return family


def _api(recorder: Recorder) -> Iterator[Any]:
    requests = CounterMetricFamily(
        "codegen_mcp_api_requests", "Codegen API requests", labels=["endpoint", "code"]
    )
    limited = CounterMetricFamily(
        "codegen_mcp_api_rate_limited", "429 answers from the Codegen API"
    )
    total_429 = 0
    for field, count in sorted(recorder.redis.hgetall(recorder.key("api")).items()):
        endpoint, _, code = field.partition("|")
        requests.add_metric([endpoint, code], int(count))
        total_429 += int(count) if code == "429" else 0
    limited.add_metric([], total_429)
    yield requests
    yield limited


def _budget(services: Services) -> Iterator[Any]:
    remaining = GaugeMetricFamily(
        "codegen_mcp_budget_remaining",
        "Requests left in the current window of the shared budget",
        labels=["bucket"],
    )
    try:
        token = services.config.credentials().token
    except NotConfigured:
        yield remaining
        return
    budget = Budget(services.redis, services.settings, token)
    for bucket in BUCKETS:
        remaining.add_metric([bucket], budget.stats(bucket).remaining)
    yield remaining


def _sweep(services: Services, recorder: Recorder) -> Iterator[Any]:
    totals = recorder.redis.hgetall(recorder.key("sweep"))
    duration = CounterMetricFamily("codegen_mcp_sweep_seconds", "Time spent in sweeps")
    duration.add_metric([], float(totals.get("seconds", 0)))
    count = CounterMetricFamily("codegen_mcp_sweeps", "Sweeps run")
    count.add_metric([], int(totals.get("count", 0)))
    runs = CounterMetricFamily("codegen_mcp_sweep_runs_checked", "Runs checked by sweeps")
    runs.add_metric([], int(totals.get("runs", 0)))
    last = GaugeMetricFamily("codegen_mcp_sweep_last_runs", "Runs watched by the latest sweep")
    report = services.redis.get(services.store.keys.sweep("report"))
    last.add_metric([], json.loads(report).get("watched", 0) if report else 0)
    yield from (duration, count, runs, last)


def _delivery(services: Services, recorder: Recorder) -> Iterator[Any]:
    totals = recorder.redis.hgetall(recorder.key("delivery"))
    histogram = HistogramMetricFamily(
        "codegen_mcp_delivery_latency_seconds",
        "From a child's outcome to its orchestrator's resume",
        buckets=[(str(b), int(totals.get(f"le:{b}", 0))) for b in LATENCY_BUCKETS]
        + [("+Inf", int(totals.get("count", 0)))],
        sum_value=float(totals.get("seconds", 0)),
    )
    pending = GaugeMetricFamily(
        "codegen_mcp_deliveries_pending", "Child outcomes waiting for their orchestrator"
    )
    pending.add_metric([], inbox.pending_count(services.store))
    oldest = GaugeMetricFamily(
        "codegen_mcp_deliveries_oldest_pending_seconds",
        "How long the oldest child outcome has waited for its orchestrator (0: none waits)",
    )
    since = inbox.oldest_pending(services.store)
    oldest.add_metric([], max(time.time() - since, 0.0) if since else 0.0)
    yield from (histogram, pending, oldest)


def _liveness(services: Services, recorder: Recorder) -> Iterator[Any]:
    """What the alert rules watch besides the counters: workers alive, the latest sweep,
    Redis memory against its limit."""
    workers = GaugeMetricFamily(
        "codegen_mcp_workers_running", "Celery workers whose heartbeat has not expired"
    )
    workers.add_metric([], len(recorder.live_workers()))
    last = GaugeMetricFamily(
        "codegen_mcp_sweep_last_timestamp_seconds", "When the latest sweep ended (0: never)"
    )
    at = services.redis.get(services.store.keys.sweep("last"))
    last.add_metric([], float(at) if at else 0.0)
    memory = services.redis.info("memory")
    used = GaugeMetricFamily("codegen_mcp_redis_used_memory_bytes", "Redis used_memory")
    used.add_metric([], float(memory.get("used_memory", 0)))
    limit = GaugeMetricFamily(
        "codegen_mcp_redis_maxmemory_bytes", "Redis maxmemory (0: no limit is set)"
    )
    limit.add_metric([], float(memory.get("maxmemory", 0)))
    guard = GaugeMetricFamily(
        "codegen_mcp_memory_guard_active",
        "1 while new and resume are refused: the memory Redis counts against maxmemory is past "
        "CODEGEN_MCP_MEMORY_GUARD",
    )
    found = memory_guard.Reading.from_info(memory, services.settings.memory_guard)
    guard.add_metric([], 1.0 if found.active else 0.0)
    yield from (workers, last, used, limit, guard)


def _webhooks(services: Services, recorder: Recorder) -> Iterator[Any]:
    totals = recorder.redis.hgetall(recorder.key("webhooks"))
    sent = CounterMetricFamily("codegen_mcp_webhooks_sent", "Webhook events the receiver took")
    sent.add_metric([], int(totals.get("sent", 0)))
    failed = CounterMetricFamily(
        "codegen_mcp_webhooks_failed", "Webhook events given up (a 4xx, or retried too long)"
    )
    failed.add_metric([], int(totals.get("failed", 0)))
    pending = GaugeMetricFamily("codegen_mcp_webhooks_pending", "Webhook events not yet delivered")
    pending.add_metric([], Outbox(services.store).waiting())
    yield from (sent, failed, pending)


def health(services: Services) -> tuple[bool, dict[str, Any]]:
    """Redis answers, a worker consumes now, and sweeps run (or are not due yet).

    Only the processes running now count: a worker is one whose heartbeat has not expired,
    so a previous process's traces never make a restarted stack look healthy, and a stack
    is healthy as soon as a worker consumes, before its first sweep is due.
    """
    try:
        return _health(services)
    except UNREACHABLE as exc:
        return False, {"redis": f"unreachable ({type(exc).__name__})"}


def _health(services: Services) -> tuple[bool, dict[str, Any]]:
    services.redis.ping()
    now = time.time()
    recent = max(3 * services.settings.poll_interval, 30.0)
    workers = Recorder(services.redis, services.settings.key_prefix).live_workers()
    last_sweep = services.redis.get(services.store.keys.sweep("last"))
    up_since = min(workers.values(), default=None)
    checks = {
        "redis": "ok",
        "worker": "ok" if workers else "none running",
        "workers_running": len(workers),
        "sweep": _sweep_check(last_sweep and float(last_sweep), now, recent, up_since),
        "queued_tasks": services.store.counts()[State.QUEUED.value],
        # Degraded (new and resume refused) keeps 200: reads work, keep the process in.
        "memory": memory_guard.reading(
            services.redis, services.settings.memory_guard, fresh=True
        ).check(),
    }
    healthy = bool(workers) and checks["sweep"] in ("ok", "not due yet")
    return healthy, checks


def _sweep_check(at: float | None, now: float, recent: float, up_since: float | None) -> str:
    if at and now - at <= recent:
        return "ok"
    if up_since is not None and now - up_since <= recent:
        return "not due yet"  # the workers running now started too recently to have swept
    return f"last seen {now - at:.0f}s ago" if at else "never seen"
