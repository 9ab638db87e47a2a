"""The lake's primitives on a temporary folder: atomic Parquet writes, file names, checkpoints."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventlake.lake.layout import (
    RAW_EVENTS,
    Checkpoint,
    checkpoint_path,
    data_file_name,
    event_date_dir,
    read_checkpoint,
    recover_partition,
    write_checkpoint,
    write_parquet_atomic,
)
from eventlake.lake.layout import tmp_path as hidden_twin

TOPIC = "events"


def rows(count: int, seed: int = 7) -> pa.Table:
    """Events in shuffled order, as a flush buffers them."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return pa.table(
        {
            "event_id": [f"evt-{n:09d}" for n in order],
            "user_id": [f"user-{n % 97}" for n in order],
            "_offset": pa.array(order, pa.int64()),
        }
    )


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def data_file(lake: Path, first: int, last: int, partition: int = 0) -> Path:
    folder = event_date_dir(lake, date(2026, 3, 14))
    return folder / data_file_name(TOPIC, partition, first, last)


# -- write_parquet_atomic --------------------------------------------------------------------------


def test_atomic_write_leaves_only_the_final_file_and_returns_its_size(tmp_path):
    path = data_file(tmp_path, 0, 999)

    size = write_parquet_atomic(rows(1_000), path, row_group_size=1_000)

    assert files_under(tmp_path) == [str(path.relative_to(tmp_path))]
    assert size == path.stat().st_size > 0
    assert pq.read_table(path).num_rows == 1_000


def test_atomic_write_compresses_every_column_with_zstd(tmp_path):
    path = data_file(tmp_path, 0, 999)

    write_parquet_atomic(rows(1_000), path, row_group_size=300)

    metadata = pq.ParquetFile(path).metadata
    compressions = {
        metadata.row_group(g).column(c).compression
        for g in range(metadata.num_row_groups)
        for c in range(metadata.num_columns)
    }
    assert compressions == {"ZSTD"}


def test_atomic_write_sorts_rows_and_records_the_sort_order(tmp_path):
    path = data_file(tmp_path, 0, 999)
    sort_by = [("user_id", "ascending"), ("_offset", "ascending")]

    write_parquet_atomic(rows(1_000), path, row_group_size=250, sort_by=sort_by)

    landed = pq.read_table(path)
    pairs = list(zip(landed["user_id"].to_pylist(), landed["_offset"].to_pylist(), strict=True))
    assert pairs == sorted(pairs)
    sorting = pq.ParquetFile(path).metadata.row_group(0).sorting_columns
    assert [(s.column_index, s.descending) for s in sorting] == [(1, False), (2, False)]


def test_atomic_write_without_sort_by_keeps_the_given_order(tmp_path):
    path = data_file(tmp_path, 0, 999)
    table = rows(1_000)

    write_parquet_atomic(table, path, row_group_size=1_000)

    assert pq.read_table(path)["_offset"].to_pylist() == table["_offset"].to_pylist()


def test_atomic_write_cuts_row_groups_of_the_requested_size(tmp_path):
    path = data_file(tmp_path, 0, 2_499)

    write_parquet_atomic(rows(2_500), path, row_group_size=1_000)

    metadata = pq.ParquetFile(path).metadata
    sizes = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]
    assert sizes == [1_000, 1_000, 500]


def test_atomic_write_puts_bloom_filters_on_the_requested_columns_only(tmp_path):
    path = data_file(tmp_path, 0, 1_999)

    write_parquet_atomic(
        rows(2_000), path, row_group_size=1_000, bloom_filter_columns=("user_id", "event_id")
    )

    metadata = pq.ParquetFile(path).metadata
    for group in range(metadata.num_row_groups):
        columns = [metadata.row_group(group).column(c) for c in range(metadata.num_columns)]
        with_bloom = {
            column.path_in_schema
            for column in columns
            if column.bloom_filter_offset is not None and column.bloom_filter_length
        }
        assert with_bloom == {"user_id", "event_id"}
    assert bloom_excludes(path, "user_id", "user-nobody") == [True, True]
    assert bloom_excludes(path, "user_id", "user-5") == [False, False]


