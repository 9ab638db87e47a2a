"""Compaction on real Parquet files, in a folder and in a bucket: every row once, committed files
only, crash healing."""

from __future__ import annotations

import random
import tempfile
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from eventlake.cli.main import cli
from eventlake.config import LoaderConfig, Settings
from eventlake.exceptions import ConfigError, LakeError
from eventlake.ingest.loader import BLOOM_FILTER_COLUMNS, SORT_KEYS, Loader
from eventlake.lake import compaction, layout
from eventlake.lake.compaction import CompactionConfig, apply_compaction, compact, plan_compaction
from eventlake.lake.inventory import lake_summary
from eventlake.lake.lakehouse import connect
from eventlake.lake.layout import Checkpoint, data_file_name, event_date_dir, write_checkpoint
from eventlake.lake.maintenance import MaintenanceConfig, cleanup_instant, maintain
from eventlake.lake.storage import lake_storage

TOPIC = "events"
DAY = date(2026, 3, 14)
BIG = CompactionConfig(target_bytes=1 << 30, row_group_size=1_000)


def events_table(first: int, last: int, partition: int = 0, **extra: list) -> pa.Table:
    """Rows of offsets first..last as a flush writes them: sorted by time, not by offset."""
    offsets = list(range(first, last + 1))
    start = datetime(2026, 3, 14, tzinfo=UTC)
    shuffled = random.Random(first).sample(offsets, len(offsets))
    columns = {
        "event_id": [f"evt-{partition}-{o:06d}" for o in offsets],
        "event_time": pa.array(
            [start + timedelta(seconds=s) for s in shuffled], pa.timestamp("us", tz="UTC")
        ),
        "user_id": [f"user-{o % 13}" for o in offsets],
        "price": pa.array([o % 100 for o in offsets], pa.decimal128(18, 2)),
        "_topic": [TOPIC] * len(offsets),
        "_partition": pa.array([partition] * len(offsets), pa.int32()),
        "_offset": pa.array(offsets, pa.int64()),
    }
    columns.update(extra)
    return pa.table(columns)


def land_key(
    lake: Path | str, first: int, last: int, *, partition: int = 0, day: date = DAY, **extra
) -> str:
    """A raw file as the loader writes it (same sort, Bloom filter and atomic write), in a
    folder or a bucket; returns its path relative to the lake."""
    key = layout.event_date_key(day, data_file_name(TOPIC, partition, first, last))
    layout.publish_parquet(
        events_table(first, last, partition, **extra),
        lake,
        key,
        row_group_size=1_000,
        sort_by=SORT_KEYS,
        bloom_filter_columns=BLOOM_FILTER_COLUMNS,
    )
    return key


def land(
    lake_dir: Path, first: int, last: int, *, partition: int = 0, day: date = DAY, **extra
) -> Path:
    """land_key in a folder: the file's path."""
    return lake_dir / land_key(lake_dir, first, last, partition=partition, day=day, **extra)


def commit(lake: Path | str, next_offset: int, partition: int = 0, pending=()) -> None:
    pending = [p if isinstance(p, str) else str(p.relative_to(lake)) for p in pending]
    write_checkpoint(lake, TOPIC, partition, Checkpoint(next_offset, pending))


def read_rows(lake: Path | str, relative: list[str]) -> list[tuple[int, int]]:
    """(partition, offset) of every row of these files (relative to the lake), read by DuckDB."""
    storage = lake_storage(lake)
    files = ", ".join(f"'{storage.uri(path)}'" for path in relative)
    with duckdb.connect() as connection:
        storage.configure(connection)
        return sorted(
            connection.execute(
                f"select _partition, _offset from read_parquet([{files}], union_by_name = true)"
            ).fetchall()
        )


def listed(lake: Path | str) -> list[str]:
    """Every raw file's path relative to the lake, as a listing shows it."""
    infos = lake_storage(lake).list_files(layout.RAW_EVENTS.as_posix(), suffix=".parquet")
    return [info.path for info in infos]


def raw_rows(lake: Path | str) -> list[tuple[int, int]]:
    """(partition, offset) of every row of every raw file: what a reader without rules sees."""
    return read_rows(lake, listed(lake))


def readable_rows(lake: Path | str) -> list[tuple[int, int]]:
    """(partition, offset) of every row a reader sees that applies layout.readable."""
    return read_rows(lake, layout.readable(listed(lake), layout.read_checkpoints(lake)))


