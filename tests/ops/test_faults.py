"""Faults say so once, clearly, and lose nothing: an unreachable broker, Redis or catalog, a
full disk.

Each process is run the way an operator runs it (the `eventlake` command in a subprocess) against
the real thing: a port where nothing listens, then a broker or a Redis server of the test's own
started there; a lake on a 4 MB tmpfs (tests/disk_full_driver.py).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from prometheus_client import REGISTRY

import tests.ingest.test_loader as loader_tests
from eventlake.config import Settings
from eventlake.erasure.topics import ensure_erasure_topics
from eventlake.ingest.kafka import ensure_topics
from eventlake.lake.layout import read_checkpoint
from eventlake.ops.broker import LocalBroker
from eventlake.ops.config import OpsConfig
from eventlake.ops.observe import ScheduleObserver
from eventlake.streaming.config import OnlineConfig
from eventlake.streaming.online.redis_store import RedisOnlineStore
from tests.conftest import free_port
from tests.ops.support import scrape, wait_for
from tests.support import event, events, loader_env, produce

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 2
"""EVENTLAKE_CONNECT_TIMEOUT_SECONDS of these tests: --once gives up after it."""


def eventlake(*args: str, env: dict, cwd: Path) -> subprocess.Popen:
    """The `eventlake` command, as an operator runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "eventlake.cli", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def up(metrics_port: int, dependency: str) -> float | None:
    """eventlake_up{dependency=...} as the process serves it (None: not exported)."""
    samples = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
    return samples.get(("eventlake_up", frozenset({("dependency", dependency)})))


def dead_broker_settings(tmp_path: Path) -> Settings:
    """Settings pointing at a loopback port where nothing listens (yet)."""
    return Settings(
        bootstrap_servers=f"127.0.0.1:{free_port()}",
        topic="events",
        dlq_topic="events-dlq",
        group_id="loader-faults",
        lake_dir=tmp_path / "lake",
    )


# -- Kafka --------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["load"], ["stream", "fraud"]], ids=" ".join)
def test_once_without_a_broker_says_so_once_and_exits_1(tmp_path, command):
    settings = dead_broker_settings(tmp_path)
    address = settings.bootstrap_servers
    started = time.monotonic()
    process = eventlake(
        *command, "--once", env=loader_env(settings, EVENTLAKE_CONNECT_TIMEOUT_SECONDS=TIMEOUT),
        cwd=tmp_path,
    )  # fmt: skip
    _, stderr = process.communicate(timeout=120)
    elapsed = time.monotonic() - started

    assert process.returncode == 1, stderr
    lines = stderr.strip().splitlines()
    assert "%3|" not in stderr and "FAIL" not in stderr and "Traceback" not in stderr
    assert len(lines) <= 4, lines  # the outage, a progress line, the verdict
    assert lines[0].endswith(
        f" ERROR eventlake.ops.health: kafka unreachable at {address} (Connection refused); "
        "retrying"
    ), lines
    assert re.fullmatch(
        rf"error: kafka unreachable at {re.escape(address)} for \d+ s \(Connection refused\); "
        r"gave up: is it running\? \(KAFKA_BOOTSTRAP_SERVERS\)",
        lines[-1],
    ), lines
    assert elapsed < TIMEOUT + 30  # bounded (generous: a loaded machine starts Python slowly)


@pytest.mark.broker  # starts one of its own
def test_a_following_loader_waits_for_its_broker_then_lands_each_event_once(tmp_path):
    settings = dead_broker_settings(tmp_path)
    metrics_port = free_port()
    loader = eventlake(
        "load", "--metrics-port", str(metrics_port),
        env=loader_env(
            settings, EVENTLAKE_CONNECT_TIMEOUT_SECONDS=TIMEOUT, EVENTLAKE_ROTATE_SECONDS=1
        ),
        cwd=tmp_path,
    )  # fmt: skip
    broker = LocalBroker(settings.bootstrap_servers, tmp_path / "broker")
    try:
        wait_for(lambda: up(metrics_port, "kafka") == 0, "eventlake_up kafka 0", 60)
        time.sleep(TIMEOUT + 1)
        assert loader.poll() is None, "a following loader gave up"
        assert up(metrics_port, "kafka") == 0

        broker.start()  # the broker comes (back)
        ensure_topics(settings.bootstrap_servers, {settings.topic: 2, settings.dlq_topic: 1})
        produce(settings, events(1_000))
        wait_for(lambda: up(metrics_port, "kafka") == 1, "eventlake_up kafka 1", 60)
        wait_for(
            lambda: (
                sum(
                    read_checkpoint(settings.lake_dir, settings.topic, p).next_offset or 0
                    for p in range(2)
                )
                == 1_000
            ),
            "the events landed",
            120,
        )
        loader.send_signal(signal.SIGTERM)
        _, stderr = loader.communicate(timeout=60)
    finally:
        if loader.poll() is None:
            loader.kill()
        broker.stop()

    assert loader.returncode == 0, stderr[-3000:]
    assert "%3|" not in stderr
    assert stderr.count("kafka unreachable at") == 1, stderr[-3000:]
    assert stderr.count(f"kafka reachable again at {settings.bootstrap_servers}") == 1
    loader_tests.assert_exactly_once(settings, {f"evt-{n:09d}" for n in range(1_000)})


