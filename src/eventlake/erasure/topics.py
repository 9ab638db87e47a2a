"""The erasure plane's two topics: requests in (`erasure-requests`), and confirmations from the
streaming stores (`erasure-confirmations`), each read to its end by a pass of the orchestrator.

A pass reads from its consumer group's committed offsets to the end of every partition and
commits only after it has acted on what it read: a pass that fails part-way reads the same
messages again next time (every step is idempotent). Malformed messages go to `<topic>-dlq`
with their bytes and the reason, and never stop the pass.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)

from eventlake.config import Settings
from eventlake.erasure.control import STATUSES, Confirmation
from eventlake.erasure.subjects import REQUEST_ID_PATTERN, ErasureRequest, json_object
from eventlake.exceptions import BrokerError, ErasureError
from eventlake.ingest.kafka import consumer_config, ensure_topics, produce, producer_config
from eventlake.ops.metrics import count_dead_letters

log = logging.getLogger(__name__)

REQUESTS_GROUP = "eventlake-erasure"
CONFIRMATIONS_GROUP = "eventlake-erasure-confirmations"


def dlq_topic(topic: str) -> str:
    return f"{topic}-dlq"


def ensure_erasure_topics(settings: Settings) -> None:
    ensure_topics(
        settings.bootstrap_servers,
        {
            settings.erasure_topic: 1,
            dlq_topic(settings.erasure_topic): 1,
            settings.confirmation_topic: 1,
            dlq_topic(settings.confirmation_topic): 1,
        },
    )


def publish_requests(settings: Settings, requests: Iterable[ErasureRequest]) -> int:
    """Produce requests (keyed by request id, never by user id); returns how many."""
    return _publish(
        settings, settings.erasure_topic, ((r.request_id, r.to_json()) for r in requests)
    )


def publish_confirmation(settings: Settings, confirmation: Confirmation) -> None:
    """What a streaming store calls once it has erased a request's subject."""
    publish_confirmations(settings, [confirmation])


def publish_confirmations(settings: Settings, confirmations: Iterable[Confirmation]) -> int:
    """Many confirmations through one producer (a consumer's batch of requests)."""
    return _publish(
        settings,
        settings.confirmation_topic,
        ((c.request_id, _confirmation_json(c)) for c in confirmations),
    )


def _confirmation_json(confirmation: Confirmation) -> bytes:
    value = {
        "request_id": confirmation.request_id,
        "store": confirmation.store,
        "object": confirmation.object,
        "status": confirmation.status,
        "rows_deleted": confirmation.rows_deleted,
        "confirmed_at": (confirmation.confirmed_at or datetime.now(UTC)).isoformat(),
        "detail": confirmation.detail,
    }
    return json.dumps(value).encode("utf-8")


def parse_confirmation(value: bytes | None) -> Confirmation:
    document = json_object(value, "confirmation")
    request_id, store = document.get("request_id"), document.get("store")
    if not isinstance(request_id, str) or not REQUEST_ID_PATTERN.fullmatch(request_id):
        raise ErasureError("malformed confirmation: invalid request_id")
    if not isinstance(store, str) or not REQUEST_ID_PATTERN.fullmatch(store):
        raise ErasureError("malformed confirmation: invalid store")
    if document.get("status") not in STATUSES:
        raise ErasureError(f"malformed confirmation: status must be one of {STATUSES}")
    rows = document.get("rows_deleted")
    if rows is not None and (not isinstance(rows, int) or rows < 0):
        raise ErasureError("malformed confirmation: rows_deleted must be a whole number")
    try:
        confirmed_at = datetime.fromisoformat(str(document.get("confirmed_at")))
    except ValueError:
        raise ErasureError("malformed confirmation: confirmed_at is not an ISO timestamp") from None
    return Confirmation(
        request_id=request_id,
        store=store,
        object=str(document.get("object") or store)[:200],
        status=document["status"],
        rows_deleted=rows,
        confirmed_at=confirmed_at,
        detail=str(document.get("detail") or "")[:1000],
    )