def data_files(lake: Path | str) -> list[str]:
    return sorted(path.rpartition("/")[2] for path in listed(lake))


def snapshot(lake: Path | str) -> dict[str, tuple[int, int]]:
    """Every file of the lake (hidden ones too) -> (size, mtime in ns)."""
    return {
        info.path: (info.size, info.mtime_ns)
        for info in lake_storage(lake).list_files("", hidden=True)
    }


def compact_now(lake_dir: Path | str, config: CompactionConfig = BIG):
    _, result = compact(lake_dir, config, apply=True)
    return result


def offsets(first: int, last: int, partition: int = 0) -> list[tuple[int, int]]:
    return [(partition, o) for o in range(first, last + 1)]


# -- merging --------------------------------------------------------------------------------------


def test_merge_keeps_every_row_once_and_names_the_file_after_the_offset_range(tmp_path):
    inputs = [land(tmp_path, 0, 9), land(tmp_path, 10, 29), land(tmp_path, 30, 59)]
    inputs += [land(tmp_path, 0, 4, partition=1), land(tmp_path, 5, 9, partition=1)]
    expected = pa.concat_tables([pq.read_table(p) for p in inputs]).sort_by(
        [("_partition", "ascending"), ("_offset", "ascending")]
    )
    commit(tmp_path, 60)
    commit(tmp_path, 10, partition=1)

    result = compact_now(tmp_path)

    assert data_files(tmp_path) == [
        data_file_name(TOPIC, 0, 0, 59),
        data_file_name(TOPIC, 1, 0, 9),
    ]
    assert raw_rows(tmp_path) == offsets(0, 59) + offsets(0, 9, partition=1)
    merged = [pq.read_table(event_date_dir(tmp_path, DAY) / n) for n in data_files(tmp_path)]
    assert pa.concat_tables(merged).equals(expected)
    assert (result.files_before, result.files_after, result.rows_merged) == (5, 2, 70)
    assert result.bytes_after == sum(
        p.stat().st_size for p in event_date_dir(tmp_path, DAY).glob("*.parquet")
    )


def test_merged_file_keeps_the_loaders_parquet_settings_sorted_by_offset(tmp_path):
    for first in range(0, 2_500, 500):
        land(tmp_path, first, first + 499)
    commit(tmp_path, 2_500)

    compact_now(tmp_path, CompactionConfig(row_group_size=1_000))

    (path,) = event_date_dir(tmp_path, DAY).glob("*.parquet")
    metadata = pq.ParquetFile(path).metadata
    assert [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)] == [
        1_000,
        1_000,
        500,
    ]
    columns = [metadata.row_group(0).column(c) for c in range(metadata.num_columns)]
    assert {c.compression for c in columns} == {"ZSTD"}
    assert {c.path_in_schema for c in columns if c.bloom_filter_offset is not None} == {"user_id"}
    (sorting,) = metadata.row_group(0).sorting_columns
    assert metadata.schema.column(sorting.column_index).name == "_offset"
    assert pq.read_table(path)["_offset"].to_pylist() == list(range(2_500))
    assert pq.read_table(path).schema.field("price").type == pa.decimal128(18, 2)


def test_files_with_different_columns_are_unified_by_name_missing_ones_null(tmp_path):
    land(tmp_path, 0, 9)
    land(tmp_path, 10, 19, coupon_code=[f"c{n}" for n in range(10)], extra=list(range(10)))
    land(tmp_path, 20, 29, extra=[f"x{n}" for n in range(10)])
    commit(tmp_path, 30)

    compact_now(tmp_path)

    (path,) = event_date_dir(tmp_path, DAY).glob("*.parquet")
    table = pq.read_table(path)
    assert table.num_rows == 30
    assert (
        table["coupon_code"].to_pylist() == [None] * 10 + [f"c{n}" for n in range(10)] + [None] * 10
    )
    # One column with two JSON types: stored as JSON text, as the loader does within a flush.
    assert table.schema.field("extra").type == pa.string()
    assert table["extra"].to_pylist() == [None] * 10 + [str(n) for n in range(10)] + [
        f"x{n}" for n in range(10)
    ]


