"""Helpers shared by the tests: loader subprocesses, producing and reading topics, events."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
from confluent_kafka import Consumer, Producer

from eventlake.config import Settings
from eventlake.ingest import kafka
from eventlake.ingest.kafka import consumer_config, producer_config


def event(number: int, *, days_ago: int = 1, **fields: object) -> tuple[bytes, bytes]:
    """A valid (key, value) pair following the contract."""
    user_id = f"user-{number % 997}"
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days_ago, seconds=number)
    body = {
        "event_id": f"evt-{number:09d}",
        "event_time": at.isoformat().replace("+00:00", "Z"),
        "event_type": ("view", "cart", "purchase")[number % 3],
        "user_id": user_id,
        "session_id": f"s-{number // 10}",
        "product_id": f"p-{number % 50}",
        "category_code": "electronics.smartphone",
        "price": round(number % 1000 + 0.99, 2),
        "currency": "EUR",
        "country": ("DE", "FR", "PL")[number % 3],
        "device": "mobile",
        "schema_version": 1,
    }
    body.update(fields)
    return user_id.encode(), orjson.dumps(body)


def events(count: int, start: int = 0, days: int = 3) -> list[tuple[bytes, bytes]]:
    return [event(n, days_ago=1 + n % days) for n in range(start, start + count)]


def loader_env(settings: Settings, **overrides: object) -> dict[str, str]:
    """The environment a loader subprocess reads its configuration from."""
    env = dict(os.environ)
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "EVENTLAKE_TOPIC": settings.topic,
            "EVENTLAKE_DLQ_TOPIC": settings.dlq_topic,
            "EVENTLAKE_GROUP_ID": settings.group_id,
            "EVENTLAKE_LAKE_DIR": str(settings.lake_dir),
        }
    )
    env.update({key: str(value) for key, value in overrides.items()})
    return env


def start_loader(settings: Settings, *args: str, **overrides: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "eventlake.cli", "load", *args],
        env=loader_env(settings, **overrides),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def produce(settings: Settings, messages: list[tuple[bytes | None, bytes | None]]) -> None:
    producer = Producer(producer_config(settings.bootstrap_servers))
    for key, value in messages:
        kafka.produce(producer, settings.topic, value, key=key)
    assert producer.flush(30) == 0


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list:
    """Every message of a topic (waits until `expected` arrived)."""
    group = f"reader-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(
        consumer_config(bootstrap, group, 6000, **{"auto.offset.reset": "earliest"})
    )
    consumer.subscribe([topic])
    messages = []
    deadline = time.monotonic() + timeout
    while len(messages) < expected and time.monotonic() < deadline:
        for message in consumer.consume(1000, 0.5):
            if message.error() is None:
                messages.append(message)
    consumer.close()
    return messages
