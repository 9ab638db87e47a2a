"""The metrics' own arithmetic: lag in seconds, the batch histogram, the names they export."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from eventlake.exceptions import ConfigError
from eventlake.ops import metrics
from eventlake.ops.config import OpsConfig
from eventlake.ops.lag import LagTracker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lag_seconds_is_how_long_ago_the_end_was_at_the_committed_position():
    clock = Clock()
    tracker = LagTracker(clock=clock)
    key = ("events", 0)
    assert tracker.observe(key, end=100, committed=100) == (0, 0.0)
    clock.now = 1010.0
    # The end was at 100 (the committed position) at t=1000: 10 s behind.
    assert tracker.observe(key, end=200, committed=100) == (100, 10.0)
    clock.now = 1030.0
    # The end went 100 -> 200 between t=1000 and t=1010: offset 150 was the end at t=1005.
    assert tracker.observe(key, end=300, committed=150) == (150, 25.0)
    clock.now = 1040.0
    assert tracker.observe(key, end=300, committed=300) == (0, 0.0)


def test_lag_older_than_the_memory_is_a_lower_bound_from_the_oldest_sample():
    clock = Clock()
    tracker = LagTracker(clock=clock)
    tracker.observe(("events", 1), end=500, committed=10)
    clock.now = 1060.0
    assert tracker.observe(("events", 1), end=500, committed=10) == (490, 60.0)


def test_the_batch_histogram_counts_exactly_as_prometheus_histogram_does():
    values = np.random.default_rng(7).exponential(30, 5_000)
    values[:3] = [0.1, 1.0, 86400.0]  # on bucket bounds: "le" is inclusive
    buckets = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 86400)
    reference_registry, bulk_registry = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("h_seconds", "h", buckets=buckets, registry=reference_registry)
    for v in values:
        reference.observe(v)
    bulk = metrics.BulkHistogram("h_seconds", "h", buckets, registry=bulk_registry)
    bulk.observe_many(values[:1000])
    bulk.observe_many(values[1000:])

    def samples(registry):
        text = generate_latest(registry).decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): round(s.value, 6)
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if not s.name.endswith("_created")
        }

    assert samples(bulk_registry) == samples(reference_registry)


def test_every_metric_the_issue_names_is_exported_under_prometheus_conventions():
    names = metrics.metric_names()
    for name in (
        "eventlake_loader_messages_total",
        "eventlake_loader_bytes_total",
        "eventlake_loader_files_written_total",
        "eventlake_loader_flush_duration_seconds_bucket",
        "eventlake_consumer_lag_messages",
        "eventlake_consumer_lag_seconds",
        "eventlake_dlq_messages_total",
        "eventlake_freshness_seconds",
        "eventlake_freshness_budget_seconds",
        "eventlake_online_event_to_visible_seconds_bucket",
        "eventlake_build_last_success_timestamp_seconds",
        "eventlake_build_duration_seconds_bucket",
        "eventlake_build_failed_nodes",
        "eventlake_erasure_requests_open",
        "eventlake_erasure_requests_overdue",
        "eventlake_erasure_oldest_open_request_age_seconds",
    ):
        assert name in names, name
    ours = {n for n in names if n.startswith("eventlake_")}
    assert all(not n.endswith("_total") or n[: -len("_total")] in names for n in ours)


def test_budgets_and_port_come_from_the_environment_and_zero_budgets_are_refused():
    ops = OpsConfig.from_env(
        {"EVENTLAKE_METRICS_PORT": "9400", "EVENTLAKE_FRAUD_BUDGET_SECONDS": "120"}
    )
    assert ops.metrics_port == 9400
    assert ops.budgets() == {"online": 60, "fraud": 120, "analytics": 1800, "training": 172800}
    assert OpsConfig.from_env({}).metrics_port is None
    with pytest.raises(ConfigError, match="EVENTLAKE_ONLINE_BUDGET_SECONDS"):
        OpsConfig.from_env({"EVENTLAKE_ONLINE_BUDGET_SECONDS": "0"})
    with pytest.raises(ConfigError, match="EVENTLAKE_METRICS_PORT"):
        OpsConfig.from_env({"EVENTLAKE_METRICS_PORT": "http"})