def test_merges_stay_near_the_target_size_and_large_files_break_a_run(tmp_path):
    small = [land(tmp_path, first, first + 99) for first in range(0, 1_000, 100)]
    size = small[0].stat().st_size
    large = land(tmp_path, 1_000, 9_999)  # already larger than the target
    tail = [land(tmp_path, first, first + 99) for first in range(10_000, 10_300, 100)]
    commit(tmp_path, 10_300)
    config = CompactionConfig(target_bytes=size * 4, row_group_size=1_000)

    plan = plan_compaction(tmp_path, config)
    apply_compaction(plan, config)

    assert all(m.input_bytes <= size * 4 for m in plan.merges)
    assert all(large.name not in [f.name for f in m.inputs] for m in plan.merges)
    assert all(m.inputs[-1].last < 1_000 or m.inputs[0].first > 9_999 for m in plan.merges)
    assert sum(len(m.inputs) for m in plan.merges) == len(small) + len(tail)
    assert raw_rows(tmp_path) == offsets(0, 10_299)
    ranges = [layout.parse_data_file_name(n)[2:] for n in data_files(tmp_path)]
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    assert large.exists()


def test_date_option_limits_compaction_to_those_partitions(tmp_path):
    other = DAY + timedelta(days=1)
    for first in (0, 10):
        land(tmp_path, first, first + 9)
        land(tmp_path, first + 20, first + 29, day=other)
    commit(tmp_path, 40)

    compact_now(tmp_path, CompactionConfig(dates=(other,)))

    assert sorted(p.name for p in event_date_dir(tmp_path, DAY).glob("*.parquet")) == [
        data_file_name(TOPIC, 0, 0, 9),
        data_file_name(TOPIC, 0, 10, 19),
    ]
    assert [p.name for p in event_date_dir(tmp_path, other).glob("*.parquet")] == [
        data_file_name(TOPIC, 0, 20, 39)
    ]


def test_in_a_bucket_small_objects_become_one_per_partition_and_date_and_go(
    s3_lake, tmp_path, monkeypatch
):
    """One PUT of the merged object, then a DELETE of each input; the merge is staged in a
    local file that is removed, and the bucket never holds a temporary object."""
    for first in range(0, 60, 10):
        land_key(s3_lake, first, first + 9)
    land_key(s3_lake, 0, 4, partition=1)
    land_key(s3_lake, 5, 9, partition=1)
    later = DAY + timedelta(days=1)
    land_key(s3_lake, 60, 69, day=later)
    land_key(s3_lake, 70, 79, day=later)
    commit(s3_lake, 80)
    commit(s3_lake, 10, partition=1)
    before = raw_rows(s3_lake)
    staging = tmp_path / "staging"
    staging.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(staging))

    _, result = compact(s3_lake, BIG, apply=True)

    merged = layout.event_date_key(DAY, data_file_name(TOPIC, 0, 0, 59))
    assert listed(s3_lake) == [
        merged,
        layout.event_date_key(DAY, data_file_name(TOPIC, 1, 0, 9)),
        layout.event_date_key(later, data_file_name(TOPIC, 0, 60, 79)),
    ]
    assert raw_rows(s3_lake) == before == offsets(0, 79) + offsets(0, 9, partition=1)
    assert (result.files_before, result.files_after, result.merges, result.rows_merged) == (
        10,
        3,
        3,
        90,
    )
    storage = lake_storage(s3_lake)
    stored = storage.list_files("", hidden=True)
    assert result.bytes_after == sum(i.size for i in stored if i.path.endswith(".parquet"))
    assert not [i.path for i in stored if i.path.endswith(layout.TMP_SUFFIX)]
    assert not [p for p in staging.iterdir() if p.is_file()], "the staging file is removed"
    with storage.fs.open_input_file(merged) as source:
        parquet = pq.ParquetFile(source)
        assert parquet.read()["_offset"].to_pylist() == list(range(60))
        (sorting,) = parquet.metadata.row_group(0).sorting_columns
        assert parquet.metadata.schema.column(sorting.column_index).name == "_offset"
    summary = lake_summary(s3_lake)
    assert (summary["rows landed"], summary["files"]) == (90, 3)


# -- exactly once with the loader ------------------------------------------------------------------


def test_pending_files_of_an_uncommitted_flush_are_left_untouched(tmp_path):
    land(tmp_path, 0, 9)
    land(tmp_path, 10, 19)
    pending = [land(tmp_path, 20, 29), land(tmp_path, 20, 29, day=DAY + timedelta(days=1))]
    pending.append(land(tmp_path, 30, 39))  # a pending name below next_offset: still untouched
    commit(tmp_path, 40, pending=pending)
    before = {p: p.read_bytes() for p in pending}

    compact_now(tmp_path)

    assert {p: p.read_bytes() for p in pending} == before
    assert data_file_name(TOPIC, 0, 0, 19) in data_files(tmp_path)
    assert len(data_files(tmp_path)) == 4