# -- Redis --------------------------------------------------------------------------------------


def stream_env(settings: Settings, redis_url: str, prefix: str, **overrides: object) -> dict:
    """`eventlake stream online` on these topics, its store in Redis at redis_url."""
    return loader_env(
        settings,
        EVENTLAKE_ERASURE_TOPIC=settings.erasure_topic,
        EVENTLAKE_CONFIRMATION_TOPIC=settings.confirmation_topic,
        EVENTLAKE_ONLINE_BACKEND="redis",
        EVENTLAKE_REDIS_URL=redis_url,
        EVENTLAKE_REDIS_PREFIX=prefix,
        EVENTLAKE_ONLINE_GROUP_ID=f"online-{prefix}",
        EVENTLAKE_CONNECT_TIMEOUT_SECONDS=TIMEOUT,
        **overrides,
    )


@pytest.fixture
def stream_settings(settings: Settings) -> Settings:
    streamed = dataclasses.replace(
        settings,
        erasure_topic=f"{settings.topic}-erasure",
        confirmation_topic=f"{settings.topic}-confirmations",
    )
    ensure_erasure_topics(streamed)
    return streamed


def test_stream_once_without_redis_says_so_once_and_exits_1(stream_settings, tmp_path):
    address = f"127.0.0.1:{free_port()}"
    consumer = eventlake(
        "stream", "online", "--once",
        env=stream_env(stream_settings, f"redis://{address}/0", "faults:"), cwd=tmp_path,
    )  # fmt: skip
    _, stderr = consumer.communicate(timeout=120)

    assert consumer.returncode == 1, stderr
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr
    assert len(lines) == 2, lines  # the outage, the verdict
    assert lines[0].endswith(
        f" ERROR eventlake.ops.health: redis unreachable at {address} (Error 111 connecting to "
        f"{address}. Connection refused.); retrying"
    ), lines
    assert re.fullmatch(
        rf"error: redis unreachable at {re.escape(address)} for \d+ s \(Error 111 connecting to "
        rf"{re.escape(address)}\. Connection refused\.\); gave up: is it running\? "
        r"\(EVENTLAKE_REDIS_URL\)",
        lines[-1],
    ), lines


class RedisServer:
    """A Redis server of the test's own on a loopback port, its data in an append-only file
    that survives a restart (as a production server's does)."""

    def __init__(self, port: int, data_dir: Path) -> None:
        self.port = port
        self.data_dir = data_dir
        self.process: subprocess.Popen | None = None
        data_dir.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.data_dir), "--appendonly", "yes", "--appendfsync", "always",
             "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        wait_for(lambda: _pings(client), f"redis-server on {self.port}", 30)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def recent_events(start: int, count: int) -> list[tuple[bytes, bytes]]:
    """Events of the last hour (the store's windows hold them)."""
    return [event(n, days_ago=0) for n in range(start, start + count)]


def folded(store: RedisOnlineStore, topic: str) -> int:
    return sum(offset for (t, _), offset in store.offsets().items() if t == topic)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")
def test_a_following_stream_consumer_waits_for_redis_and_folds_each_event_once(
    stream_settings, tmp_path
):
    port, metrics_port = free_port(), free_port()
    url, prefix = f"redis://127.0.0.1:{port}/0", "faults:"
    server = RedisServer(port, tmp_path / "redis")
    consumer = eventlake(
        "stream", "online", "--metrics-port", str(metrics_port),
        env=stream_env(stream_settings, url, prefix), cwd=tmp_path,
    )  # fmt: skip
    try:
        # Started before its Redis: it waits, and says so once.
        wait_for(lambda: up(metrics_port, "redis") == 0, "eventlake_up redis 0", 60)
        time.sleep(TIMEOUT + 1)
        assert consumer.poll() is None, "a following consumer gave up"
        server.start()
        wait_for(lambda: up(metrics_port, "redis") == 1, "eventlake_up redis 1", 60)
        store = RedisOnlineStore(OnlineConfig(backend="redis", redis_url=url, redis_prefix=prefix))
        produce(stream_settings, recent_events(0, 1_000))
        wait_for(lambda: folded(store, stream_settings.topic) == 1_000, "1,000 folded", 60)

        # Redis goes away while events keep coming: the batch fails, the consumer waits...
        server.stop()
        produce(stream_settings, recent_events(1_000, 1_000))
        wait_for(lambda: up(metrics_port, "redis") == 0, "eventlake_up redis 0 again", 60)
        assert consumer.poll() is None
        # ...and reads on from the store's offsets once it is back.
        server.start()
        wait_for(lambda: folded(store, stream_settings.topic) == 2_000, "2,000 folded", 60)
        assert up(metrics_port, "redis") == 1
        consumer.send_signal(signal.SIGTERM)
        _, stderr = consumer.communicate(timeout=60)

        users = {f"user-{n % 997}" for n in range(2_000)}
        windows = [store.get(user)["stream"]["events_24h"] for user in sorted(users)]
        store.close()
    finally:
        if consumer.poll() is None:
            consumer.kill()
        server.stop()

    assert consumer.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    assert stderr.count(f"redis unreachable at 127.0.0.1:{port}") == 2, stderr[-3000:]
    assert stderr.count(f"redis reachable again at 127.0.0.1:{port}") == 2, stderr[-3000:]
    assert sum(sum(window.values()) for window in windows) == 2_000  # none lost, none twice


