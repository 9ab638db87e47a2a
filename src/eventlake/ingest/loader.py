"""Kafka `events` -> <lake>/raw/events, exactly once, in bounded memory.

Each consumed batch is decoded (see decode.py) and its rows and rejects are buffered per Kafka
partition. A partition's buffer is flushed when it reaches the record, byte or age limit, when
the buffers together exceed the memory budget, when the partition is revoked, and on shutdown.

A flush is committed by the partition's checkpoint (see eventlake.lake.layout):
1. the checkpoint records the files the flush is about to write (pending);
2. one Parquet file per event date, plus one quarantine file for the rejects, each published
   under its final, offset-named name (on disk: temporary name, fsync, rename; on a bucket: one
   PUT, no rename: see eventlake.lake.storage); the rejects go to the DLQ topic and the
   producer is flushed;
3. the checkpoint moves next_offset past the flush and clears pending: this is the commit.
A crash before 3 leaves pending files that recovery deletes before reading again from
next_offset, so every offset lands once whatever the rotation settings. Until 3, the files lie
past next_offset, so readers (layout.is_committed) skip them. Kafka's group offsets are
committed after 3 for lag monitoring only.

Two threads share the work: the consuming thread polls Kafka and hands batches to the writing
thread through a queue two batches deep (bounded memory), so polling and decoding/writing overlap
on two cores (pyarrow releases the GIL while it parses and writes). Rebalance callbacks run on the
consuming thread; they wait for the writer to finish the queued batches before flushing.

Erased subjects never land again (see erasure/suppression.py): a flush runs inside the
suppression list's guard and drops the rows and rejects of listed subjects before it plans its
files, so a date left empty gets no file, and the offsets still commit. With an empty list this
costs one stat per flush.

Faults say so once (eventlake.ops.health). An unreachable broker is one line naming its address
and eventlake_up{dependency="kafka"} 0; a following loader retries for ever, `--once` gives up
after EVENTLAKE_CONNECT_TIMEOUT_SECONDS (UnreachableError, exit 1). A full disk fails the flush
before its commit: its files are removed, nothing moves, and the loader stops with LakeFullError
(exit 1) naming the lake; run again once there is room, it resumes from the checkpoints.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from eventlake.config import LoaderConfig, Settings
from eventlake.erasure.suppression import Suppressor
from eventlake.exceptions import EventlakeError, LakeError, LakeFullError
from eventlake.ingest.decode import Decoder, Limits, RawBatch, unify_tables
from eventlake.ingest.dlq import DeadLetters, Reject
from eventlake.ingest.kafka import consumer_config
from eventlake.ingest.kafka_health import kafka_health
from eventlake.lake import layout
from eventlake.lake.layout import BLOOM_FILTER_COLUMNS, PLAIN_COLUMNS
from eventlake.lake.storage import lake_storage

log = logging.getLogger(__name__)

_STOP = object()

SORT_KEYS = [("event_time", "ascending"), ("event_id", "ascending")]


@dataclass
class PartitionBuffer:
    """Rows and rejects of one partition not yet written."""

    first_offset: int
    last_offset: int
    started: float
    tables: list[pa.Table] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    rows: int = 0
    nbytes: int = 0


@dataclass
class Progress:
    """Counters for the progress line and for callers (tests, the demo, the benchmark)."""

    messages: int = 0
    events: int = 0
    """Rows accepted (decoded and not suppressed)."""
    rejected: int = 0
    """Messages rejected to the DLQ (suppressed ones excluded)."""
    suppressed: int = 0
    """Rows and rejects dropped because their subject is on the erasure suppression list."""
    files: int = 0
    bytes_written: int = 0
    flushes: int = 0
    lag: int = 0
    busy_seconds: float = 0.0
    """Wall time of the poll iterations that returned messages, plus the final flush:
    the loader's working time without the idle polls (what the benchmark divides by)."""
    handoff_wait_seconds: float = 0.0
    """Time the consuming thread waited for room in the hand-off queue: the writer behind."""
    writer_wait_seconds: float = 0.0
    """Time the writing thread waited for a batch that then came: the consumer behind."""
    consumer_cpu_seconds: float = 0.0
    """CPU time of the consuming thread (with the final flush), set when run() returns."""
    writer_cpu_seconds: float = 0.0
    """CPU time of the writing thread, set when it ends. With the two waits, this is what
    decides between a thread and a process for the writer."""