def test_files_at_or_after_next_offset_and_partitions_without_checkpoint_are_untouched(tmp_path):
    land(tmp_path, 0, 9)
    land(tmp_path, 10, 19)
    straddling = land(tmp_path, 20, 29)
    after = land(tmp_path, 30, 39)
    unknown = [land(tmp_path, 0, 9, partition=2), land(tmp_path, 10, 19, partition=2)]
    commit(tmp_path, 25)
    before = {p: p.read_bytes() for p in [straddling, after, *unknown]}

    compact_now(tmp_path)

    assert {p: p.read_bytes() for p in before} == before
    assert data_file_name(TOPIC, 0, 0, 19) in data_files(tmp_path)
    assert len(data_files(tmp_path)) == 5


def test_crash_between_publishing_and_deleting_the_inputs_is_read_once_and_healed(
    lake_dir, monkeypatch
):
    """The merged file is in place (renamed on disk, PUT on a bucket) and its five inputs are
    not deleted yet: a reader applying the rule reads each row once, the next run deletes
    them."""
    for first in range(0, 50, 10):
        land_key(lake_dir, first, first + 9)
    commit(lake_dir, 50)

    def crash(*_):
        raise KeyboardInterrupt("killed after publishing the merged file")

    with monkeypatch.context() as patch:
        patch.setattr(compaction, "_delete", crash)
        with pytest.raises(KeyboardInterrupt):
            compact_now(lake_dir)
    assert len(data_files(lake_dir)) == 6, "the merged file and its five inputs"
    assert len(raw_rows(lake_dir)) == 100, "a reader without the rule sees every row twice"
    assert readable_rows(lake_dir) == offsets(0, 49)
    assert lake_summary(lake_dir)["rows landed"] == 50
    assert lake_summary(lake_dir)["files"] == 1

    plan = plan_compaction(lake_dir, BIG)
    assert len(plan.covered) == 5 and plan.merges == ()
    assert {cover.name for _, cover in plan.covered} == {data_file_name(TOPIC, 0, 0, 49)}
    compact_now(lake_dir)

    assert data_files(lake_dir) == [data_file_name(TOPIC, 0, 0, 49)]
    assert raw_rows(lake_dir) == offsets(0, 49)
    land_key(lake_dir, 50, 59)
    commit(lake_dir, 60)
    compact_now(lake_dir)
    assert data_files(lake_dir) == [data_file_name(TOPIC, 0, 0, 59)]
    assert raw_rows(lake_dir) == offsets(0, 59)


def test_temporary_file_of_a_merge_killed_before_its_rename_is_removed(tmp_path):
    land(tmp_path, 0, 9)
    land(tmp_path, 10, 19)
    loader_tmp = layout.tmp_path(event_date_dir(tmp_path, DAY) / data_file_name(TOPIC, 0, 20, 29))
    loader_tmp.write_bytes(b"PAR1 a flush in progress")
    killed = layout.tmp_path(event_date_dir(tmp_path, DAY) / data_file_name(TOPIC, 0, 0, 19))
    killed.write_bytes(b"PAR1 half a merge")
    commit(tmp_path, 20)

    compact_now(tmp_path)

    assert not killed.exists()
    assert loader_tmp.exists(), "the loader's own temporary file is not compaction's to remove"
    assert raw_rows(tmp_path) == offsets(0, 19)


def test_a_merged_file_with_the_wrong_row_count_is_never_renamed_into_place(tmp_path, monkeypatch):
    for first in range(0, 30, 10):
        land(tmp_path, first, first + 9)
    commit(tmp_path, 30)
    before = snapshot(tmp_path)
    plan = plan_compaction(tmp_path, BIG)
    footer_rows = compaction.footer_rows

    def one_row_lost(path: Path) -> int:
        return footer_rows(path) - (path.name.endswith(layout.TMP_SUFFIX))

    monkeypatch.setattr(compaction, "footer_rows", one_row_lost)
    with pytest.raises(LakeError, match="expected 30 rows .* wrote 29; inputs kept"):
        apply_compaction(plan, BIG)

    assert snapshot(tmp_path) == before


