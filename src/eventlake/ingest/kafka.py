"""Kafka client settings shared by the loader, the DLQ and the generator; topic creation.

Every config carries the client's `logger` (its lines through Python logging, rate-limited:
eventlake.ingest.kafka_logs) and `error_cb` (connection failures to the process's kafka
Dependency, said once: eventlake.ingest.kafka_health).
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from eventlake.exceptions import BrokerError
from eventlake.ingest.kafka_health import kafka_health
from eventlake.ingest.kafka_logs import CLIENT_LOG

log = logging.getLogger(__name__)

# Large enough for the biggest message the loader may have to pass on to the DLQ.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def client_config(bootstrap_servers: str) -> dict:
    """What every client of `bootstrap_servers` is given: the address, the logger, the error
    callback."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "logger": CLIENT_LOG,
        "error_cb": kafka_health(bootstrap_servers).on_error,
    }


def producer_config(bootstrap_servers: str, **overrides: object) -> dict:
    config = {
        **client_config(bootstrap_servers),
        "linger.ms": 20,
        "batch.num.messages": 10_000,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 1_000_000,
        "message.max.bytes": MAX_MESSAGE_BYTES,
        "enable.idempotence": False,
    }
    config.update(overrides)
    return config


def produce(producer: Producer, topic: str, value: bytes | None, **kwargs: object) -> None:
    """Produce one message; while the client's queue is full, serve deliveries and retry."""
    while True:
        try:
            producer.produce(topic, value, **kwargs)
            return
        except BufferError:
            producer.poll(0.05)


def consumer_config(
    bootstrap_servers: str, group_id: str, session_timeout_ms: int, **overrides: object
) -> dict:
    config = {
        **client_config(bootstrap_servers),
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # The loader assigns every partition's offset from the lake: an offset the topic
        # does not hold is an error to report, never a silent jump.
        "auto.offset.reset": "error",
        "enable.partition.eof": True,
        "session.timeout.ms": session_timeout_ms,
        "heartbeat.interval.ms": max(session_timeout_ms // 3, 100),
        # Bounded prefetch: librdkafka's queue is part of the loader's memory budget.
        "queued.max.messages.kbytes": 32 * 1024,
        "fetch.max.bytes": 16 * 1024 * 1024,
        "max.partition.fetch.bytes": MAX_MESSAGE_BYTES,
    }
    config.update(overrides)
    return config


def ensure_topics(bootstrap_servers: str, topics: dict[str, int], timeout: float = 10.0) -> None:
    """Create the topics that do not exist yet, with the given partition counts."""
    admin = AdminClient(client_config(bootstrap_servers))
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as error:
        raise BrokerError(f"no Kafka broker answered at {bootstrap_servers}: {error}") from error
    missing = [
        NewTopic(name, num_partitions=partitions, replication_factor=1)
        for name, partitions in topics.items()
        if name not in existing
    ]
    if not missing:
        return
    for name, future in admin.create_topics(missing, operation_timeout=timeout).items():
        try:
            future.result()
            log.info("created topic %s", name)
        except KafkaException as error:
            if "TOPIC_ALREADY_EXISTS" not in str(error):
                raise BrokerError(f"could not create topic {name!r}: {error}") from error
