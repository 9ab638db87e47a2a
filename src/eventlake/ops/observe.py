"""Attach the metrics (eventlake.ops.metrics) to a running process: the loader, a stream
consumer, the analytics schedule, `eventlake up`.

The processes themselves only offer hooks called once per flush, batch or run (Loader.on_flush,
StreamConsumer.on_batch, run_schedule's on_run); everything Prometheus-specific lives here, so
the hot paths stay as they are and a process without EVENTLAKE_METRICS_PORT pays nothing.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eventlake.config import Settings
from eventlake.exceptions import UnreachableError
from eventlake.lake import layout
from eventlake.lake.lakehouse import catalog_address
from eventlake.ops import metrics
from eventlake.ops.config import OpsConfig
from eventlake.ops.health import Dependency
from eventlake.ops.lag import LagTracker

log = logging.getLogger(__name__)


def start_metrics(port: int | None, ops: OpsConfig | None = None) -> int | None:
    """Serve this process's metrics when a port is given (--metrics-port) or configured
    (EVENTLAKE_METRICS_PORT); the port served, or None."""
    ops = OpsConfig.from_env() if ops is None else ops
    port = ops.metrics_port if port is None else port
    if port is None:
        return None
    return metrics.serve(port)


# -- the loader ---------------------------------------------------------------------------------


class LoaderObserver:
    """Counts each committed flush and reports the loader's lag per partition.

    Lag: the lake checkpoint (what is committed) against the end of the partition as this
    loader's fetches saw it (eventlake.ops.lag)."""

    def __init__(self, loader) -> None:
        self.loader = loader
        self.group = loader.settings.group_id
        self.topic = loader.settings.topic
        self.tracker = LagTracker()
        loader.on_flush = self.flushed
        metrics.track_lag(self)

    def flushed(self, before, after, buffer, seconds: float) -> None:
        suppressed_rows = before.events - after.events
        suppressed_rejects = before.rejected - after.rejected
        report = metrics.FlushReport(
            accepted=buffer.rows - suppressed_rows,
            rejected=len(buffer.rejects) - suppressed_rejects,
            suppressed=after.suppressed - before.suppressed,
            bytes_written=after.bytes_written - before.bytes_written,
            files=after.files - before.files,
            seconds=seconds,
        )
        metrics.loader_flushed(report)

    def lag_samples(self):
        """From the loader's own figures only: calling its consumer from the scraping thread
        would wait for the consuming thread's poll to return."""
        ends = dict(self.loader.partition_ends)
        for partition in sorted(self.loader._assigned):  # noqa: SLF001 - a copy is read
            committed = layout.read_checkpoint(
                self.loader.lake_dir, self.topic, partition
            ).next_offset
            end = max(ends.get(partition, committed), committed)
            messages, seconds = self.tracker.observe((self.topic, partition), end, committed)
            yield metrics.LagSample(self.group, self.topic, partition, messages, seconds)


# -- the stream consumers -----------------------------------------------------------------------


@dataclass
class _Newest:
    seconds: float | None = None


class StreamObserver:
    """Counts each batch, keeps the newest event time the store holds (its freshness), feeds
    the online store's event-to-visible histogram, and reports the group's lag."""

    def __init__(
        self, consumer, name: str, group: str, newest: float | None, budget: float
    ) -> None:
        self.consumer = consumer
        self.name = name
        self.group = group
        self.newest = _Newest(newest)
        self.tracker = LagTracker()
        consumer.on_batch = self.batch
        metrics.set_freshness(name, lambda: self.newest.seconds, budget)
        metrics.track_lag(self)

    def batch(self, before, after, folded: pa.Table | None) -> None:
        committed_at = time.time()
        for outcome, attribute in (
            ("folded", "events"),
            ("rejected", "rejected"),
            ("duplicate", "duplicates"),
            ("suppressed", "suppressed"),
        ):
            delta = getattr(after, attribute) - getattr(before, attribute)
            if delta:
                metrics.STREAM_MESSAGES.labels(self.name, outcome).inc(delta)
        if after.erasures != before.erasures:
            metrics.STREAM_ERASURES.labels(self.name).inc(after.erasures - before.erasures)
        if folded is None or folded.num_rows == 0:
            return
        micros = pc.cast(folded["event_time"], pa.int64()).to_numpy(zero_copy_only=False)
        past = micros[micros <= committed_at * 1e6]  # a future event must not hide staleness
        newest = float(past.max()) / 1e6 if len(past) else None
        if newest is not None and (self.newest.seconds is None or newest > self.newest.seconds):
            self.newest.seconds = newest
        if self.name == "online":
            metrics.ONLINE_VISIBLE.observe_many(committed_at - micros.astype(np.float64) / 1e6)

    def lag_samples(self):
        live = dict(self.consumer.committed)  # newer than the ends' last refresh
        for (topic, partition), (committed, end) in dict(self.consumer.partition_ends).items():
            committed = max(committed, live.get((topic, partition), committed))
            end = max(end, committed)
            messages, seconds = self.tracker.observe((topic, partition), end, committed)
            yield metrics.LagSample(self.group, topic, partition, messages, seconds)


