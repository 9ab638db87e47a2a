"""One streaming consumer: the events topic and the erasure-requests topic into one store.

    events ──decode──> DLQ (rejects, with their bytes)
                 └──> suppression filter ──> store.apply(events, offsets)      one transaction
    erasure-requests ──> store.erase(subjects) ──> confirmation on the topic ──> offsets

Each consumer has its own group (the fan-out beside the lake loader), so it reads every event.
Its offsets live in its store, written in the same transaction as the state they produced:
on (re)assignment every partition starts from the store's offsets (from the beginning when the
store has none), so a restart neither loses nor double-counts, whatever killed the process.
Kafka's group offsets are committed too, after the store's, for lag monitoring only.

An erasure is done in three steps, each idempotent: erase the subjects (their hashes join the
store's suppression list in the same transaction), publish the confirmations, then move the
erasure topic's offsets. A crash between them repeats the erasure (deleting nothing more) and
the confirmation; it never loses one.

An unreachable broker or store server is said once (eventlake.ops.health) and waited for: a
batch the store could not take left no trace in it (one transaction), so once the server
answers again the consumer reads on from the store's offsets, as a restart would. With
`once`, it gives up after EVENTLAKE_CONNECT_TIMEOUT_SECONDS (UnreachableError, exit 1).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from eventlake.config import LoaderConfig, Settings
from eventlake.erasure.control import CONFIRMED, Confirmation
from eventlake.erasure.subjects import ErasureRequest, subject_hash
from eventlake.erasure.suppression import Suppressor
from eventlake.erasure.topics import publish_confirmations
from eventlake.exceptions import BrokerError, ErasureError, StoreUnreachableError
from eventlake.ingest.decode import Decoder, Limits, RawBatch
from eventlake.ingest.dlq import Reject
from eventlake.ingest.kafka import consumer_config, produce, producer_config
from eventlake.ingest.kafka_health import kafka_health
from eventlake.ops.health import wait_for
from eventlake.ops.metrics import count_dead_letters
from eventlake.streaming import events as stream_events
from eventlake.streaming.dedup import RecentIds
from eventlake.streaming.store import StreamStore

log = logging.getLogger(__name__)

SUPPRESSION_REFRESH_SECONDS = 5.0
"""How often the store's own suppression list is re-read (other processes of the group may
have erased a subject whose events this process holds)."""


@dataclass
class StreamProgress:
    """What a consumer did since it started (logged every progress_every seconds of work)."""

    messages: int = 0
    events: int = 0
    rejected: int = 0
    suppressed: int = 0
    duplicates: int = 0
    erasures: int = 0
    batches: int = 0
    busy_seconds: float = 0.0
    """Time in polls that returned messages and in handling them (joins and idle excluded)."""


class StreamConsumer:
    """Follows the two topics into `store` until stop(); with once, until both are drained."""

    def __init__(
        self,
        settings: Settings,
        store: StreamStore,
        group_id: str,
        config: LoaderConfig | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        batch_timeout: float = 0.05,
        progress_every: float = 10.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.config = config or LoaderConfig()
        self.clock = clock
        self.batch_timeout = batch_timeout
        self.progress_every = progress_every
        self.stage = f"{store.name}.decode"
        self.progress = StreamProgress()
        self.decoder = Decoder(self.config.max_message_bytes)
        self.recent_ids = RecentIds()
        self.suppressor = Suppressor(settings.lake_dir, settings.subject_hash_key)
        self.suppressor.also_suppress(store.suppressed())
        self._suppression_read = time.monotonic()
        self._assigned: set[tuple[str, int]] = set()
        self._at_end: set[tuple[str, int]] = set()
        self._stopped = False
        self.kafka = kafka_health(settings.bootstrap_servers)
        self._consumer = Consumer(
            consumer_config(
                settings.bootstrap_servers,
                group_id,
                self.config.session_timeout_ms,
                **{"fetch.wait.max.ms": 50},
            )
        )
        self._producer = Producer(  # the DLQ's, flushed per batch: the consumer reports
            producer_config(
                settings.bootstrap_servers,
                **{"linger.ms": 5, "error_cb": self.kafka.on_passive_error},
            )
        )
        self._dlq_errors: list[KafkaError] = []
        self.committed: dict[tuple[str, int], int] = {}
        """(topic, partition) -> next offset the store holds, for the partitions assigned."""
        self.partition_ends: dict[tuple[str, int], tuple[int, int]] = {}
        """(topic, partition) -> (committed, end seen fetched), refreshed each second."""
        self._ends_at = 0.0
        self.on_batch: Callable[[StreamProgress, StreamProgress, pa.Table | None], None] | None
        self.on_batch = None
        """Called after each batch with the progress before and after it and the events it
        folded into the store (the metrics observer, eventlake.ops.observe)."""

    def _refresh_ends(self) -> None:
        """(topic, partition) -> (committed, end seen fetched) of every assigned partition, at
        most once a second, on the consuming thread (the client's calls from another thread
        would wait for its poll). The end is the larger of the fetch-cached high watermark and
        the consumer's position (eventlake.ops.lag says why not the queried watermark)."""
        if time.monotonic() - self._ends_at < 1.0:
            return
        self._ends_at = time.monotonic()
        ends = {}
        for key, committed in list(self.committed.items()):
            tp = TopicPartition(*key)
            _, high = self._consumer.get_watermark_offsets(tp, cached=True)
            (position,) = self._consumer.position([tp])
            ends[key] = (committed, max(high, position.offset, committed))
        self.partition_ends = ends

    # -- lifecycle ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish its batch and exit (safe from a signal handler)."""
        self._stopped = True

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop())

    def run(self, *, once: bool = False) -> StreamProgress:
        topics = [self.settings.topic, self.settings.erasure_topic]
        self._consumer.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke)
        last_report = time.monotonic()
        reported = 0
        try:
            while not self._stopped:
                started = time.perf_counter()
                messages = self._consumer.consume(self.config.batch_size, self.batch_timeout)
                if messages:
                    try:
                        self._handle(messages)
                    except StoreUnreachableError:
                        self._resume_from_store(once)
                    self.progress.busy_seconds += time.perf_counter() - started
                else:
                    self.kafka.probe(self._consumer, self.settings.topic)
                self._refresh_ends()
                if once and self._assigned and self._at_end >= self._assigned:
                    break
                if once:
                    self.kafka.dependency.give_up_after(self.config.connect_timeout_seconds)
                if time.monotonic() - last_report >= self.progress_every:
                    if self.progress.batches != reported:  # quiet while idle
                        self._report()
                        reported = self.progress.batches
                    last_report = time.monotonic()
        finally:
            self._report()
            self._consumer.close()
            self._producer.flush(10)
        return self.progress

    def _report(self) -> None:
        p = self.progress
        log.info(
            "%s: %d messages, %d events folded, %d rejected, %d duplicates, %d suppressed, "
            "%d erasures",
            self.store.name,
            p.messages,
            p.events,
            p.rejected,
            p.duplicates,
            p.suppressed,
            p.erasures,
        )

    def _resume_from_store(self, once: bool) -> None:
        """The store's server stopped answering during a batch: nothing of the batch reached
        the store (one transaction), but the consumer read past it. Wait for the server, then
        read again from the store's offsets, as a restarted process would (with a fresh memory
        of recent ids, as it would have too, so the replayed events are not taken for
        duplicates)."""
        stored = wait_for(
            self.store.dependency,  # only a store with a server raises StoreUnreachableError
            self.store.offsets,
            (StoreUnreachableError,),
            give_up_after=self.config.connect_timeout_seconds if once else None,
            stopped=lambda: self._stopped,
        )
        if stored is None:
            return  # stopped while waiting: the next start reads from the store's offsets
        for key in list(self._assigned):
            offset = stored.get(key)
            with contextlib.suppress(KafkaException):  # revoked meanwhile: on_assign seeks
                self._consumer.seek(
                    TopicPartition(*key, OFFSET_BEGINNING if offset is None else offset)
                )
            self.committed[key] = offset or 0
            self._at_end.discard(key)
        self.recent_ids = RecentIds()
        log.info("%s: reading again from the store's offsets", self.store.name)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.kafka.seen()
        stored = self.store.offsets()
        for tp in partitions:
            next_offset = stored.get((tp.topic, tp.partition))
            tp.offset = OFFSET_BEGINNING if next_offset is None else next_offset
            self.committed[(tp.topic, tp.partition)] = next_offset or 0
            self._assigned.add((tp.topic, tp.partition))
            self._at_end.discard((tp.topic, tp.partition))
        log.info("%s: assigned %d partitions", self.store.name, len(partitions))
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Nothing is buffered between batches: the store already holds every applied offset.
        for tp in partitions:
            self._assigned.discard((tp.topic, tp.partition))
            self._at_end.discard((tp.topic, tp.partition))
            self.committed.pop((tp.topic, tp.partition), None)

    # -- one batch ----------------------------------------------------------------------------

    def _handle(self, messages: list[Message]) -> None:
        records: dict[str, list[Message]] = {
            self.settings.topic: [],
            self.settings.erasure_topic: [],
        }
        for message in messages:
            error = message.error()
            key = (message.topic(), message.partition())
            if error is None:
                records[message.topic()].append(message)
                self._at_end.discard(key)
            elif error.code() == KafkaError._PARTITION_EOF:
                self.kafka.seen()
                self._at_end.add(key)
            elif error.fatal():
                raise BrokerError(f"{self.store.name} consumer: {error}")
            else:  # transient (a broker restarting): the client retries by itself
                log.error("%s consumer: %s", self.store.name, error)
        if records[self.settings.topic] or records[self.settings.erasure_topic]:
            self.kafka.seen()
        before = replace(self.progress)
        self.progress.batches += 1
        # Erasures first: events of a subject erased in this very batch are then suppressed.
        if records[self.settings.erasure_topic]:
            self._erase(records[self.settings.erasure_topic])
        folded = None
        if records[self.settings.topic]:
            folded = self._fold(records[self.settings.topic])
        if self.on_batch is not None:
            self.on_batch(before, self.progress, folded)

    def _fold(self, records: list[Message]) -> pa.Table:
        now = self.clock()
        self.progress.messages += len(records)
        batch = RawBatch(
            topic=self.settings.topic,
            partitions=[m.partition() for m in records],
            offsets=[m.offset() for m in records],
            keys=[m.key() for m in records],
            values=[m.value() for m in records],
        )
        decoded = self.decoder.decode(
            batch,
            Limits(
                now=now,
                max_future=timedelta(seconds=self.config.max_future_seconds),
                max_age=timedelta(days=self.config.max_age_days),
            ),
        )
        rejects = [
            Reject.from_message(records[position], reason, now, self.stage)
            for position, reason in decoded.rejects.items()
        ]
        table = None
        if decoded.table is not None:
            first = self.recent_ids.first_seen(decoded.table["event_id"])
            self.progress.duplicates += len(first) - int(first.sum())
            table = stream_events.project(decoded.table.filter(first))
        self._refresh_suppression()
        with self.suppressor.guard():
            if table is not None:
                table, dropped = self.suppressor.filter(table)
                self.progress.suppressed += dropped
            rejects, dropped = self.suppressor.filter_rejects(rejects)
            self.progress.suppressed += dropped
            self._dead_letter(rejects)
            if table is None:
                table = stream_events.SCHEMA.empty_table()
            self.store.apply(table, _next_offsets(records))
        self.progress.rejected += len(rejects)
        self.progress.events += table.num_rows
        self._commit(records)
        return table

    def _erase(self, records: list[Message]) -> None:
        now = self.clock()
        requests: list[ErasureRequest] = []
        for message in records:
            try:
                requests.append(ErasureRequest.from_json(message.value()))
            except ErasureError as error:
                # The orchestrator dead-letters these to <erasure topic>-dlq; one copy is enough.
                log.warning(
                    "%s: skipped %s[%d]@%d: %s",
                    self.store.name,
                    message.topic(),
                    message.partition(),
                    message.offset(),
                    error,
                )
        subjects = {
            r.user_id: subject_hash(r.user_id, self.settings.subject_hash_key) for r in requests
        }
        deleted = self.store.erase(subjects, {}, now) if subjects else {}
        self.suppressor.also_suppress(subjects.values())
        confirmed_at = self.clock()
        detail = f"erased from the {self.store.name} store; its events are suppressed"
        if requests:
            publish_confirmations(
                self.settings,
                [
                    Confirmation(
                        request_id=request.request_id,
                        store=self.store.name,
                        object=self.store.name,
                        status=CONFIRMED,
                        rows_deleted=deleted.get(request.user_id, 0),
                        confirmed_at=confirmed_at,
                        detail=detail,
                    )
                    for request in requests
                ],
            )
        self.progress.erasures += len(requests)
        self.store.apply(stream_events.SCHEMA.empty_table(), _next_offsets(records))
        self._commit(records)

    # -- helpers ------------------------------------------------------------------------------

    def _refresh_suppression(self) -> None:
        if time.monotonic() - self._suppression_read >= SUPPRESSION_REFRESH_SECONDS:
            self.suppressor.also_suppress(self.store.suppressed())
            self._suppression_read = time.monotonic()

    def _dead_letter(self, rejects: list[Reject]) -> None:
        if not rejects:
            return
        for reject in rejects:
            produce(
                self._producer,
                self.settings.dlq_topic,
                reject.value,
                key=reject.key,
                headers=reject.dlq_headers(),
                on_delivery=self._delivered,
            )
        # Delivered before the offsets move: a crash now re-reads them (at least once).
        self._producer.flush(30)
        if self._dlq_errors:
            errors, self._dlq_errors = self._dlq_errors, []
            raise BrokerError(f"{len(errors)} DLQ messages were not delivered: {errors[0]}")
        count_dead_letters((r.stage, r.reason_code) for r in rejects)

    def _delivered(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self._dlq_errors.append(error)

    def _commit(self, records: list[Message]) -> None:
        next_offsets = _next_offsets(records)
        for key, offset in next_offsets.items():
            if key in self.committed:
                self.committed[key] = offset
        offsets = [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()]
        self._consumer.commit(offsets=offsets, asynchronous=True)


def _next_offsets(records: list[Message]) -> dict[tuple[str, int], int]:
    offsets: dict[tuple[str, int], int] = {}
    for message in records:
        key = (message.topic(), message.partition())
        offsets[key] = max(offsets.get(key, 0), message.offset() + 1)
    return offsets
