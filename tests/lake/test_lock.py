"""The lake's maintenance lock across hosts: with a PostgreSQL catalog it is an advisory lock in
the catalog's database, so jobs on different hosts (here: processes with different host-local
lock folders) exclude each other, a killed holder releases it, and lakes keep locks of their own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from eventlake.lake.lock import LakeLock, maintenance_lock

pytestmark = pytest.mark.postgres

LAKE = "s3://eventlake-lock-test/lake"
"""A lake in a bucket: its file lock would be host-local, the case the advisory lock is for
(LakeLock never touches the bucket, so no S3 server is needed)."""


def holder(catalog: str, lake: str, runtime_dir: str) -> subprocess.Popen:
    """Another host's job: holds the lake's lock until its stdin closes."""
    script = (
        "import sys\n"
        "from eventlake.lake.lock import maintenance_lock\n"
        f"with maintenance_lock({lake!r}, {catalog!r}):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.read()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        env=dict(os.environ, XDG_RUNTIME_DIR=runtime_dir),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held"
    return process


def try_hold(lock: LakeLock, wait: float) -> bool:
    """Whether the lock is acquired within `wait` seconds (released at once if it is)."""
    given_up = threading.Event()
    stop = threading.Timer(wait, given_up.set)
    stop.start()
    try:
        with lock.hold(stop=given_up) as held:
            return held
    finally:
        stop.cancel()


def test_jobs_on_two_hosts_exclude_each_other_through_the_catalog(
    postgres_catalog, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "this-host"))
    lock = LakeLock(LAKE, postgres_catalog)
    other = holder(postgres_catalog, LAKE, str(tmp_path / "other-host"))
    try:
        assert not try_hold(lock, 1.5), "held by the other host's job: must wait"
        # Another lake in the same catalog database has a lock of its own.
        assert try_hold(LakeLock("s3://eventlake-lock-test/other-lake", postgres_catalog), 5)
    finally:
        other.stdin.close()
        assert other.wait(timeout=30) == 0
    assert try_hold(lock, 5), "released when the other job ended"
    # With a SQLite catalog the lock stays a host's own file: the embedded, one-host deployment.
    assert str(LakeLock(LAKE, "sqlite:lakehouse.sqlite")).startswith(str(tmp_path / "this-host"))


def test_a_killed_holder_releases_the_lock_with_its_session(postgres_catalog, tmp_path):
    other = holder(postgres_catalog, LAKE, str(tmp_path / "other-host"))
    lock = LakeLock(LAKE, postgres_catalog)
    assert not try_hold(lock, 1.0)

    other.send_signal(signal.SIGKILL)
    other.wait(timeout=30)
    started = time.monotonic()

    assert try_hold(lock, 30), "PostgreSQL ends a dead job's session and with it the lock"
    assert time.monotonic() - started < 30


def test_a_waiting_job_takes_the_lock_as_soon_as_it_is_released(postgres_catalog):
    order: list[str] = []

    def job() -> None:
        with maintenance_lock(LAKE, postgres_catalog):
            order.append("waiter")

    with maintenance_lock(LAKE, postgres_catalog):
        waiter = threading.Thread(target=job)
        waiter.start()
        time.sleep(1.0)
        order.append("released")
    waiter.join(timeout=30)

    assert order == ["released", "waiter"]
