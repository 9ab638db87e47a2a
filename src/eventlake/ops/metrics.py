"""Every Prometheus metric eventlake exports, in one place, on prometheus_client's registry.

Names follow Prometheus's rules: the `eventlake_` prefix, base units (seconds, bytes), `_total`
on counters (prometheus_client appends it). Each process updates the metrics of its own job and
serves them all when EVENTLAKE_METRICS_PORT (or --metrics-port) is set (`serve`); a metric no
process of that kind touches is simply absent or zero. Updates happen once per flush or batch,
never per message: the loader's hot path pays nothing.

Gauges that describe a store (lag, freshness) are computed when Prometheus scrapes, from
callbacks the running process registers (`track_lag`, `set_freshness`), so a scrape always
sees now minus the newest event, not the value at the last batch.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric

from eventlake.ops.config import CONSUMERS

log = logging.getLogger(__name__)

# A `_created` series beside every counter and histogram doubles what Prometheus stores and no
# rule or panel here reads it.
disable_created_metrics()

OUTCOMES = ("accepted", "rejected", "suppressed")
"""What became of a message the loader committed: landed, dead-lettered, or dropped because its
subject is erased."""

# -- the loader ---------------------------------------------------------------------------------

LOADER_MESSAGES = Counter(
    "eventlake_loader_messages",
    "Messages the loader committed to the lake, by outcome (counted once their flush commits).",
    ["outcome"],
)
LOADER_BYTES = Counter(
    "eventlake_loader_bytes",
    "Bytes of Parquet the loader wrote to the raw lake.",
)
LOADER_FILES = Counter(
    "eventlake_loader_files_written",
    "Parquet files the loader wrote to the raw lake (one per event date and flush).",
)
LOADER_FLUSH_SECONDS = Histogram(
    "eventlake_loader_flush_duration_seconds",
    "Time to write and commit one partition's buffer (files, DLQ, checkpoint).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
for _outcome in OUTCOMES:
    LOADER_MESSAGES.labels(_outcome)

# -- dead letters and streaming -----------------------------------------------------------------

DLQ_MESSAGES = Counter(
    "eventlake_dlq_messages",
    "Messages sent to a dead-letter topic, by the stage that rejected them and the reason code.",
    ["stage", "reason"],
)
STREAM_MESSAGES = Counter(
    "eventlake_stream_messages",
    "Event messages a streaming consumer handled, by outcome (folded into its store, rejected, "
    "duplicate, suppressed).",
    ["consumer", "outcome"],
)
STREAM_ERASURES = Counter(
    "eventlake_stream_erasures",
    "Erasure requests a streaming consumer honoured in its store.",
    ["consumer"],
)

# -- freshness ----------------------------------------------------------------------------------

FRESHNESS = Gauge(
    "eventlake_freshness_seconds",
    "Now minus the newest event time visible in the consumer's store.",
    ["consumer"],
)
FRESHNESS_BUDGET = Gauge(
    "eventlake_freshness_budget_seconds",
    "How old the newest visible event may be for the consumer (EVENTLAKE_<C>_BUDGET_SECONDS).",
    ["consumer"],
)

# -- builds -------------------------------------------------------------------------------------

BUILDS = Counter(
    "eventlake_builds",
    "dbt builds run by the analytics schedule, by outcome (success or failure).",
    ["outcome"],
)
BUILD_SECONDS = Histogram(
    "eventlake_build_duration_seconds",
    "Wall time of one scheduled run (dbt build and what follows it).",
    buckets=(5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600),
)
BUILD_LAST_SUCCESS = Gauge(
    "eventlake_build_last_success_timestamp_seconds",
    "Unix time the last successful scheduled build ended.",
)
BUILD_FAILED_NODES = Gauge(
    "eventlake_build_failed_nodes",
    "Nodes (models, tests) that errored or failed in the last scheduled build.",
)

# -- erasure ------------------------------------------------------------------------------------

ERASURE_OPEN = Gauge(
    "eventlake_erasure_requests_open",
    "Erasure requests received and not complete.",
)
ERASURE_OVERDUE = Gauge(
    "eventlake_erasure_requests_overdue",
    "Open erasure requests past their due date.",
)
ERASURE_OLDEST_AGE = Gauge(
    "eventlake_erasure_oldest_open_request_age_seconds",
    "Age of the oldest open erasure request since its receipt (0 when none is open).",
)
ERASURE_PASSES = Counter(
    "eventlake_erasure_passes",
    "Erasure passes run by the erasure schedule (eventlake erasure process --every), by outcome.",
    ["outcome"],
)
ERASURE_PASS_SECONDS = Histogram(
    "eventlake_erasure_pass_duration_seconds",
    "Wall time of one scheduled erasure pass (the lake, the lakehouse, the rollups, the stores).",
    buckets=(5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600),
)
ERASURE_LAST_SUCCESS = Gauge(
    "eventlake_erasure_last_success_timestamp_seconds",
    "Unix time the last successful scheduled erasure pass ended.",
)

# -- dependencies -------------------------------------------------------------------------------

DEPENDENCY_UP = Gauge(
    "eventlake_up",
    "1 while the process reaches a service it depends on (kafka, redis, catalog), 0 while it "
    "does not and retries (eventlake.ops.health). Absent until the process first knows.",
    ["dependency"],
)

# -- the supervisor -----------------------------------------------------------------------------

CHILD_UP = Gauge(
    "eventlake_child_up",
    "1 when `eventlake up` scraped the child's metrics, 0 when it did not answer.",
    ["child"],
)


def count_dead_letters(stage_reasons: Iterable[tuple[str, str]]) -> None:
    """Count a batch of dead letters, given as (stage, reason code) pairs: one inc per pair kind."""
    counts: dict[tuple[str, str], int] = {}
    for key in stage_reasons:
        counts[key] = counts.get(key, 0) + 1
    for (stage, reason), count in counts.items():
        DLQ_MESSAGES.labels(stage, reason).inc(count)


@dataclass(frozen=True)
class FlushReport:
    """What one committed loader flush did (eventlake.ops.observe builds it from the loader's
    on_flush hook)."""

    accepted: int
    rejected: int
    suppressed: int
    bytes_written: int
    files: int
    seconds: float


def loader_flushed(report: FlushReport) -> None:
    """The loader's flush observer: one update per committed flush."""
    LOADER_MESSAGES.labels("accepted").inc(report.accepted)
    LOADER_MESSAGES.labels("rejected").inc(report.rejected)
    LOADER_MESSAGES.labels("suppressed").inc(report.suppressed)
    LOADER_BYTES.inc(report.bytes_written)
    LOADER_FILES.inc(report.files)
    LOADER_FLUSH_SECONDS.observe(report.seconds)