def bloom_excludes(path: Path, column: str, value: str) -> list[bool]:
    """Per row group: does the column's bloom filter rule the value out (DuckDB reads it)?"""
    return [
        excluded
        for (excluded,) in duckdb.execute(
            "select bloom_filter_excludes from parquet_bloom_probe(?, ?, ?) order by row_group_id",
            [str(path), column, value],
        ).fetchall()
    ]


def test_atomic_write_ignores_bloom_filter_columns_the_table_lacks(tmp_path):
    path = data_file(tmp_path, 0, 99)

    write_parquet_atomic(rows(100), path, row_group_size=100, bloom_filter_columns=("country",))

    column = pq.ParquetFile(path).metadata.row_group(0).column(0)
    assert column.bloom_filter_offset is None
    assert pq.read_table(path).num_rows == 100


def _crash_mid_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """pq.write_table puts some bytes on disk and then the process 'dies'."""

    def write_then_die(table, where, **options):
        where.write(b"PAR1 half a file")
        raise OSError("simulated crash while writing")

    monkeypatch.setattr(pq, "write_table", write_then_die)


def test_crash_mid_write_never_shows_a_half_written_file_under_the_final_name(
    tmp_path, monkeypatch
):
    path = data_file(tmp_path, 0, 999)
    _crash_mid_write(monkeypatch)

    with pytest.raises(OSError, match="simulated crash"):
        write_parquet_atomic(rows(1_000), path, row_group_size=1_000)

    assert not path.exists()
    assert list(tmp_path.rglob("*.parquet")) == [], "a reader's glob would see a partial file"


def test_crash_mid_rewrite_keeps_the_previous_file_intact(tmp_path, monkeypatch):
    path = data_file(tmp_path, 0, 999)
    write_parquet_atomic(rows(1_000), path, row_group_size=1_000)
    before = path.read_bytes()
    _crash_mid_write(monkeypatch)

    with pytest.raises(OSError, match="simulated crash"):
        write_parquet_atomic(rows(1_000, seed=8), path, row_group_size=1_000)

    assert path.read_bytes() == before
    assert pq.read_table(path).num_rows == 1_000


def test_event_date_dir_is_a_hive_partition_under_raw_events(tmp_path):
    folder = event_date_dir(tmp_path, date(2026, 3, 4))

    assert folder == tmp_path / RAW_EVENTS / "event_date=2026-03-04"


# -- data file names -------------------------------------------------------------------------------


def test_data_file_names_sort_like_their_partitions_and_offsets():
    ranges = [
        (0, 0, 9),
        (0, 10, 99),
        (0, 100, 1_999),
        (0, 2_000, 2_000),
        (0, 10**12, 10**12 + 5),
        (1, 0, 5),
        (12, 7, 8),
        (100, 3, 4),
    ]
    names = [data_file_name(TOPIC, *r) for r in ranges]

    shuffled = names[:]
    random.Random(3).shuffle(shuffled)

    assert sorted(shuffled) == names


@pytest.mark.parametrize("topic", ["events", "shop.events-v2_eu", "a"])
def test_data_file_name_splits_back_into_topic_partition_and_offsets(topic):
    name = data_file_name(topic, 7, 123, 9_223_372_036_854_775_806)

    assert name.endswith(".parquet")
    parts = name.removesuffix(".parquet").split("+")
    assert parts[0] == topic
    assert [int(p) for p in parts[1:]] == [7, 123, 9_223_372_036_854_775_806]


# -- checkpoints and recovery ----------------------------------------------------------------------


def test_checkpoint_round_trips(tmp_path):
    pending = [
        "raw/events/event_date=2026-03-14/events+00003+00000000000000000010+00000000000000000019.parquet"
    ]
    write_checkpoint(tmp_path, TOPIC, 3, Checkpoint(next_offset=10, pending=pending))

    assert read_checkpoint(tmp_path, TOPIC, 3) == Checkpoint(next_offset=10, pending=pending)
    assert read_checkpoint(tmp_path, TOPIC, 4) == Checkpoint()