def test_inputs_that_changed_since_the_plan_are_not_merged(tmp_path):
    for first in range(0, 30, 10):
        land(tmp_path, first, first + 9)
    commit(tmp_path, 30)
    plan = plan_compaction(tmp_path, BIG)
    stale = replace(plan, merges=(replace(plan.merges[0], rows=31),))
    before = snapshot(tmp_path)

    with pytest.raises(LakeError, match="31 rows as planned, found 30"):
        apply_compaction(stale, BIG)

    assert snapshot(tmp_path) == before


def test_dry_run_changes_nothing(tmp_path):
    for first in range(0, 50, 10):
        land(tmp_path, first, first + 9)
    commit(tmp_path, 50)
    before = snapshot(tmp_path)

    plan, result = compact(tmp_path, BIG)

    assert result is None
    assert len(plan.merges) == 1 and plan.files_after == 1
    assert snapshot(tmp_path) == before


def test_loader_recovery_after_compaction_replays_the_uncommitted_flush_once(lake_dir):
    land_key(lake_dir, 0, 9)
    land_key(lake_dir, 10, 19)
    crashed = [land_key(lake_dir, 20, 29), land_key(lake_dir, 20, 29, day=DAY + timedelta(days=1))]
    commit(lake_dir, 20, pending=crashed)
    storage = lake_storage(lake_dir)

    compact_now(lake_dir)
    assert layout.recover_partition(lake_dir, TOPIC, 0) == 20

    assert not any(storage.exists(p) for p in crashed)
    assert listed(lake_dir) == [layout.event_date_key(DAY, data_file_name(TOPIC, 0, 0, 19))]
    assert raw_rows(lake_dir) == offsets(0, 19)
    for first, last in ((20, 24), (25, 29)):  # the replay cuts its files elsewhere
        key = layout.event_date_key(DAY, data_file_name(TOPIC, 0, first, last))
        commit(lake_dir, first, pending=[key])
        land_key(lake_dir, first, last)
        commit(lake_dir, last + 1)
    compact_now(lake_dir)

    assert data_files(lake_dir) == [data_file_name(TOPIC, 0, 0, 29)]
    assert raw_rows(lake_dir) == offsets(0, 29)


