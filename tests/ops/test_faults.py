"""Faults say so once, clearly, and lose nothing: an unreachable broker, a full disk.

Each process is run the way an operator runs it (the `eventlake` command in a subprocess) against
the real thing: a port where nothing listens, then a broker started there; a lake on a 4 MB
tmpfs (tests/disk_full_driver.py).
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tests.ingest.test_loader as loader_tests
from eventlake.config import Settings
from eventlake.ingest.kafka import ensure_topics
from eventlake.lake.layout import read_checkpoint
from eventlake.ops.broker import LocalBroker
from tests.conftest import free_port
from tests.ops.support import scrape, wait_for
from tests.support import events, loader_env, produce

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


def test_load_once_without_a_broker_says_so_once_and_exits_1(tmp_path):
    settings = dead_broker_settings(tmp_path)
    address = settings.bootstrap_servers
    started = time.monotonic()
    loader = eventlake(
        "load", "--once", env=loader_env(settings, EVENTLAKE_CONNECT_TIMEOUT_SECONDS=TIMEOUT),
        cwd=tmp_path,
    )  # fmt: skip
    _, stderr = loader.communicate(timeout=120)
    elapsed = time.monotonic() - started

    assert loader.returncode == 1, stderr
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