# -- the catalog --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["sql", "-c", "select 1"], ["summary"]], ids=" ".join)
def test_a_command_on_an_unreachable_catalog_says_so_in_one_line_and_exits_1(tmp_path, command):
    address = f"127.0.0.1:{free_port()}"
    env = dict(
        os.environ,
        EVENTLAKE_CATALOG=f"postgres:host=127.0.0.1 port={address.split(':')[1]} "
        "user=postgres password=secret dbname=lakehouse",
        EVENTLAKE_LAKE_DIR=str(tmp_path / "lake"),
    )
    done = eventlake(*command, env=env, cwd=tmp_path)
    _, stderr = done.communicate(timeout=120)

    assert done.returncode == 1, stderr
    assert stderr.splitlines() == [
        f"error: catalog unreachable at {address}/lakehouse (Connection refused): is PostgreSQL "
        "running there? (EVENTLAKE_CATALOG)"
    ]  # one line, no traceback, no password


def test_the_schedule_exports_its_catalog_down_while_it_does_not_answer(tmp_path, caplog):
    settings = Settings(
        catalog=f"postgres:host=127.0.0.1 port={free_port()} user=postgres dbname=lakehouse",
        lake_dir=tmp_path / "lake",
    )
    observer = ScheduleObserver(settings, OpsConfig().budgets(), cwd=tmp_path, refresh=0.2)
    try:
        wait_for(
            lambda: REGISTRY.get_sample_value("eventlake_up", {"dependency": "catalog"}) == 0,
            "eventlake_up catalog 0",
            60,
        )
        time.sleep(1)  # five more probes, no more lines
    finally:
        observer.close()
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert said == [
        f"catalog unreachable at {observer.catalog.address} (Connection refused); retrying"
    ]


# -- the lake's disk ----------------------------------------------------------------------------


def can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
         "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
    )  # fmt: skip
    return probe.returncode == 0


@pytest.mark.skipif(not can_mount_tmpfs(), reason="no user namespaces to mount a tmpfs in")
@pytest.mark.parametrize("rotate_records", [300, 1_000_000], ids=["rotation", "final-flush"])
def test_a_full_lake_disk_commits_nothing_then_resumes_exactly_once(
    settings, tmp_path, rotate_records
):
    """Rotation: the writer thread meets the full disk mid-run; final flush: the flush that
    --once makes on its way out does."""
    produce(settings, events(2_000, days=3))
    disk = tmp_path / "disk"
    disk.mkdir()
    env = loader_env(
        settings,
        EVENTLAKE_ROTATE_RECORDS=rotate_records,
        EVENTLAKE_SESSION_TIMEOUT_MS=2000,  # --once settles for 1.5 sessions
        PYTHONPATH=REPO,
    )
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
         f'mount -t tmpfs -o size=4m tmpfs "{disk}" && '
         f'exec "{sys.executable}" -m tests.disk_full_driver "{disk}" 8192'],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout)

    full = found["full"]
    assert full["returncode"] == 1, full["stderr"][-3000:]
    lines = full["stderr"].strip().splitlines()
    said = [line for line in lines if "lake disk full" in line]
    assert said == [lines[-1]], lines  # once, as the last word
    assert said[0].startswith("error: lake disk full: no space left under ")
    assert f"{disk}/lake" in said[0] and "Nothing of it was committed" in said[0]
    assert "Traceback" not in full["stderr"]
    after = found["after_full"]
    assert set(after["checkpoints"].values()) == {None}, after  # no partition moved
    assert all(offset < 0 for offset in found["group_offsets_after_full"].values())
    assert not [f for f in after["files"] if f.endswith(".tmp")], after["files"]
    assert after["event_ids"] == [], "a file of the failed flush is still there"

    freed = found["freed"]
    assert freed["returncode"] == 0, freed["stderr"][-3000:]
    ids = found["after_freed"]["event_ids"]
    assert len(ids) == len(set(ids)), "an event landed twice"
    assert set(ids) == {f"evt-{n:09d}" for n in range(2_000)}
    assert sum(found["after_freed"]["checkpoints"].values()) == 2_000
