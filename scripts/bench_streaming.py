"""Streaming benchmark: produce->visible latency, lookup latency, sustained events/s.

    .venv/bin/python scripts/bench_streaming.py [--rates 5000,20000] [--seconds 20]
        [--lookups 10000] [--throughput-events 300000]

Starts its own broker on a free loopback port. For each store (online on SQLite, online on
Redis, fraud on SQLite) and each rate, a consumer runs as its own process (`eventlake stream`)
while this process produces events at the rate (in 10 ms slices) for --seconds; every 50 ms one
of them is a probe of a new user, and a polling thread records when the probe is first visible
in the store (polled every 2 ms from a reader connection). Then --lookups random users are
read from each online backend. Last, each store folds --throughput-events pre-produced events
in this process: events / (time in polls that returned messages and in folding them).
Prints medians/percentiles per case.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import redis
from confluent_kafka import Producer

from eventlake.config import LoaderConfig, Settings
from eventlake.erasure.topics import ensure_erasure_topics
from eventlake.ingest import kafka
from eventlake.ingest.kafka import ensure_topics, producer_config
from eventlake.ops.broker import LocalBroker
from eventlake.streaming.config import FraudConfig, OnlineConfig
from eventlake.streaming.consumer import StreamConsumer
from eventlake.streaming.fraud import FraudStore
from eventlake.streaming.online import open_online_store

USERS = 100_000
TYPES = ("view", "view", "view", "cart", "remove_from_cart", "purchase")
COUNTRIES = ("DE", "FR", "PL", "NL", "ES")
PROBE_EVERY = 0.05


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _event(user: str, number: int, now: datetime) -> bytes:
    return orjson.dumps(
        {
            "event_id": f"b-{uuid.uuid4().hex}",
            "event_time": now.isoformat().replace("+00:00", "Z"),
            "event_type": TYPES[number % len(TYPES)],
            "user_id": user,
            "session_id": f"s-{user}-{number // 50}",
            "product_id": f"p-{number % 5000}",
            "category_code": "electronics.smartphone",
            "price": 19.99,
            "currency": "EUR",
            "country": COUNTRIES[number % len(COUNTRIES)],
            "device": ("mobile", "desktop")[number % 2],
            "schema_version": 1,
        }
    )


@dataclasses.dataclass
class Case:
    name: str
    store: str  # online | fraud
    env: dict[str, str]

    def open(self):
        if self.store == "online":
            return open_online_store(OnlineConfig.from_env(self.env))
        return FraudStore(FraudConfig.from_env(self.env))

    def visible(self, reader, user: str) -> bool:
        if self.store == "online":
            return reader.get(user) is not None
        return bool(reader.velocity(user))


def _settings(bootstrap: str, work: Path) -> Settings:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        bootstrap_servers=bootstrap,
        topic=name,
        dlq_topic=f"{name}-dlq",
        lake_dir=work / "lake",
        erasure_topic=f"{name}-erasure",
        confirmation_topic=f"{name}-confirmations",
    )
    ensure_topics(bootstrap, {settings.topic: 4, settings.dlq_topic: 1})
    ensure_erasure_topics(settings)
    return settings


def _env(settings: Settings, case_env: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "EVENTLAKE_TOPIC": settings.topic,
            "EVENTLAKE_DLQ_TOPIC": settings.dlq_topic,
            "EVENTLAKE_LAKE_DIR": str(settings.lake_dir),
            "EVENTLAKE_ERASURE_TOPIC": settings.erasure_topic,
            "EVENTLAKE_CONFIRMATION_TOPIC": settings.confirmation_topic,
        }
    )
    env.update(case_env)
    return env


def _cases(work: Path, tag: str) -> list[Case]:
    prefix = f"eventlake-bench-{uuid.uuid4().hex[:8]}-{tag}:"
    return [
        Case(
            "online/sqlite",
            "online",
            {
                "EVENTLAKE_ONLINE_BACKEND": "sqlite",
                "EVENTLAKE_ONLINE_PATH": str(work / f"online-{tag}.sqlite"),
                "EVENTLAKE_ONLINE_GROUP_ID": f"online-sqlite-{tag}",
            },
        ),
        Case(
            "online/redis",
            "online",
            {
                "EVENTLAKE_ONLINE_BACKEND": "redis",
                "EVENTLAKE_REDIS_PREFIX": prefix,
                "EVENTLAKE_ONLINE_GROUP_ID": f"online-redis-{tag}",
            },
        ),
        Case(
            "fraud/sqlite",
            "fraud",
            {
                "EVENTLAKE_FRAUD_PATH": str(work / f"fraud-{tag}.sqlite"),
                "EVENTLAKE_FRAUD_GROUP_ID": f"fraud-{tag}",
            },
        ),
    ]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def freshness(bootstrap: str, work: Path, case: Case, rate: int, seconds: float) -> dict:
    """Produce at `rate` for `seconds`; the produce->visible latency of the probes."""
    settings = _settings(bootstrap, work)
    env = _env(settings, case.env)
    # The child keeps its own descriptor of the log once started.
    with open(work / f"{case.name.replace('/', '-')}-{rate}.log", "w") as log:
        consumer = subprocess.Popen(
            [sys.executable, "-m", "eventlake.cli", "stream", case.store],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    producer = Producer(producer_config(bootstrap, **{"linger.ms": 5}))
    reader = Case.open(dataclasses.replace(case, env=env))
    pending: dict[str, float] = {}
    latencies: list[float] = []
    lock = threading.Lock()
    done = threading.Event()

    def poll() -> None:
        while not done.is_set() or pending:
            with lock:
                waiting = list(pending.items())
            for user, produced in waiting:
                if case.visible(reader, user):
                    latencies.append(time.monotonic() - produced)
                    with lock:
                        del pending[user]
            time.sleep(0.002)
            if done.is_set() and time.monotonic() > deadline + 30:
                break

    try:
        # Warm up: the consumer has joined its group once a first probe is visible.
        kafka.produce(
            producer, settings.topic, _event("warmup", 0, datetime.now(UTC)), key=b"warmup"
        )
        producer.flush(10)
        started = time.monotonic()
        while not case.visible(reader, "warmup"):
            if time.monotonic() - started > 60:
                raise RuntimeError(f"{case.name}: the consumer did not start")
            time.sleep(0.05)
        poller = threading.Thread(target=poll, daemon=True)
        deadline = time.monotonic() + seconds
        poller.start()
        sent = probes = 0
        next_probe = begin = time.monotonic()
        while (now := time.monotonic()) < deadline:
            due = int((now - begin) * rate) - sent
            stamp = datetime.now(UTC)
            for _ in range(max(due, 0)):
                user = f"u-{random.randrange(USERS)}"
                kafka.produce(
                    producer, settings.topic, _event(user, sent, stamp), key=user.encode()
                )
                sent += 1
            if now >= next_probe:
                user = f"probe-{probes}"
                with lock:
                    pending[user] = time.monotonic()
                kafka.produce(
                    producer, settings.topic, _event(user, probes, stamp), key=user.encode()
                )
                probes += 1
                next_probe += PROBE_EVERY
            producer.poll(0)
            time.sleep(0.01)
        producer.flush(30)
        achieved = sent / (time.monotonic() - begin)
        done.set()
        poller.join(60)
    finally:
        consumer.send_signal(signal.SIGTERM)
        consumer.wait(60)
        reader.close()
    return {
        "case": case.name,
        "rate": rate,
        "achieved": achieved,
        "probes": probes,
        "seen": len(latencies),
        "p50_ms": 1000 * _percentile(latencies, 0.5) if latencies else float("nan"),
        "p99_ms": 1000 * _percentile(latencies, 0.99) if latencies else float("nan"),
        "env": env,
    }


def lookups(case: Case, env: dict[str, str], count: int) -> dict:
    store = Case.open(dataclasses.replace(case, env=env))
    users = [f"u-{random.randrange(USERS)}" for _ in range(count)]
    timings = []
    found = 0
    try:
        for user in users:
            started = time.perf_counter()
            row = store.get(user)
            timings.append(time.perf_counter() - started)
            found += row is not None
    finally:
        store.close()
    return {
        "case": case.name,
        "lookups": count,
        "found": found,
        "p50_ms": 1000 * statistics.median(timings),
        "p99_ms": 1000 * _percentile(timings, 0.99),
    }


def throughput(bootstrap: str, work: Path, events: int) -> list[dict]:
    settings = _settings(bootstrap, work)
    producer = Producer(producer_config(bootstrap))
    stamp = datetime.now(UTC)
    for number in range(events):
        user = f"u-{random.randrange(USERS)}"
        kafka.produce(producer, settings.topic, _event(user, number, stamp), key=user.encode())
    producer.flush(60)
    results = []
    for case in _cases(work, "throughput"):
        store = case.open()
        group = case.env.get("EVENTLAKE_ONLINE_GROUP_ID") or case.env["EVENTLAKE_FRAUD_GROUP_ID"]
        try:
            progress = StreamConsumer(settings, store, group, LoaderConfig()).run(once=True)
        finally:
            store.close()
        results.append(
            {
                "case": case.name,
                "events": progress.events,
                "events_per_s": progress.events / progress.busy_seconds,
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="5000,20000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--throughput-events", type=int, default=300_000)
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]

    work = Path(tempfile.mkdtemp(prefix="eventlake-bench-streaming-"))
    bootstrap = f"127.0.0.1:{_free_port()}"
    broker = LocalBroker(bootstrap, work / "broker")
    broker.start()
    try:
        print("produce -> visible (consumer in its own process)")
        for rate in rates:
            for case in _cases(work, f"r{rate}"):
                result = freshness(bootstrap, work, case, rate, args.seconds)
                print(
                    f"  {result['case']:13s} {rate:>6d}/s (achieved {result['achieved']:,.0f}/s): "
                    f"p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms "
                    f"({result['seen']}/{result['probes']} probes)",
                    flush=True,
                )
                if case.store == "online" and rate == rates[-1]:
                    looked = lookups(case, result["env"], args.lookups)
                    print(
                        f"  lookups {looked['case']}: p50 {looked['p50_ms']:.2f} ms, "
                        f"p99 {looked['p99_ms']:.2f} ms ({looked['found']}/{looked['lookups']} "
                        "users found)",
                        flush=True,
                    )
        print(f"sustained events/s per consumer process ({args.throughput_events:,} events)")
        for result in throughput(bootstrap, work, args.throughput_events):
            print(f"  {result['case']:13s} {result['events_per_s']:,.0f} events/s", flush=True)
    finally:
        broker.stop()
        client = redis.Redis.from_url(OnlineConfig.redis_url)
        for key in client.scan_iter(match="eventlake-bench-*", count=1000):
            client.delete(key)
        client.close()


if __name__ == "__main__":
    main()
