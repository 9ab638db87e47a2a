"""The loader against a real broker: exactly once, poison, rebalance, restart, shutdown."""

from __future__ import annotations

import random
import signal
import time

import duckdb
import pyarrow.fs as pafs
import pytest

from eventlake.config import LoaderConfig, Settings
from eventlake.ingest.loader import Loader
from eventlake.lake.lakehouse import install_extensions
from eventlake.lake.layout import RAW_EVENTS, read_checkpoint
from eventlake.lake.storage import lake_storage
from tests.support import event, events, produce, read_topic, start_loader

pytestmark = pytest.mark.broker


def lake_duckdb(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that reads the lake, in a folder or a bucket."""
    connection = duckdb.connect()
    install_extensions(connection)
    lake_storage(settings.lake_dir).configure(connection)
    return connection


def landed(settings: Settings) -> list[tuple[str, int, int]]:
    """(event_id, partition, offset) of every row in the raw lake (every file, committed or
    not: what a reader ignoring the checkpoints would see)."""
    storage = lake_storage(settings.lake_dir)
    files = [storage.uri(i.path) for i in storage.list_files(str(RAW_EVENTS), suffix=".parquet")]
    if not files:
        return []
    return (
        lake_duckdb(settings)
        .execute(
            "select event_id, _partition, _offset from read_parquet(?, "
            "hive_partitioning = true, union_by_name = true)",
            [files],
        )
        .fetchall()
    )


def lake_files(settings: Settings) -> dict[str, float]:
    return {info.path: info.mtime_ns for info in lake_storage(settings.lake_dir).list_files("")}


def assert_exactly_once(settings: Settings, expected_ids: set[str]) -> None:
    rows = landed(settings)
    ids = [row[0] for row in rows]
    assert len(ids) == len(set(ids)), "an event landed twice"
    assert set(ids) == expected_ids
    assert len({(p, o) for _, p, o in rows}) == len(rows), "an offset landed twice"
    selector = pafs.FileSelector("", recursive=True, allow_not_found=True)
    leftovers = [
        info.path
        for info in lake_storage(settings.lake_dir).fs.get_file_info(selector)
        if info.base_name.endswith(".tmp")
    ]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


def test_drain_once_lands_every_event_in_its_event_date_partition(
    settings, loader_config, lake_dir
):
    messages = events(3_000, days=5)
    produce(settings, messages)

    progress = Loader(settings, loader_config).run(once=True)

    assert progress.events == 3_000
    assert_exactly_once(settings, {f"evt-{n:09d}" for n in range(3_000)})
    storage = lake_storage(settings.lake_dir)
    folders = {i.path.split("/")[-2] for i in storage.list_files(str(RAW_EVENTS))}
    assert len(folders) == 5
    mismatched = (
        lake_duckdb(settings)
        .execute(
            f"select count(*) from read_parquet('{storage.uri(RAW_EVENTS)}/*/*.parquet', "
            "hive_partitioning = true) "
            "where event_date <> cast(timezone('UTC', event_time) as date)"
        )
        .fetchall()[0][0]
    )
    assert mismatched == 0


def test_poison_messages_go_to_the_dlq_with_bytes_and_reason(settings, loader_config):
    valid = events(500)
    base = event(9_999)
    poison: dict[str, tuple[bytes | None, bytes | None]] = {
        "invalid_json": (b"u", b'{"event_id": "x", '),
        "invalid_utf8": (b"u", b'{"event_id": "\xff\xfe"}'),
        "missing_field": (
            b"user-1",
            b'{"event_time": "2026-01-01T00:00:00Z", "user_id": "user-1"}',
        ),
        "wrong_type": (base[0], base[1].replace(b'"price":', b'"price":"1", "x":')),
        "invalid_timestamp": event(10_001, event_time="last tuesday"),
        "future_timestamp": event(10_002, event_time="2999-01-01T00:00:00Z"),
        "too_large": (b"u", b'{"event_id": "' + b"x" * 1_000_000 + b'"}'),
        "empty_value": (b"u", b""),
        "missing_key": (None, event(10_003)[1]),
        "not_an_object": (b"u", b"[1, 2, 3]"),
    }
    produce(settings, valid + list(poison.values()))

    progress = Loader(settings, loader_config).run(once=True)

    assert progress.rejected == len(poison)
    assert_exactly_once(settings, {f"evt-{n:09d}" for n in range(500)})
    dlq = read_topic(settings.bootstrap_servers, settings.dlq_topic, len(poison))
    by_reason = {dict(m.headers())["eventlake.reason"].decode().split(":")[0]: m for m in dlq}
    assert set(by_reason) == set(poison)
    for code, (key, value) in poison.items():
        message = by_reason[code]
        assert message.value() == (value or None) or message.value() == value
        assert message.key() == key
        headers = dict(message.headers())
        assert headers["eventlake.source.topic"] == settings.topic.encode()
        assert int(headers["eventlake.source.offset"]) >= 0
    quarantine = duckdb.sql(
        f"select reason_code, value from read_parquet('{settings.lake_dir}/quarantine/events/*')"
    ).fetchall()
    assert sorted(code for code, _ in quarantine) == sorted(poison)
    assert {code: value for code, value in quarantine}["too_large"] == poison["too_large"][1]


def test_restart_with_nothing_new_writes_no_file(settings, loader_config):
    produce(settings, events(1_000))
    Loader(settings, loader_config).run(once=True)
    before = lake_files(settings)

    progress = Loader(settings, loader_config).run(once=True)

    assert progress.messages == 0
    assert lake_files(settings) == before


@pytest.mark.slow
def test_kill_9_at_random_points_lands_each_event_once(settings, lake_dir):
    total = 60_000
    messages = events(total, days=4)
    poison = [(f"user-{n}".encode(), b'{"event_id": ' + str(n).encode()) for n in range(300)]
    for n, bad in enumerate(poison):  # one poison message every 200 events
        messages.insert(200 * n + n, bad)
    produce(settings, messages)
    rng = random.Random(7)
    rotation = {
        "EVENTLAKE_ROTATE_RECORDS": 700,
        "EVENTLAKE_BATCH_SIZE": 500,
        "EVENTLAKE_ROTATE_SECONDS": 1,
        # The next loader gets the killed one's partitions once its session expires: 4 s per
        # restart with a 2 s session against 11 s with the default 6 s (measured on Tansu).
        "EVENTLAKE_SESSION_TIMEOUT_MS": 2000,
    }
    kills = 0
    while kills < 10:
        loader = start_loader(settings, **rotation)
        # Killed at a random point after it joined the group (a join takes longer on a loaded
        # machine or with a bucket's client to start), so each kill can interrupt work.
        for line in iter(loader.stdout.readline, b""):
            if b"assigned partition" in line:
                break
        time.sleep(rng.uniform(0.2, 2.0))
        loader.kill()
        loader.wait()
        kills += 1
    partial = len(landed(settings))
    final = start_loader(settings, "--once", EVENTLAKE_SESSION_TIMEOUT_MS=2000)
    output, _ = final.communicate(timeout=240)
    assert final.returncode == 0, output.decode()[-2000:]

    assert 0 < partial < total, "the kills did not interrupt the ingest"
    assert_exactly_once(settings, {f"evt-{n:09d}" for n in range(total)})
    for partition in range(4):
        checkpoint = read_checkpoint(settings.lake_dir, settings.topic, partition)
        assert checkpoint.pending == []
    # The quarantine table is exactly once too; the DLQ topic at least once.
    quarantine = lake_storage(settings.lake_dir).uri("quarantine/events")
    quarantined = (
        lake_duckdb(settings)
        .execute(f"select value from read_parquet('{quarantine}/*.parquet')")
        .fetchall()
    )
    assert sorted(value for (value,) in quarantined) == sorted(value for _, value in poison)
    dlq = read_topic(settings.bootstrap_servers, settings.dlq_topic, len(poison))
    assert {m.value() for m in dlq} == {value for _, value in poison}


@pytest.mark.slow
def test_two_loaders_share_partitions_through_a_rebalance(settings):
    produce(settings, events(20_000))
    first = start_loader(settings, EVENTLAKE_ROTATE_SECONDS=1)
    time.sleep(5)
    second = start_loader(settings, EVENTLAKE_ROTATE_SECONDS=1)
    time.sleep(2)
    produce(settings, events(20_000, start=20_000))
    time.sleep(12)  # the rebalance settles and both drain
    for loader in (first, second):
        loader.send_signal(signal.SIGTERM)
    outputs = [loader.communicate(timeout=60)[0].decode() for loader in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs

    assert all("assigned partition" in output for output in outputs), outputs
    assert_exactly_once(settings, {f"evt-{n:09d}" for n in range(40_000)})


@pytest.mark.slow
def test_sigterm_flushes_buffers_and_exits_cleanly(settings):
    produce(settings, events(5_000))
    loader = start_loader(settings, EVENTLAKE_ROTATE_SECONDS=3600)
    time.sleep(7)
    assert landed(settings) == [], "rotation wrote before the signal"

    loader.send_signal(signal.SIGTERM)
    output, _ = loader.communicate(timeout=60)

    assert loader.returncode == 0, output.decode()[-2000:]
    assert_exactly_once(settings, {f"evt-{n:09d}" for n in range(5_000)})


def test_config_rejects_a_malformed_setting():
    from eventlake.exceptions import ConfigError

    with pytest.raises(ConfigError, match="EVENTLAKE_BATCH_SIZE must be a whole number"):
        LoaderConfig.from_env({"EVENTLAKE_BATCH_SIZE": "lots"})
