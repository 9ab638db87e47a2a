"""Raw-lake compaction with the lake in a bucket (moto's S3 server), against what readers count:
dbt's build, `eventlake sql` on the published facts and `eventlake summary`'s rows landed.

A bucket has no rename: a merged object is PUT under its range name, then its inputs are
deleted. Between the two, and forever after a crash between the two, the bucket holds both;
readers skip the inputs (the supersede rule), and the next compaction deletes them."""

from __future__ import annotations

import dataclasses

import duckdb
import pytest

from eventlake.config import LoaderConfig
from eventlake.ingest.loader import Loader
from eventlake.lake import compaction, layout
from eventlake.lake.compaction import CompactionConfig, compact
from eventlake.lake.inventory import lake_summary
from eventlake.lake.storage import lake_storage
from tests.dbt_support import dbt, eventlake, eventlake_sql
from tests.support import events, produce

pytestmark = [pytest.mark.broker, pytest.mark.slow]

EVENTS = 3_000
SMALL_FILES = LoaderConfig(batch_size=200, rotate_records=150)
"""Many small files a partition and date: what compaction is for."""
FACTS = "from fct_events where event_date >= date '2000-01-01'"


@pytest.fixture
def bucket_settings(settings, s3_lake):
    """The test's topics and SQLite catalog, the lake in a bucket of its own."""
    return dataclasses.replace(settings, lake_dir=s3_lake)


def load(settings) -> set[str]:
    """Produce EVENTS events over two days and load them into small files; their ids."""
    produce(settings, events(EVENTS, days=2))
    Loader(settings, SMALL_FILES).run(once=True)
    return {f"evt-{n:09d}" for n in range(EVENTS)}


def raw_objects(lake: str) -> list[str]:
    """Every raw object's key relative to the lake, as a LIST shows it."""
    infos = lake_storage(lake).list_files(layout.RAW_EVENTS.as_posix(), suffix=".parquet")
    return [info.path for info in infos]


def runs(objects: list[str]) -> set[tuple[str, str]]:
    """(date folder, Kafka partition) of each object: one object each once merged."""
    return {(key.split("/")[-2], key.rpartition("/")[2].split("+")[1]) for key in objects}


def rows_of_every_object(lake: str) -> int:
    """What a reader without the rules counts: every row of every raw object."""
    storage = lake_storage(lake)
    with duckdb.connect() as connection:
        storage.configure(connection)
        glob = storage.uri(f"{layout.RAW_EVENTS.as_posix()}/*/*.parquet")
        return connection.execute(f"select count(*) from read_parquet('{glob}')").fetchone()[0]


def published_ids(settings) -> list[str]:
    """Every event id of the published facts, through `eventlake sql`."""
    rows = eventlake_sql(settings.lake_dir, settings.catalog, f"select event_id {FACTS}")
    return [row[0] for row in rows[1:]]


def arrived_files(settings) -> set[str]:
    """The raw files dbt's builds recorded (the lake_files macro's answer, build after build)."""
    rows = eventlake_sql(
        settings.lake_dir,
        settings.catalog,
        "select file_path from build.int_event_files__arrived where file_path like '%'",
    )
    return {row[0] for row in rows[1:]}


def quarantined(settings) -> int:
    rows = eventlake_sql(
        settings.lake_dir, settings.catalog, "select count(*) from fct_events_quarantine"
    )
    return int(rows[1][0])


def test_compaction_merges_the_objects_and_every_reader_counts_each_event_once(bucket_settings):
    settings = bucket_settings
    truth = load(settings)
    before = raw_objects(settings.lake_dir)
    assert len(before) > 2 * len(runs(before))
    dbt(settings.lake_dir, settings.catalog, "build")
    assert sorted(published_ids(settings)) == sorted(truth)

    output = eventlake(settings.lake_dir, settings.catalog, "compact", "--apply")

    after = raw_objects(settings.lake_dir)
    assert len(after) == len(runs(before)), "one object a date and Kafka partition"
    assert not set(after) & set(before), "every input deleted, each output a new name"
    assert f"files {len(before)} -> {len(after)}" in output
    assert f"{EVENTS:,} rows merged" in output
    assert rows_of_every_object(settings.lake_dir) == EVENTS
    summary = lake_summary(settings.lake_dir)
    assert (summary["rows landed"], summary["files"]) == (EVENTS, len(after))

    dbt(settings.lake_dir, settings.catalog, "build")  # the merged objects arrive: no new event
    assert sorted(published_ids(settings)) == sorted(truth)
    assert quarantined(settings) == 0


def test_inputs_left_beside_their_merged_object_are_read_by_no_reader_and_then_deleted(
    bucket_settings, monkeypatch
):
    """As if the job died after each PUT, before deleting that merge's inputs; dbt first builds
    on the bucket in that state."""
    settings = bucket_settings
    truth = load(settings)
    before = raw_objects(settings.lake_dir)
    with monkeypatch.context() as patch:
        patch.setattr(compaction, "_delete", lambda storage, relative: None)
        _, result = compact(settings.lake_dir, CompactionConfig(), apply=True)
    storage = lake_storage(settings.lake_dir)
    stored = raw_objects(settings.lake_dir)
    merged = sorted(set(stored) - set(before))
    assert len(merged) == result.merges == len(runs(before))
    assert set(before) < set(stored), "the inputs are all still there"
    assert rows_of_every_object(settings.lake_dir) == 2 * EVENTS, "read naively: twice"

    summary = lake_summary(settings.lake_dir)
    assert (summary["rows landed"], summary["files"]) == (EVENTS, len(merged))
    dbt(settings.lake_dir, settings.catalog, "build")
    assert sorted(published_ids(settings)) == sorted(truth)
    assert arrived_files(settings) == {storage.uri(key) for key in merged}

    output = eventlake(settings.lake_dir, settings.catalog, "compact", "--apply")

    assert f"{len(before)} leftovers of interrupted merges" in output
    assert raw_objects(settings.lake_dir) == merged
    assert rows_of_every_object(settings.lake_dir) == EVENTS
    dbt(settings.lake_dir, settings.catalog, "build")
    assert sorted(published_ids(settings)) == sorted(truth)
    assert quarantined(settings) == 0
    assert lake_summary(settings.lake_dir)["rows landed"] == EVENTS
