"""Prometheus metrics of the service (text format via prometheus-client).

With several processes (workers and the learner) ``serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before any of them imports
prometheus-client, and ``/metrics`` aggregates every process's files.

There every update of a metric is a locked write to a memory-mapped file, after a check
of the process id: the per-request counters are therefore counted in memory
(:func:`count`) and written by :func:`flush`, which a worker calls at each reload check
(``reload_s``, a second by default), before answering ``/metrics`` and when it stops. A
worker's own ``/metrics`` is exact; another worker's counts may be that much older.
"""

from __future__ import annotations

import functools
import os
from collections import Counter as Tally

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

REQUESTS = Counter(
    "serve_requests_total", "HTTP requests by endpoint and status", ["endpoint", "status"]
)
LATENCY = Histogram(
    "serve_request_seconds",
    "Request latency in seconds, from the first byte read to the response",
    ["endpoint"],
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)
DECISIONS = Counter("serve_decisions_total", "Decisions logged", ["mode"])
REWARDS = Counter(
    "serve_rewards_total",
    "Rewards by outcome: joined (recorded in time), late, duplicate, unknown, inactive",
    ["outcome"],
)
DEFAULTS = Counter("serve_default_rewards_total", "Decisions learned from with the default reward")
LEARNED = Counter("serve_learned_events_total", "Decisions the learner trained on")
POLICY = Gauge(
    "serve_policy_version_info",
    "The policy version served (value 1)",
    ["version"],
    multiprocess_mode="liveall",
)
BATCH = Histogram(
    "serve_commit_batch_events",
    "Events per group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024),
)


_served: list[str] = []


_pending: Tally = Tally()  # (metric, label values) -> increments not written yet


def count(metric, *values: str) -> None:
    """Add one to ``metric`` with these label values, in memory until :func:`flush`
    (call it from the event loop's thread, as :func:`flush` is)."""
    _pending[(metric, values)] += 1


def flush() -> None:
    """Write the counts made since the last flush to prometheus-client."""
    pending = list(_pending.items())
    _pending.clear()
    for (metric, values), n in pending:
        labelled(metric, *values).inc(n)


@functools.cache
def labelled(metric, *values: str):
    """``metric.labels(*values)``, looked up once per label set: ``labels`` takes a lock
    and checks its arguments on every call."""
    return metric.labels(*values)


def set_version(version: str) -> None:
    """Mark ``version`` as served (1) and the one before as no longer served (0)."""
    for old in _served:
        POLICY.labels(version=old).set(0)
    _served[:] = [version]
    POLICY.labels(version=version).set(1)


def exposition() -> tuple[bytes, str]:
    flush()
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
