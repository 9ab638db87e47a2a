"""Rejected messages: to the DLQ topic with their original bytes and headers, and to a
quarantine Parquet table an engineer can query (<lake>/quarantine/events)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
from confluent_kafka import KafkaError, Message, Producer

from eventlake.config import Settings
from eventlake.exceptions import BrokerError
from eventlake.ingest.kafka import produce, producer_config
from eventlake.ingest.kafka_health import kafka_health
from eventlake.lake import layout
from eventlake.ops.metrics import count_dead_letters

log = logging.getLogger(__name__)

STAGE = "loader.decode"
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("_topic", pa.string(), nullable=False),
        pa.field("_partition", pa.int32(), nullable=False),
        pa.field("_offset", pa.int64(), nullable=False),
        pa.field("rejected_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason_code", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
        pa.field(
            "headers",
            pa.list_(pa.struct([("key", pa.string()), ("value", pa.binary())])),
        ),
    ]
)


@dataclass(frozen=True)
class Reject:
    """One rejected message, with everything needed to replay it once fixed."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    reason: str
    rejected_at: datetime
    stage: str = STAGE
    """Who rejected it: the loader, or a streaming consumer ("online.decode", "fraud.decode")."""

    @classmethod
    def from_message(
        cls, message: Message, reason: str, now: datetime, stage: str = STAGE
    ) -> Reject:
        return cls(
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            key=message.key(),
            value=message.value(),
            headers=list(message.headers() or []),
            reason=reason,
            rejected_at=now,
            stage=stage,
        )

    @property
    def reason_code(self) -> str:
        return self.reason.split(":", 1)[0]

    def dlq_headers(self) -> list[tuple[str, bytes]]:
        return [
            *self.headers,
            ("eventlake.stage", self.stage.encode()),
            ("eventlake.reason", self.reason.encode()),
            ("eventlake.source.topic", self.topic.encode()),
            ("eventlake.source.partition", str(self.partition).encode()),
            ("eventlake.source.offset", str(self.offset).encode()),
        ]


def quarantine_table(rejects: list[Reject]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "_topic": r.topic,
                "_partition": r.partition,
                "_offset": r.offset,
                "rejected_at": r.rejected_at,
                "stage": r.stage,
                "reason_code": r.reason_code,
                "reason": r.reason,
                "key": r.key,
                "value": r.value,
                "headers": [{"key": k, "value": v} for k, v in r.headers],
            }
            for r in rejects
        ],
        schema=QUARANTINE_SCHEMA,
    )


class DeadLetters:
    """Publishes rejects; part of a loader flush, so it runs before the checkpoint commits."""

    def __init__(self, settings: Settings, lake_dir: Path | str, row_group_size: int) -> None:
        self.topic = settings.dlq_topic
        self.lake_dir = lake_dir
        self.row_group_size = row_group_size
        health = kafka_health(settings.bootstrap_servers)
        self._producer: Producer | None = Producer(
            producer_config(
                settings.bootstrap_servers,
                **{"linger.ms": 5, "error_cb": health.on_passive_error},
            )
        )
        self._errors: list[KafkaError] = []

    def quarantine_path(self, name: str) -> Path:
        return Path(self.lake_dir) / layout.QUARANTINE_EVENTS / name

    def quarantine_key(self, name: str) -> str:
        """The quarantine file's path relative to the lake (folder or bucket)."""
        return f"{layout.QUARANTINE_EVENTS.as_posix()}/{name}"

    def publish(self, rejects: list[Reject], quarantine: str) -> None:
        """Write the quarantine file (relative to the lake), then produce to the DLQ."""
        layout.publish_parquet(
            quarantine_table(rejects),
            self.lake_dir,
            quarantine,
            row_group_size=self.row_group_size,
            sort_by=[("_offset", "ascending")],
        )
        for reject in rejects:
            self._produce(reject)
        self._producer.flush()
        if self._errors:
            errors, self._errors = self._errors, []
            raise BrokerError(f"{len(errors)} DLQ messages were not delivered: {errors[0]}")
        count_dead_letters((r.stage, r.reason_code) for r in rejects)

    def _produce(self, reject: Reject) -> None:
        produce(
            self._producer,
            self.topic,
            reject.value,
            key=reject.key,
            headers=reject.dlq_headers(),
            on_delivery=self._delivered,
        )

    def _delivered(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self._errors.append(error)

    def close(self) -> None:
        """Deliver what is queued and release the producer and its connections now."""
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None