@dataclass
class Drained:
    """What a pass read from one topic: the valid items and how many went to the DLQ."""

    items: list = field(default_factory=list)
    rejected: int = 0


@contextmanager
def draining(
    settings: Settings, topic: str, group_id: str, parse, timeout: float = 60.0
) -> Iterator[tuple[Drained, object]]:
    """Read `topic` from the group's committed offsets to its end; yield (drained, commit).

    Call commit() once the items are acted on; leaving without it leaves the offsets where
    they were, so the next pass reads the same messages again.
    """
    consumer = Consumer(
        consumer_config(
            settings.bootstrap_servers,
            group_id,
            6000,
            **{"auto.offset.reset": "earliest"},
        )
    )
    producer = Producer(producer_config(settings.bootstrap_servers))
    try:
        drained = Drained()
        partitions = _assign_from_committed(consumer, topic)
        positions: dict[int, int] = {}
        at_end: set[int] = set()
        deadline = time.monotonic() + timeout
        # The end of a partition is its EOF event (the loader's rule too): this broker's
        # watermarks can lag what a fetch returns.
        while not at_end >= partitions:
            if time.monotonic() > deadline:
                raise BrokerError(f"reading {topic!r}: its end was not reached in {timeout:.0f} s")
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
                    continue
                raise BrokerError(f"reading {topic!r}: {message.error()}")
            at_end.discard(message.partition())
            positions[message.partition()] = message.offset() + 1
            try:
                drained.items.append(parse(message.value()))
            except ErasureError as error:
                drained.rejected += 1
                _dead_letter(producer, topic, message, str(error))
        producer.flush(30)

        def commit() -> None:
            offsets = [TopicPartition(topic, p, o) for p, o in positions.items()]
            if offsets:
                consumer.commit(offsets=offsets, asynchronous=False)

        yield drained, commit
    finally:
        consumer.close()


def read_requests(settings: Settings, group_id: str = REQUESTS_GROUP):
    return draining(settings, settings.erasure_topic, group_id, ErasureRequest.from_json)


def read_confirmations(settings: Settings, group_id: str = CONFIRMATIONS_GROUP):
    return draining(settings, settings.confirmation_topic, group_id, parse_confirmation)


def _assign_from_committed(consumer: Consumer, topic: str) -> set[int]:
    """Assign every partition at its committed offset (the start when none); the partitions."""
    metadata = consumer.list_topics(topic, timeout=10)
    if topic not in metadata.topics or metadata.topics[topic].error is not None:
        raise BrokerError(f"topic {topic!r} does not exist: run `eventlake broker start`")
    partitions = [TopicPartition(topic, p) for p in sorted(metadata.topics[topic].partitions)]
    committed = consumer.committed(partitions, timeout=10)
    consumer.assign(
        [
            TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING)
            for tp in committed
        ]
    )
    return {tp.partition for tp in committed}


def _publish(settings: Settings, topic: str, messages: Iterable[tuple[str, bytes]]) -> int:
    producer = Producer(producer_config(settings.bootstrap_servers, **{"linger.ms": 5}))
    failures: list[str] = []

    def delivered(error, _message) -> None:
        if error is not None:
            failures.append(str(error))

    count = 0
    for key, value in messages:
        produce(producer, topic, value, key=key.encode("utf-8"), on_delivery=delivered)
        count += 1
    if producer.flush(30) or failures:
        raise BrokerError(f"could not publish to {topic!r}: {failures[:1] or 'timed out'}")
    return count


def _dead_letter(producer: Producer, topic: str, message: Message, reason: str) -> None:
    log.warning("%s[%d]@%d to the DLQ: %s", topic, message.partition(), message.offset(), reason)
    headers = list(message.headers() or []) + [
        ("eventlake.reason", reason.encode("utf-8")),
        ("eventlake.source", f"{topic}[{message.partition()}]@{message.offset()}".encode()),
    ]
    produce(producer, dlq_topic(topic), message.value(), key=message.key(), headers=headers)
    count_dead_letters([("erasure.parse", "invalid_request")])
