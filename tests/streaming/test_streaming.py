"""The two streaming consumers end to end: a real broker, real SQLite files, the real Redis.

What the personalization and fraud teams rely on: an event shows up in the stores while the
consumer runs; a killed consumer resumes without losing or double-counting; an erasure request
removes the person from both stores, is confirmed on the topic, and replays never bring them
back; malformed messages go to the DLQ with their bytes and stop nothing.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest
import redis

from eventlake.config import LoaderConfig
from eventlake.erasure import suppression
from eventlake.erasure.subjects import ErasureRequest, subject_hash
from eventlake.erasure.topics import ensure_erasure_topics, parse_confirmation, publish_requests
from eventlake.ingest.kafka import ensure_topics
from eventlake.streaming.config import FraudConfig, OnlineConfig
from eventlake.streaming.consumer import StreamConsumer
from eventlake.streaming.fraud import FraudStore
from eventlake.streaming.online import open_online_store
from tests.support import event, loader_env, produce, read_topic

pytestmark = [pytest.mark.broker]

KEY = "eventlake-dev-key"
BATCH = LoaderConfig(batch_size=2_000)


@pytest.fixture
def stream_settings(settings):
    streamed = dataclasses.replace(
        settings,
        erasure_topic=f"{settings.topic}-erasure",
        confirmation_topic=f"{settings.topic}-confirmations",
        subject_hash_key=KEY,
    )
    ensure_erasure_topics(streamed)
    return streamed


@pytest.fixture
def online_config(request, tmp_path):
    """An online store per test: a SQLite file, or a key prefix of its own on the real Redis."""
    backend = getattr(request, "param", "sqlite")
    prefix = f"eventlake-test-{uuid.uuid4().hex[:8]}:"
    config = OnlineConfig(
        backend=backend,
        sqlite_path=tmp_path / "online.sqlite",
        redis_prefix=prefix,
        group_id=f"online-{uuid.uuid4().hex[:8]}",
    )
    yield config
    if backend == "redis":
        client = redis.Redis.from_url(config.redis_url)
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
        client.close()


def drain(settings, store, group_id: str):
    return StreamConsumer(settings, store, group_id, BATCH).run(once=True)


def recent(number: int, user: str, event_type: str = "view", **fields) -> tuple[bytes, bytes]:
    """A valid event of `user`, `number` seconds ago."""
    key, value = event(number, days_ago=0, user_id=user, event_type=event_type, **fields)
    return user.encode(), value


def total_24h(found: dict | None) -> int:
    return sum(found["stream"]["events_24h"].values()) if found else 0


@pytest.mark.parametrize("online_config", ["sqlite", "redis"], indirect=True)
def test_events_become_visible_while_the_consumers_run(stream_settings, online_config, tmp_path):
    writer = open_online_store(online_config)
    reader = open_online_store(online_config)
    fraud_config = FraudConfig(sqlite_path=tmp_path / "fraud.sqlite", max_purchases_10m=5)
    fraud_store = FraudStore(fraud_config)
    online = StreamConsumer(stream_settings, writer, online_config.group_id, BATCH)
    fraud = StreamConsumer(stream_settings, fraud_store, fraud_config.group_id, BATCH)
    threads = [threading.Thread(target=c.run, daemon=True) for c in (online, fraud)]
    for thread in threads:
        thread.start()
    try:
        produce(stream_settings, [recent(5, "fresh-1", product_id="p-42")])
        found = wait_for(lambda: reader.get("fresh-1"))
        assert found["stream"]["events_1h"] == {"view": 1}
        assert found["stream"]["recent_products"] == ["p-42"]

        # Six purchases in ten minutes from one user: above the threshold of five.
        produce(
            stream_settings,
            [recent(60 * n, "buyer-1", "purchase", price=10.0) for n in range(6)],
        )
        flags = wait_for(lambda: FraudStore(fraud_config).flags())
        assert [(f["user_id"], f["rule"]) for f in flags] == [("buyer-1", "purchases_10m")]
        assert flags[0]["value"] == 6 and flags[0]["threshold"] == 5
    finally:
        online.stop()
        fraud.stop()
        for thread in threads:
            thread.join(30)
        writer.close()
        reader.close()
        fraud_store.close()

    # The CLI reads the same stores.
    env = stream_env(stream_settings, online_config, EVENTLAKE_FRAUD_PATH=fraud_config.sqlite_path)
    shown = cli(env, "features", "get", "--user-id", "buyer-1")
    assert shown.returncode == 0, shown.stderr
    assert orjson.loads(shown.stdout)["stream"]["events_1h"] == {"purchase": 6}
    missing = cli(env, "features", "get", "--user-id", "nobody-1")
    assert missing.returncode == 1 and "no features" in missing.stderr
    listed = cli(env, "fraud", "flags", "--json")
    assert [orjson.loads(line)["rule"] for line in listed.stdout.splitlines()] == ["purchases_10m"]


def stream_env(settings, online_config: OnlineConfig, **overrides: object) -> dict[str, str]:
    """The environment of an `eventlake` subprocess on these topics and this online store."""
    return loader_env(
        settings,
        EVENTLAKE_ERASURE_TOPIC=settings.erasure_topic,
        EVENTLAKE_CONFIRMATION_TOPIC=settings.confirmation_topic,
        EVENTLAKE_SUBJECT_HASH_KEY=settings.subject_hash_key,
        EVENTLAKE_ONLINE_BACKEND=online_config.backend,
        EVENTLAKE_ONLINE_PATH=online_config.sqlite_path,
        EVENTLAKE_REDIS_PREFIX=online_config.redis_prefix,
        EVENTLAKE_ONLINE_GROUP_ID=online_config.group_id,
        **overrides,
    )


def wait_for(probe, timeout: float = 120.0):
    """probe()'s first truthy answer. The timeout bounds a hang; it is no performance figure
    (late in a long suite the shared broker holds every test's topics and groups join slower)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not visible after {timeout} s")


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eventlake.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
@pytest.mark.parametrize("online_config", ["sqlite", "redis"], indirect=True)
def test_a_killed_consumer_resumes_without_losing_or_double_counting(
    stream_settings, online_config
):
    messages = [recent(n, f"user-{n % 997}", ("view", "cart")[n % 2]) for n in range(60_000)]
    produce(stream_settings, messages)
    expected = Counter(orjson.loads(value)["user_id"] for _, value in messages)
    env = stream_env(stream_settings, online_config, EVENTLAKE_BATCH_SIZE=500)
    first = subprocess.Popen(
        [sys.executable, "-m", "eventlake.cli", "stream", "online"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    store = open_online_store(online_config)
    try:
        topic = stream_settings.topic
        folded = wait_for(lambda: _folded(store, topic) or None)
        assert folded < len(messages), "the consumer finished before it could be killed"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        assert 0 < _folded(store, topic) < len(messages)

        resumed = cli(env, "stream", "online", "--once")
        assert resumed.returncode == 0, resumed.stderr
        counted = {user: total_24h(store.get(user)) for user in expected}
        assert counted == dict(expected)
        assert _folded(store, topic) == len(messages)
    finally:
        if first.poll() is None:
            first.kill()
        store.close()


def _folded(store, events_topic: str) -> int:
    """Messages of the events topic the store has folded in (its offsets are next offsets)."""
    return sum(offset for (topic, _), offset in store.offsets().items() if topic == events_topic)


@pytest.mark.slow
@pytest.mark.parametrize("online_config", ["redis"], indirect=True)
def test_erasure_reaches_both_stores_is_confirmed_and_survives_replays(
    stream_settings, online_config, tmp_path
):
    erased, kept = "user-5", "user-6"
    produce(stream_settings, [recent(n, (erased, kept)[n % 2], "purchase") for n in range(40)])
    online = open_online_store(online_config)
    fraud_config = FraudConfig(sqlite_path=tmp_path / "fraud.sqlite")
    fraud = FraudStore(fraud_config)
    drain(stream_settings, online, online_config.group_id)
    drain(stream_settings, fraud, fraud_config.group_id)
    assert total_24h(online.get(erased)) == 20 and fraud.velocity(erased)

    request = ErasureRequest("req-stream-1", erased, datetime.now(UTC))
    publish_requests(stream_settings, [request])
    # Events after the request are suppressed: the person stays gone.
    produce(stream_settings, [recent(n, erased, "purchase") for n in range(3)])
    drain(stream_settings, online, online_config.group_id)
    drain(stream_settings, fraud, fraud_config.group_id)

    assert online.get(erased) is None
    assert fraud.velocity(erased) == []
    assert total_24h(online.get(kept)) == 20 and fraud.velocity(kept)
    hashed = subject_hash(erased, KEY)
    assert hashed in online.suppressed() and hashed in fraud.suppressed()
    topic = stream_settings.confirmation_topic
    confirmations = [
        parse_confirmation(m.value())
        for m in read_topic(stream_settings.bootstrap_servers, topic, 2)
    ]
    assert sorted((c.request_id, c.store, c.status) for c in confirmations) == [
        ("req-stream-1", "fraud", "confirmed"),
        ("req-stream-1", "online", "confirmed"),
    ]
    assert all(c.rows_deleted > 0 for c in confirmations)
    online.close()
    fraud.close()

    # A store rebuilt from both topics replays the request too.
    rebuilt_config = dataclasses.replace(
        online_config,
        redis_prefix=f"{online_config.redis_prefix}rebuilt:",
        group_id=f"{online_config.group_id}-rebuilt",
    )
    rebuilt = open_online_store(rebuilt_config)
    drain(stream_settings, rebuilt, rebuilt_config.group_id)
    assert rebuilt.get(erased) is None and total_24h(rebuilt.get(kept)) == 20
    rebuilt.close()

    # Once the request has left the erasure topic, the lake's suppression list still holds.
    suppression.publish(stream_settings.lake_dir, [hashed], datetime.now(UTC))
    forgotten = dataclasses.replace(stream_settings, erasure_topic=f"{stream_settings.topic}-e2")
    ensure_topics(forgotten.bootstrap_servers, {forgotten.erasure_topic: 1})
    late_config = FraudConfig(sqlite_path=tmp_path / "fraud-late.sqlite")
    late = FraudStore(late_config)
    drain(forgotten, late, f"{late_config.group_id}-late")
    assert late.velocity(erased) == [] and late.velocity(kept)
    late.close()


def test_poison_messages_go_to_the_dlq_and_retries_are_folded_once(stream_settings, online_config):
    poison = [
        (b"user-1", b"not json"),
        (b"user-2", None),
        (b"user-3", b'{"event_id": 1}'),
        (b"user-4", b"[]"),
        (b"user-5", orjson.dumps({"event_id": "e", "user_id": "x; drop", "event_type": "view"})),
    ]
    valid = [recent(n, f"user-{10 + n % 3}") for n in range(30)]
    retried = valid[3:5]  # producer retries: the same bytes again, a little later
    produce(stream_settings, valid[:15] + poison + valid[15:] + retried)
    store = open_online_store(online_config)
    progress = drain(stream_settings, store, online_config.group_id)
    assert progress.rejected == len(poison) and progress.events == len(valid)
    assert progress.duplicates == len(retried)
    assert sum(total_24h(store.get(f"user-{10 + n}")) for n in range(3)) == len(valid)
    store.close()

    dead = read_topic(stream_settings.bootstrap_servers, stream_settings.dlq_topic, len(poison))
    assert sorted((m.key(), m.value()) for m in dead) == sorted(poison)
    for message in dead:
        headers = dict(message.headers())
        assert headers["eventlake.stage"] == b"online.decode"
        assert headers["eventlake.reason"]