def set_freshness(consumer: str, newest: Callable[[], float | None], budget: float) -> None:
    """Serve now minus `newest()` (Unix seconds of the newest visible event, None: nothing yet,
    reported as NaN) as the consumer's freshness at every scrape, beside its budget. Only the
    process that reads a consumer's store exports that consumer's pair."""
    if consumer not in CONSUMERS:
        raise ValueError(f"expected a consumer in {CONSUMERS}, got {consumer!r}")

    def age() -> float:
        value = newest()
        return float("nan") if value is None else max(time.time() - value, 0.0)

    FRESHNESS.labels(consumer).set_function(age)
    FRESHNESS_BUDGET.labels(consumer).set(budget)


# -- collectors computed at scrape time ---------------------------------------------------------


@dataclass(frozen=True)
class LagSample:
    group: str
    topic: str
    partition: int
    messages: int
    seconds: float


class _LagCollector:
    """eventlake_consumer_lag_messages / _seconds from every consumer this process runs."""

    def __init__(self) -> None:
        self._sources: weakref.WeakSet = weakref.WeakSet()
        self._lock = threading.Lock()

    def track(self, source: object) -> None:
        """`source.lag_samples()` -> Iterable[LagSample], called at each scrape; the source is
        forgotten when it is garbage-collected."""
        with self._lock:
            self._sources.add(source)

    def collect(self) -> Iterator[Metric]:
        messages = GaugeMetricFamily(
            "eventlake_consumer_lag_messages",
            "Messages of the partition the group has not processed yet: the end the consumer "
            "has seen fetched minus its committed position.",
            labels=["group", "topic", "partition"],
        )
        seconds = GaugeMetricFamily(
            "eventlake_consumer_lag_seconds",
            "How long ago the partition's end was where the group's committed position is now "
            "(0 when caught up).",
            labels=["group", "topic", "partition"],
        )
        with self._lock:  # one scrape at a time: the sources' trackers are not thread-safe
            self._collect_into(messages, seconds)
        yield messages
        yield seconds

    def _collect_into(self, messages: GaugeMetricFamily, seconds: GaugeMetricFamily) -> None:
        for source in list(self._sources):
            try:
                samples = list(source.lag_samples())
            except Exception:  # noqa: BLE001 - a scrape must never break the process
                log.debug("lag of %r unavailable", source, exc_info=True)
                continue
            for sample in samples:
                labels = [sample.group, sample.topic, str(sample.partition)]
                messages.add_metric(labels, sample.messages)
                seconds.add_metric(labels, sample.seconds)

    def describe(self) -> Iterator[Metric]:
        return self.collect()


LAG = _LagCollector()
REGISTRY.register(LAG)


def track_lag(source: object) -> None:
    LAG.track(source)


class BulkHistogram:
    """A histogram fed a batch at a time (numpy), for per-event latencies: observing each of a
    batch's 10,000 events through Histogram.observe would cost the consumer more than the rest
    of its work on the batch."""

    def __init__(
        self, name: str, documentation: str, buckets: tuple[float, ...], registry=REGISTRY
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = np.asarray(buckets, dtype=np.float64)
        self._counts = np.zeros(len(buckets) + 1, dtype=np.int64)  # last: above every bound
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: np.ndarray) -> None:
        if len(values) == 0:
            return
        slots = np.searchsorted(self.bounds, values, side="left")  # value <= bound: that bucket
        counts = np.bincount(slots, minlength=len(self._counts))
        with self._lock:
            self._counts += counts
            self._sum += float(np.sum(values))

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            cumulative = np.cumsum(self._counts).tolist()
            total = self._sum
        bounds = [*(repr(float(b)) for b in self.bounds), "+Inf"]
        family = HistogramMetricFamily(
            self.name,
            self.documentation,
            buckets=list(zip(bounds, cumulative, strict=True)),
            sum_value=total,
        )
        yield family

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self.name, self.documentation)


ONLINE_VISIBLE = BulkHistogram(
    "eventlake_online_event_to_visible_seconds",
    "Per event: the moment its batch committed to the online store minus its event_time.",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 86400),
)


# -- serving ------------------------------------------------------------------------------------


def serve(port: int, registry: CollectorRegistry = REGISTRY, addr: str = "0.0.0.0") -> int:
    """Serve `registry` on http://addr:port/metrics in a daemon thread; the port it listens on
    (port 0: a free one)."""
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    bound = server.server_port
    log.info("serving Prometheus metrics on http://%s:%d/metrics", addr, bound)
    return bound


def metric_names(registry: CollectorRegistry = REGISTRY) -> set[str]:
    """Every sample name `registry` can export (counters with _total, histograms with _bucket,
    _sum and _count): what a dashboard or an alert may query."""
    names: set[str] = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
    return names