# -- the analytics schedule ---------------------------------------------------------------------


def failed_nodes(target_dir: Path, since: float) -> int | None:
    """Nodes that errored or failed in dbt's run_results.json, if it was written after `since`
    (a run that died before writing it: None)."""
    path = target_dir / "run_results.json"
    try:
        if path.stat().st_mtime < since:
            return None
        results = json.loads(path.read_text("utf-8")).get("results", [])
    except (OSError, ValueError):
        return None
    return sum(1 for r in results if r.get("status") in ("error", "fail", "runtime error"))


class ScheduleObserver:
    """Each scheduled run: outcome, duration, last success, failed nodes; and, refreshed in the
    background, the lakehouse's freshness (analytics, training) and the erasure requests. The
    probe also tells whether the catalog answers (eventlake_up{dependency="catalog"}).

    The job is the analytics schedule's dbt builds ("build") or the erasure schedule's passes
    ("erasure"): a pass counts as a pass, not a build, and leaves the freshness gauges to the
    analytics schedule (two processes exporting one consumer's freshness would alert twice)."""

    def __init__(
        self,
        settings: Settings,
        budgets: dict[str, int],
        cwd: Path | None = None,
        refresh: float = 60.0,
        job: str = "build",
    ):
        if job not in ("build", "erasure"):
            raise ValueError(f"expected job 'build' or 'erasure', got {job!r}")
        self.job = job
        self.settings = settings
        target = os.environ.get("DBT_TARGET_PATH") or "target"
        self.target_dir = (cwd or Path.cwd()) / target
        self.refresh = refresh
        self.newest: dict[str, float | None] = {"analytics": None, "training": None}
        self.oldest_open: float | None = None
        self.catalog = Dependency(
            "catalog", catalog_address(settings.catalog), hint="EVENTLAKE_CATALOG"
        )
        self._wake = threading.Event()
        self._closed = threading.Event()
        for consumer in self.newest if job == "build" else ():
            metrics.set_freshness(
                consumer, lambda consumer=consumer: self.newest[consumer], budgets[consumer]
            )
        metrics.ERASURE_OLDEST_AGE.set_function(
            lambda: 0.0 if self.oldest_open is None else max(time.time() - self.oldest_open, 0.0)
        )
        self._thread = threading.Thread(
            target=self._loop, name="eventlake-lakehouse-probe", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop the background probe and wait for it: a process must not exit while the probe
        is inside DuckDB (the runtime aborts a thread it tears down mid-query)."""
        self._closed.set()
        self._wake.set()
        self._thread.join()

    def ran(self, status: int, seconds: float) -> None:
        ended = time.time()
        outcome = "success" if status == 0 else "failure"
        if self.job == "erasure":
            metrics.ERASURE_PASSES.labels(outcome).inc()
            metrics.ERASURE_PASS_SECONDS.observe(seconds)
            if status == 0:
                metrics.ERASURE_LAST_SUCCESS.set(ended)
            self._wake.set()
            return
        metrics.BUILDS.labels(outcome).inc()
        metrics.BUILD_SECONDS.observe(seconds)
        failed = failed_nodes(self.target_dir, ended - seconds)
        metrics.BUILD_FAILED_NODES.set(failed if failed is not None else (0 if status == 0 else 1))
        if status == 0:
            metrics.BUILD_LAST_SUCCESS.set(ended)
        self._wake.set()

    def _loop(self) -> None:
        while not self._closed.is_set():
            try:
                self.probe()
            except UnreachableError as error:  # said once, not once a probe
                self.catalog.down(error.reason)
            except Exception as error:  # noqa: BLE001 - the next probe tries again
                self.catalog.up()  # it answered: the lakehouse is what failed
                first = str(error).strip().splitlines()[0] if str(error).strip() else error
                log.warning("could not read the lakehouse for metrics: %s", first)
            else:
                self.catalog.up()
            self._wake.wait(self.refresh)
            self._wake.clear()

    def probe(self) -> None:
        from eventlake.ops.status import lakehouse_state

        now = time.time()
        newest, _build, erasure = lakehouse_state(self.settings, now)
        self.newest.update(newest)
        if erasure.open is not None:
            metrics.ERASURE_OPEN.set(erasure.open)
            metrics.ERASURE_OVERDUE.set(erasure.overdue)
            age = erasure.oldest_open_age_seconds
            self.oldest_open = None if age is None else now - age


def stored_newest(store: str) -> float | None:
    """The newest event time the store already holds, so a restarted consumer reports its
    freshness before its first batch (None: empty, or not readable from here)."""
    from eventlake.ops import freshness
    from eventlake.streaming.config import FraudConfig, OnlineConfig

    try:
        if store == "online":
            return freshness.newest_online(OnlineConfig.from_env(), time.time())
        return freshness.newest_fraud(FraudConfig.from_env(), time.time())
    except Exception:  # noqa: BLE001 - the first batch sets it anyway
        log.debug("newest event of the %s store unavailable", store, exc_info=True)
        return None