def test_checkpoint_write_leaves_no_temporary_file(tmp_path):
    write_checkpoint(tmp_path, TOPIC, 0, Checkpoint(next_offset=5))
    write_checkpoint(tmp_path, TOPIC, 0, Checkpoint(next_offset=9))

    assert files_under(tmp_path) == [str(checkpoint_path(tmp_path, TOPIC, 0).relative_to(tmp_path))]
    assert read_checkpoint(tmp_path, TOPIC, 0).next_offset == 9


def test_missing_checkpoint_reads_as_nothing_landed(tmp_path):
    assert read_checkpoint(tmp_path, TOPIC, 0) == Checkpoint(next_offset=None, pending=[])


def test_recover_partition_without_checkpoint_returns_none_and_writes_nothing(tmp_path):
    assert recover_partition(tmp_path, TOPIC, 0) is None
    assert files_under(tmp_path) == []


def test_recover_partition_removes_pending_files_and_their_tmp_twins_only(tmp_path):
    committed = data_file(tmp_path, 0, 99)
    committed_elsewhere = data_file(tmp_path, 0, 49, partition=1)
    pending_done = data_file(tmp_path, 100, 199)
    pending_half = data_file(tmp_path, 200, 299)
    for path in (committed, committed_elsewhere, pending_done):
        write_parquet_atomic(rows(10), path, row_group_size=10)
    tmp_path_half = hidden_twin(pending_half)
    tmp_path_half.write_bytes(b"PAR1 half a file")
    hidden_twin(pending_done).write_bytes(b"PAR1 stale")
    pending = [str(p.relative_to(tmp_path)) for p in (pending_done, pending_half)]
    write_checkpoint(tmp_path, TOPIC, 0, Checkpoint(next_offset=100, pending=pending))

    next_offset = recover_partition(tmp_path, TOPIC, 0)

    assert next_offset == 100
    assert not pending_done.exists()
    assert not hidden_twin(pending_done).exists()
    assert not tmp_path_half.exists()
    assert pq.read_table(committed).num_rows == 10
    assert pq.read_table(committed_elsewhere).num_rows == 10
    assert read_checkpoint(tmp_path, TOPIC, 0) == Checkpoint(next_offset=100, pending=[])


def test_recover_partition_tolerates_pending_files_never_written(tmp_path):
    never_written = data_file(tmp_path, 0, 99)
    pending = [str(never_written.relative_to(tmp_path))]
    write_checkpoint(tmp_path, TOPIC, 2, Checkpoint(next_offset=None, pending=pending))

    assert recover_partition(tmp_path, TOPIC, 2) is None
    assert read_checkpoint(tmp_path, TOPIC, 2) == Checkpoint(next_offset=None, pending=[])


def test_recover_partition_with_nothing_pending_changes_nothing(tmp_path):
    committed = data_file(tmp_path, 0, 99)
    write_parquet_atomic(rows(10), committed, row_group_size=10)
    write_checkpoint(tmp_path, TOPIC, 0, Checkpoint(next_offset=100))
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}

    assert recover_partition(tmp_path, TOPIC, 0) == 100
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == before


def test_recovery_after_a_crashed_write_leaves_no_trace_of_the_flush(tmp_path, monkeypatch):
    committed = data_file(tmp_path, 0, 99)
    write_parquet_atomic(rows(10), committed, row_group_size=10)
    crashed = data_file(tmp_path, 100, 199)
    write_checkpoint(
        tmp_path,
        TOPIC,
        0,
        Checkpoint(next_offset=100, pending=[str(crashed.relative_to(tmp_path))]),
    )
    with monkeypatch.context() as patch:
        _crash_mid_write(patch)
        with pytest.raises(OSError, match="simulated crash"):
            write_parquet_atomic(rows(10), crashed, row_group_size=10)

    assert recover_partition(tmp_path, TOPIC, 0) == 100

    assert files_under(tmp_path) == sorted(
        [
            str(committed.relative_to(tmp_path)),
            str(checkpoint_path(tmp_path, TOPIC, 0).relative_to(tmp_path)),
        ]
    )
