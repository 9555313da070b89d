"""Prometheus metrics of the service (text format via prometheus-client).

With several processes (workers and the learner) ``serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before any of them imports
prometheus-client, and ``/metrics`` aggregates every process's files.
"""

from __future__ import annotations

import functools
import os

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
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