@pytest.mark.broker
@pytest.mark.slow
def test_real_loader_restarts_after_compaction_and_lands_each_event_once(settings):
    from tests.support import events, produce

    config = LoaderConfig(batch_size=200, rotate_records=150)
    produce(settings, events(2_000, days=2))
    Loader(settings, config).run(once=True)
    files_before = len(list(settings.lake_dir.glob("raw/events/*/*.parquet")))

    compact_now(settings.lake_dir)
    produce(settings, events(1_000, start=2_000, days=2))
    Loader(settings, config).run(once=True)
    compact_now(settings.lake_dir)

    rows = duckdb.sql(
        f"select event_id, _partition, _offset from read_parquet("
        f"'{settings.lake_dir}/raw/events/*/*.parquet', union_by_name = true)"
    ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(f"evt-{n:09d}" for n in range(3_000))
    assert len({(p, o) for _, p, o in rows}) == 3_000
    files_after = list(settings.lake_dir.glob("raw/events/*/*.parquet"))
    assert len(files_after) <= 2 * 4 < files_before  # one per (date, partition)
    assert list(settings.lake_dir.rglob(".*.tmp")) == []


# -- configuration and the command line ------------------------------------------------------------


@pytest.mark.parametrize("options", [{"target_bytes": 0}, {"min_files": 1}, {"row_group_size": 0}])
def test_config_rejects_nonsense(options):
    with pytest.raises(ConfigError):
        CompactionConfig(**options)


def test_cli_is_a_dry_run_unless_apply(lake_dir, tmp_path):
    for first in range(0, 30, 10):
        land_key(lake_dir, first, first + 9)
    commit(lake_dir, 30)
    before = snapshot(lake_dir)
    env = {
        "EVENTLAKE_LAKE_DIR": str(lake_dir),
        "EVENTLAKE_CATALOG": f"sqlite:{tmp_path / 'lakehouse.sqlite'}",
    }
    assert Settings.from_env(env).lake_dir == lake_dir

    dry = CliRunner().invoke(cli, ["compact"], env=env)
    assert dry.exit_code == 0, dry.output
    assert f"event_date={DAY}: 3 files" in dry.output
    assert "dry run: 3 files would become 1" in dry.output
    assert "lakehouse: no catalog at sqlite:" in dry.output  # nothing built: none created
    assert snapshot(lake_dir) == before

    applied = CliRunner().invoke(cli, ["compact", "--apply", "--target-mb", "16"], env=env)
    assert applied.exit_code == 0, applied.output
    assert "files 3 -> 1" in applied.output
    assert data_files(lake_dir) == [data_file_name(TOPIC, 0, 0, 29)]


# -- the lakehouse: DuckLake's merge, snapshot expiry and cleanup ----------------------------------

NOW = datetime.now(UTC)
WEEK = MaintenanceConfig(snapshot_retention_days=7, cleanup_grace_hours=1)


@pytest.fixture(params=["sqlite", "postgres"])
def lakehouse(request, tmp_path: Path) -> tuple[str, Path]:
    """(catalog, lake) of a DuckLake lakehouse with build.fct_events partitioned by date."""
    if request.param == "sqlite":
        catalog = f"sqlite:{tmp_path / 'lakehouse.sqlite'}"
    else:
        catalog = request.getfixturevalue("postgres_catalog")
    lake_dir = tmp_path / "lake"
    run(
        (catalog, lake_dir),
        "create schema build",
        "create table build.fct_events (event_date date, event_id varchar, price integer)",
        "alter table build.fct_events set partitioned by (event_date)",
        "create schema control",
        "create table control.model_watermarks (model_name varchar, upstream_name varchar, "
        "consumed_through timestamp with time zone, updated_at timestamp with time zone)",
    )
    return catalog, lake_dir


def run(lakehouse: tuple[str, Path], *statements: str) -> int:
    """Each statement in its own commit; returns the latest snapshot id."""
    with connect(*lakehouse) as connection:
        for statement in statements:
            connection.execute(statement)
        return connection.execute("select max(snapshot_id) from snapshots()").fetchone()[0]


def read(lakehouse: tuple[str, Path], sql: str) -> list[tuple]:
    with connect(*lakehouse, read_only=True) as connection:
        return connection.execute(sql).fetchall()


def append(lakehouse: tuple[str, Path], batch: int, days=(DAY, DAY + timedelta(days=1))) -> int:
    """One build's append: 10 events a day, a file per date."""
    values = ", ".join(
        f"(date '{day}', 'evt-{batch}-{day}-{n}', {n})" for day in days for n in range(10)
    )
    return run(lakehouse, f"insert into build.fct_events values {values}")


def publish(lakehouse: tuple[str, Path], version: int) -> None:
    run(
        lakehouse,
        "create or replace view main.fct_events as "
        f"select * from build.fct_events at (version => {version})",
    )


def disk_files(lakehouse: tuple[str, Path]) -> set[str]:
    return {str(p) for p in (lakehouse[1] / "curated" / "build").rglob("*.parquet")}


ANSWERS = (
    "select event_date, count(*), sum(price), count(distinct event_id) from {} group by 1 "
    "order by 1"
)


@pytest.mark.slow
def test_merge_leaves_a_file_per_partition_and_every_answer_and_snapshot_as_it_was(lakehouse):
    first = append(lakehouse, 1)
    for batch in (2, 3):
        latest = append(lakehouse, batch)
    publish(lakehouse, latest)
    before = disk_files(lakehouse)
    answers = read(lakehouse, ANSWERS.format("main.fct_events"))
    travelled = read(lakehouse, ANSWERS.format(f"build.fct_events at (version => {first})"))
    since = "select count(*) from ducklake_table_insertions('lakehouse', 'build', 'fct_events', "
    inserted = read(lakehouse, f"{since}{first + 1}, {latest})")
    assert len(before) == 6

    report = maintain(*lakehouse, NOW, WEEK, apply=True)

    assert (report.merged.files_in, report.merged.files_out) == (6, 2)
    assert read(lakehouse, ANSWERS.format("main.fct_events")) == answers
    assert read(lakehouse, ANSWERS.format("build.fct_events")) == answers
    assert read(lakehouse, ANSWERS.format(f"build.fct_events at (version => {first})")) == (
        travelled
    )
    assert read(lakehouse, f"{since}{first + 1}, {latest})") == inserted == [(40,)]
    # Released today: kept through the grace, for the queries still reading them.
    assert report.files_deleted == 0 and before < disk_files(lakehouse)

    later = maintain(*lakehouse, NOW + timedelta(days=2), WEEK, merge=False, apply=True)

    assert later.files_deleted == 6
    assert len(disk_files(lakehouse)) == 2 and not before & disk_files(lakehouse)
    assert read(lakehouse, ANSWERS.format("main.fct_events")) == answers


@pytest.mark.slow
def test_expiry_keeps_the_published_snapshot_and_cleans_what_only_expired_ones_held(lakehouse):
    append(lakehouse, 1, days=[DAY])
    published = append(lakehouse, 2, days=[DAY + timedelta(days=1)])
    publish(lakehouse, published)
    run(lakehouse, f"delete from build.fct_events where event_date = date '{DAY}'")
    expired_file = {f for f in disk_files(lakehouse) if f"event_date={DAY}" in f}
    answers = read(lakehouse, ANSWERS.format("main.fct_events"))

    held = maintain(*lakehouse, NOW + timedelta(days=30), WEEK, apply=True)

    assert held.plan.kept_from == published and held.plan.held_by == "the published views"
    assert held.plan.snapshots and max(held.plan.snapshots) < published
    assert expired_file <= disk_files(lakehouse)  # the published snapshot still reads it
    assert read(lakehouse, ANSWERS.format("main.fct_events")) == answers

    publish(lakehouse, run(lakehouse))  # the next publication moves on
    done = maintain(*lakehouse, NOW + timedelta(days=30), WEEK, apply=True)

    assert done.files_deleted >= 1 and not expired_file & disk_files(lakehouse)
    assert read(lakehouse, ANSWERS.format("main.fct_events")) == answers[1:]


@pytest.mark.slow
def test_expiry_keeps_the_snapshot_a_models_watermark_reads_changes_from(lakehouse):
    consumed = (
        "insert into control.model_watermarks values "
        "('agg_events_daily', 'fct_events', now(), now())"
    )
    run(lakehouse, consumed)  # an earlier build's row: the newest row is the watermark
    append(lakehouse, 1)
    watermark_snapshot = run(lakehouse, consumed)
    append(lakehouse, 2)

    report = maintain(*lakehouse, NOW + timedelta(days=30), WEEK, apply=True)

    assert report.plan.kept_from == watermark_snapshot - 1  # in effect at the watermark
    assert report.plan.held_by == "the watermark of agg_events_daily <- fct_events"
    (since,) = read(lakehouse, "select max(consumed_through) from control.model_watermarks")
    changes = read(
        lakehouse,
        "select count(*) from ducklake_table_changes('lakehouse', 'build', 'fct_events', "
        f"cast('{since[0].isoformat()}' as timestamp with time zone), now())",
    )
    assert changes == [(20,)]  # batch 2, still seen as new by the model


@pytest.mark.slow
def test_maintenance_dry_run_changes_nothing(lakehouse):
    for batch in (1, 2):
        append(lakehouse, batch)
    before = disk_files(lakehouse)
    snapshots = read(lakehouse, "select snapshot_id from snapshots()")

    report = maintain(*lakehouse, NOW + timedelta(days=30), WEEK)

    assert report.merged is None and report.files_deleted is None
    assert report.plan.snapshots and set(report.plan.snapshots) < {s for (s,) in snapshots}
    assert disk_files(lakehouse) == before
    assert read(lakehouse, "select snapshot_id from snapshots()") == snapshots


def test_cleanup_instant_is_the_last_instant_of_a_utc_day_at_least_the_grace_ago():
    hour = timedelta(hours=1)
    assert cleanup_instant(datetime(2026, 3, 14, 12, tzinfo=UTC), hour) == datetime(
        2026, 3, 13, 23, 59, 59, 999999, tzinfo=UTC
    )
    assert cleanup_instant(datetime(2026, 3, 14, 0, 30, tzinfo=UTC), hour) == datetime(
        2026, 3, 12, 23, 59, 59, 999999, tzinfo=UTC
    )
    assert cleanup_instant(datetime(2026, 3, 14, 12, tzinfo=UTC), timedelta()) is None
    config = MaintenanceConfig.from_env({"EVENTLAKE_SNAPSHOT_RETENTION_DAYS": "30"})
    assert (config.snapshot_retention_days, config.cleanup_grace_hours) == (30, 1)
    with pytest.raises(ConfigError, match="erasure window"):
        MaintenanceConfig(snapshot_retention_days=31)