def _split_by_event_date(tables: list[pa.Table]) -> dict[date, pa.Table]:
    """One sort of the whole buffer, then zero-copy slices: a table per event date.

    event_date is the UTC date of event_time, so sorting by (event_time, event_id) sorts the
    dates too: no third sort key.
    """
    if not tables:
        return {}
    table = unify_tables(tables)
    table = table.take(pc.sort_indices(table, SORT_KEYS))
    runs = pc.value_counts(table["event_date"])  # in order of first appearance: sorted
    by_date: dict[date, pa.Table] = {}
    start = 0
    for run in runs.to_pylist():
        by_date[run["values"]] = table.slice(start, run["counts"]).drop_columns(["event_date"])
        start += run["counts"]
    return by_date


def _group(keys: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """A stable order that groups equal keys, and each group's (key, start, stop) in it."""
    if not len(keys):
        return np.arange(0), []
    if keys[0] == keys[-1] and (keys == keys[0]).all():  # one partition: the common case
        return np.arange(len(keys)), [(int(keys[0]), 0, len(keys))]
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    bounds = (np.flatnonzero(ordered[1:] != ordered[:-1]) + 1).tolist()
    starts, stops = [0, *bounds], [*bounds, len(keys)]
    return order, [
        (int(ordered[start]), start, stop) for start, stop in zip(starts, stops, strict=True)
    ]


def _split_by_partition(table: pa.Table | None) -> dict[int, pa.Table]:
    """One take groups the rows by _partition (each in batch order), then zero-copy slices."""
    if table is None or not table.num_rows:
        return {}
    order, runs = _group(table["_partition"].to_numpy())
    if len(runs) > 1:
        table = table.take(order)
    return {partition: table.slice(start, stop - start) for partition, start, stop in runs}


class Loader:
    """One loader process: a consumer-group member writing its partitions to the lake."""

    def __init__(
        self,
        settings: Settings,
        config: LoaderConfig,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        progress_every: float = 5.0,
    ) -> None:
        # Arrow's default mimalloc pool keeps freed pages; the system allocator hands them back,
        # which keeps the loader's resident memory near what its buffers hold.
        pa.set_memory_pool(pa.system_memory_pool())
        self.settings = settings
        self.config = config
        self.clock = clock
        self.lake_dir = settings.lake_dir
        self.decoder = Decoder(config.max_message_bytes)
        self.dead_letters = DeadLetters(settings, self.lake_dir, config.row_group_size)
        self.suppressor = Suppressor(self.lake_dir, settings.subject_hash_key)
        self.progress = Progress()
        self.progress_every = progress_every
        self.on_flush: Callable[[Progress, Progress, PartitionBuffer, float], None] | None = None
        """Called after each committed flush with the progress before and after it, the buffer
        it wrote and its duration (the metrics observer, eventlake.ops.observe)."""
        self.partition_ends: dict[int, int] = {}
        """partition -> its end as this loader's fetches saw it, at the last progress line."""
        self._buffers: dict[int, PartitionBuffer] = {}
        self._next_offsets: dict[int, int | None] = {}
        """Each assigned partition's committed next_offset: its checkpoint, kept in memory."""
        self._assigned: set[int] = set()
        self._at_end: set[int] = set()
        self._stop = threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._lock = threading.Lock()
        self._writer_error: BaseException | None = None
        self._commits: deque[TopicPartition] = deque()  # appended by the writer
        self._last_rebalance = time.monotonic()
        # A member that died without leaving holds its partitions until its session expires:
        # --once waits that long after the last rebalance before calling the topic drained,
        # unless it holds every partition of the topic (then no other member holds any).
        self._settle_seconds = 1.5 * config.session_timeout_ms / 1000
        self._partition_count: int | None = None
        self.kafka = kafka_health(settings.bootstrap_servers)
        self._consumer = Consumer(
            consumer_config(
                settings.bootstrap_servers,
                settings.group_id,
                config.session_timeout_ms,
            )
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to flush and exit (safe from a signal handler)."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop())

    def run(self, *, once: bool = False, idle_timeout: float = 1.0) -> Progress:
        """Follow the topic until stop(); with once, until every partition is drained."""
        self._consumer.subscribe(
            [self.settings.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        writer = threading.Thread(target=self._write_loop, name="eventlake-writer", daemon=True)
        writer.start()
        cpu_started = time.thread_time()
        last_report = time.monotonic()
        reported = 0
        try:
            while not self._stop.is_set():
                started = time.perf_counter()
                messages = self._consumer.consume(self.config.batch_size, idle_timeout)
                records = self._records(messages)
                if records:
                    self._enqueue(records)
                    self.progress.busy_seconds += time.perf_counter() - started
                elif not messages:
                    self.kafka.probe(self._consumer, self.settings.topic)
                self._commit_offsets()
                if once and self._drained():
                    break
                if once:
                    self.kafka.dependency.give_up_after(self.config.connect_timeout_seconds)
                now = time.monotonic()
                if now - last_report >= self.progress_every:
                    reported = self._report(now - last_report, reported)
                    last_report = now
        finally:
            while writer.is_alive():
                try:
                    self._queue.put(_STOP, timeout=0.5)
                    break
                except queue.Full:
                    continue
            writer.join()
            started = time.perf_counter()
            try:
                if self._writer_error is None:
                    with self._lock:
                        self._flush_all()
            finally:  # a failed final flush (a full disk) still leaves the group cleanly
                self.progress.busy_seconds += time.perf_counter() - started
                self.progress.consumer_cpu_seconds = time.thread_time() - cpu_started
                self._commit_offsets()
                self._report(max(time.monotonic() - last_report, 1e-9), reported)
                self._consumer.close()
                self.dead_letters.close()
        if self._writer_error is not None:
            raise self._writer_error
        return self.progress

    def _drained(self) -> bool:
        if not self._assigned or not self._at_end >= self._assigned:
            return False
        if self._queue.unfinished_tasks:
            return False
        return (
            len(self._assigned) >= self._topic_partitions()
            or time.monotonic() - self._last_rebalance >= self._settle_seconds
        )

    def _topic_partitions(self) -> int:
        if self._partition_count is None:
            metadata = self._consumer.list_topics(self.settings.topic, timeout=10)
            self._partition_count = len(metadata.topics[self.settings.topic].partitions)
        return self._partition_count

    # -- the writing thread ---------------------------------------------------------------------

    def _enqueue(self, records: list[Message]) -> None:
        """Hand a batch to the writer; blocks while it is two batches behind."""
        started = time.perf_counter()
        try:
            while True:
                if self._writer_error is not None:
                    raise self._writer_error
                try:
                    self._queue.put(records, timeout=0.5)
                    return
                except queue.Full:
                    continue
        finally:
            self.progress.handoff_wait_seconds += time.perf_counter() - started

    def _write_loop(self) -> None:
        cpu_started = time.thread_time()
        while True:
            waited = time.perf_counter()
            try:
                item = self._queue.get(timeout=1.0)
            except queue.Empty:
                item = None  # idle: still rotate buffers that reached their age
            try:
                if item is _STOP:
                    self.progress.writer_cpu_seconds = time.thread_time() - cpu_started
                    return
                if item is not None:
                    self.progress.writer_wait_seconds += time.perf_counter() - waited
                with self._lock:
                    if item is not None:
                        self._handle(item)
                    self._rotate()
            except BaseException as error:  # noqa: BLE001 - re-raised on the consuming thread
                if not isinstance(error, EventlakeError):  # those say why themselves
                    log.exception("the writer failed; the loader stops without committing")
                self._writer_error = error
                self._stop.set()
                return
            finally:
                if item is not None:
                    self._queue.task_done()

    def _wait_for_writer(self) -> None:
        while self._queue.unfinished_tasks and self._writer_error is None:
            time.sleep(0.005)

    def _commit_offsets(self) -> None:
        """Kafka group offsets follow the lake's checkpoints, for lag monitoring only."""
        commits = []
        while self._commits:
            commits.append(self._commits.popleft())
        if commits:
            self._consumer.commit(offsets=commits, asynchronous=True)

    # -- rebalance ------------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._last_rebalance = time.monotonic()
        self.kafka.seen()
        for tp in partitions:
            next_offset = layout.recover_partition(self.lake_dir, tp.topic, tp.partition)
            self._next_offsets[tp.partition] = next_offset
            tp.offset = OFFSET_BEGINNING if next_offset is None else next_offset
            self._assigned.add(tp.partition)
            self._at_end.discard(tp.partition)
            log.info("assigned partition %d from offset %s", tp.partition, next_offset or 0)
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._last_rebalance = time.monotonic()
        self._wait_for_writer()
        with self._lock:
            for tp in partitions:
                flushed = self._writer_error is None
                if flushed:
                    self._flush(tp.partition)
                self._next_offsets.pop(tp.partition, None)  # the next owner moves it on
                self._assigned.discard(tp.partition)
                self._at_end.discard(tp.partition)
                log.info(
                    "revoked partition %d (%s)",
                    tp.partition,
                    "flushed" if flushed else "not flushed: the writer failed",
                )
        self._commit_offsets()

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._wait_for_writer()
        with self._lock:
            for tp in partitions:
                # Another member may own it already: drop the buffer, the next owner re-reads.
                self._buffers.pop(tp.partition, None)
                self._next_offsets.pop(tp.partition, None)
                self._assigned.discard(tp.partition)
                self._at_end.discard(tp.partition)
                log.warning("lost partition %d (buffer abandoned)", tp.partition)

    # -- the hot path -------------------------------------------------------------------------

    def _records(self, messages: list[Message]) -> list[Message]:
        """The data messages of a poll; end-of-partition marks and errors are noted here."""
        records = [m for m in messages if m.error() is None]
        if records:
            self.kafka.seen()
        if len(records) == len(messages):  # the common case: no marks, one pass in C
            if self._at_end:
                self._at_end -= {m.partition() for m in records}
            return records
        records = []
        for message in messages:  # in order: an end-of-partition mark follows its records
            error = message.error()
            if error is None:
                records.append(message)
                self._at_end.discard(message.partition())
            elif error.code() == KafkaError._PARTITION_EOF:
                self.kafka.seen()
                self._at_end.add(message.partition())
            elif error.code() == KafkaError._AUTO_OFFSET_RESET:
                raise LakeError(
                    f"the lake's next offset for {message.topic()}[{message.partition()}] is not "
                    f"in the topic ({error.str()}): the topic was recreated or its retention "
                    "passed the lake. Point EVENTLAKE_LAKE_DIR at the lake of this topic"
                )
            else:
                log.error("consumer error: %s", error)
        return records

    def _handle(self, records: list[Message]) -> None:
        """Decode a polled batch in one pass, then split it by Kafka partition with one take.

        The message fields are read by map() over the C accessors: the only per-message Python
        left. Decoding the whole poll at once, not partition by partition, keeps the fixed cost
        of each Arrow call spread over as many messages as possible.
        """
        count = len(records)
        now = self.clock()
        partitions = np.fromiter(map(Message.partition, records), np.int32, count)
        offsets = np.fromiter(map(Message.offset, records), np.int64, count)
        batch = RawBatch(
            topic=self.settings.topic,
            partitions=partitions,
            offsets=offsets,
            keys=list(map(Message.key, records)),
            values=list(map(Message.value, records)),
        )
        decoded = self.decoder.decode(
            batch,
            Limits(
                now=now,
                max_future=timedelta(seconds=self.config.max_future_seconds),
                max_age=timedelta(days=self.config.max_age_days),
            ),
        )
        self.progress.messages += count
        self.progress.rejected += len(decoded.rejects)
        rejects_by_partition: dict[int, list[Reject]] = {}
        for position, reason in decoded.rejects.items():
            message = records[position]
            rejects_by_partition.setdefault(message.partition(), []).append(
                Reject.from_message(message, reason, now)
            )
        tables = _split_by_partition(decoded.table)
        order, runs = _group(partitions)
        for partition, start, stop in runs:
            in_partition = offsets[order[start:stop]]
            self._append(
                partition,
                int(in_partition.min()),
                int(in_partition.max()),
                tables.get(partition),
                rejects_by_partition.get(partition, []),
            )
        if decoded.table is not None:
            self.progress.events += decoded.table.num_rows

    def land(self, partition: int, first: int, last: int, table: pa.Table) -> None:
        """Write one decoded batch of `partition` (offsets first..last) to the lake and commit
        it now, as a flush of the consumer loop would: for callers that hold the messages
        without a broker (a reference lake built by the real loader code)."""
        self._assigned.add(partition)
        self._append(partition, first, last, table, [])
        self._flush(partition)

    def _append(
        self,
        partition: int,
        first: int,
        last: int,
        table: pa.Table | None,
        rejects: list[Reject],
    ) -> None:
        if partition not in self._assigned:
            return  # revoked while this batch was in flight: the next owner reads it again
        buffer = self._buffers.get(partition)
        if buffer is None:
            buffer = self._buffers[partition] = PartitionBuffer(first, last, time.monotonic())
        buffer.first_offset = min(buffer.first_offset, first)
        buffer.last_offset = max(buffer.last_offset, last)
        if table is not None and table.num_rows:
            buffer.tables.append(table)
            buffer.rows += table.num_rows
            buffer.nbytes += table.nbytes
        buffer.rejects.extend(rejects)

    def _rotate(self) -> None:
        now = time.monotonic()
        for partition, buffer in list(self._buffers.items()):
            if (
                buffer.rows >= self.config.rotate_records
                or buffer.nbytes >= self.config.rotate_bytes
                or now - buffer.started >= self.config.rotate_seconds
            ):
                self._flush(partition)
        while sum(b.nbytes for b in self._buffers.values()) > self.config.max_buffer_bytes:
            largest = max(self._buffers, key=lambda p: self._buffers[p].nbytes)
            self._flush(largest)

    # -- the commit protocol ----------------------------------------------------------------

    def _flush_all(self) -> None:
        for partition in list(self._buffers):
            self._flush(partition)

    def _flush(self, partition: int) -> None:
        buffer = self._buffers.pop(partition, None)
        if buffer is None:
            return
        before, started = replace(self.progress), time.perf_counter()
        with self.suppressor.guard():  # filter and write under the list's shared lock
            try:
                self._write_and_commit(partition, buffer)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                raise self._lake_full(partition, buffer, error) from None
        if self.on_flush is not None:
            self.on_flush(before, self.progress, buffer, time.perf_counter() - started)

    def _suppress(self, by_date: dict[date, pa.Table], rejects: list[Reject]) -> list[Reject]:
        """Drop listed subjects from by_date (in place, empty dates removed) and rejects."""
        for event_date, table in list(by_date.items()):
            kept, dropped = self.suppressor.filter(table)
            if dropped:
                self.progress.events -= dropped
                self.progress.suppressed += dropped
                if kept.num_rows:
                    by_date[event_date] = kept
                else:
                    del by_date[event_date]
        kept_rejects, dropped = self.suppressor.filter_rejects(rejects)
        self.progress.rejected -= dropped
        self.progress.suppressed += dropped
        return kept_rejects

    def _write_and_commit(self, partition: int, buffer: PartitionBuffer) -> None:
        topic = self.settings.topic
        name = layout.data_file_name(topic, partition, buffer.first_offset, buffer.last_offset)
        by_date = _split_by_event_date(buffer.tables)
        buffer.tables.clear()
        rejects = buffer.rejects
        storage = lake_storage(self.lake_dir)
        while True:
            rejects = self._suppress(by_date, rejects)
            pending = self._write_pending(partition, name, by_date, rejects)
            # On a bucket no lock keeps the suppression list still while a flush writes (see
            # erasure/suppression.py): if it changed, the files (still uncommitted, read by
            # nobody) are removed and the flush is filtered and written again.
            if not storage.remote or not self.suppressor.changed():
                break
            log.info(
                "the suppression list changed during a flush of %d: writing it again", partition
            )
            layout.recover_partition(self.lake_dir, topic, partition)
            self.suppressor.refresh()
        quarantine = pending[-1] if rejects else None
        if quarantine is not None:
            self.dead_letters.publish(rejects, quarantine)
        for directory in {p.rpartition("/")[0] for p in pending}:
            storage.sync_dir(directory)  # the renames survive a power cut (no-op on a bucket)
        next_offset = buffer.last_offset + 1
        layout.write_checkpoint(self.lake_dir, topic, partition, layout.Checkpoint(next_offset))
        self._next_offsets[partition] = next_offset
        self.progress.flushes += 1
        self._commits.append(TopicPartition(topic, partition, next_offset))

    def _lake_full(self, partition: int, buffer: PartitionBuffer, error: OSError) -> LakeFullError:
        """A flush hit a full disk before its commit: remove the files it wrote (recovery would
        at the next start; now they free their room) and say what stays uncommitted."""
        topic = self.settings.topic
        try:
            next_offset = layout.recover_partition(self.lake_dir, topic, partition)
        except OSError:  # still full: the next start's recovery removes them
            next_offset = self._next_offsets.get(partition)
        storage = lake_storage(self.lake_dir)
        where = storage.root_uri if storage.remote else storage.root
        return LakeFullError(
            f"lake disk full: no space left under {where} to write "
            f"{topic}[{partition}] offsets {buffer.first_offset}..{buffer.last_offset} "
            f"({os.strerror(error.errno)}). Nothing of it was committed (the partition stays at "
            f"offset {next_offset or 0}); free space and run the loader again"
        )

    def _write_pending(
        self, partition: int, name: str, by_date: dict[date, pa.Table], rejects: list[Reject]
    ) -> list[str]:
        """Steps 1 and 2 but the quarantine: record the flush's files as pending, then publish
        its data files. Returns the pending paths (the quarantine's last, when there are
        rejects)."""
        topic = self.settings.topic
        paths = [layout.event_date_key(d, name) for d in by_date]
        pending = [*paths, self.dead_letters.quarantine_key(name)] if rejects else list(paths)
        if partition not in self._next_offsets:  # land() without an assignment
            checkpoint = layout.read_checkpoint(self.lake_dir, topic, partition)
            self._next_offsets[partition] = checkpoint.next_offset
        layout.write_checkpoint(
            self.lake_dir,
            topic,
            partition,
            layout.Checkpoint(self._next_offsets[partition], pending),
        )
        for path, rows in zip(paths, by_date.values(), strict=True):
            self.progress.bytes_written += layout.publish_parquet(
                rows,
                self.lake_dir,
                path,
                row_group_size=self.config.row_group_size,
                sort_by=SORT_KEYS,
                presorted=True,
                bloom_filter_columns=BLOOM_FILTER_COLUMNS,
                plain_columns=PLAIN_COLUMNS,
            )
            self.progress.files += 1
        return pending

    # -- progress -----------------------------------------------------------------------------

    def _report(self, elapsed: float, reported: int) -> int:
        lag = 0
        for partition in self._assigned:
            tp = TopicPartition(self.settings.topic, partition)
            try:
                _, high = self._consumer.get_watermark_offsets(tp, cached=True)
                (position,) = self._consumer.position([tp])
            except Exception:  # noqa: BLE001 - the progress line must never stop the loader
                continue
            if high >= 0 and position.offset >= 0:
                lag += max(high - position.offset, 0)
            self.partition_ends[partition] = max(high, position.offset)
        self.progress.lag = lag
        rate = (self.progress.messages - reported) / elapsed
        log.info(
            "%d messages read (%.0f msg/s), %d events accepted, lag %d, %d files, %d to the DLQ, "
            "%d suppressed",
            self.progress.messages,
            rate,
            self.progress.events,
            lag,
            self.progress.files,
            self.progress.rejected,
            self.progress.suppressed,
        )
        return self.progress.messages
