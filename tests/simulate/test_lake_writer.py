"""The raw lake written straight from the generator looks, file for file, like the loader's."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventlake.config import LoaderConfig, Settings
from eventlake.exceptions import ConfigError, LakeError
from eventlake.ingest.decode import Limits, RawBatch
from eventlake.lake import layout
from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.lake_writer import lake_state, raw_schema, write_raw_lake
from eventlake.simulate.sessions import generate, ground_truth

TOPIC = "events"
START = date(2025, 3, 1)
CLOCK = datetime(2025, 6, 1, tzinfo=UTC)


def config(events: int = 6_000, **overrides: object) -> GeneratorConfig:
    settings = {"days": 3, "start_date": START, "chunk_size": 1_000, "seed": 7}
    return GeneratorConfig(events=events, **{**settings, **overrides})


def write(cfg: GeneratorConfig, lake_dir: Path, **options: object):
    return write_raw_lake(cfg, lake_dir, TOPIC, clock=lambda: CLOCK, **options)


def data_files(lake_dir: Path) -> list[Path]:
    return sorted((lake_dir / layout.RAW_EVENTS).glob("*/*.parquet"))


def read_lake(lake_dir: Path, query: str) -> list[tuple]:
    glob = str(lake_dir / layout.RAW_EVENTS / "*" / "*.parquet")
    source = f"read_parquet('{glob}', hive_partitioning = true, filename = true)"
    return duckdb.sql(query.replace("lake", source)).fetchall()


class _Idle:
    """Stands in for the Kafka clients: the reference lake is written without a broker."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def flush(self, *args: object) -> int:
        return 0

    def close(self) -> None:
        pass


def loader_lake(cfg: GeneratorConfig, lake_dir: Path) -> None:
    """The same events rendered as JSON, decoded and flushed by the real loader code."""
    from eventlake.ingest.loader import Loader

    messages = [m for chunk in generate(cfg) for m in chunk if m.kind == "valid"]
    batch = RawBatch(
        topic=TOPIC,
        partitions=[0] * len(messages),
        offsets=list(range(len(messages))),
        keys=[m.key for m in messages],
        values=[m.value for m in messages],
    )
    loader = Loader(Settings(topic=TOPIC, lake_dir=lake_dir), LoaderConfig())
    limits = Limits(CLOCK, timedelta(days=1), timedelta(days=3650))
    decoded = loader.decoder.decode(batch, limits)
    assert not decoded.rejects
    loader.land(0, 0, len(messages) - 1, decoded.table)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake the loader wrote; version 2 events, so coupon_code and referrer carry values."""
    lake_dir = tmp_path_factory.mktemp("loader") / "lake"
    mp = pytest.MonkeyPatch()
    mp.setattr("eventlake.ingest.loader.Consumer", _Idle)
    mp.setattr("eventlake.ingest.dlq.Producer", _Idle)
    try:
        loader_lake(config(schema_version=2, duplicate_fraction=0, malformed_fraction=0), lake_dir)
    finally:
        mp.undo()
    return lake_dir


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory):
    lake_dir = tmp_path_factory.mktemp("rawlake") / "lake"
    truth = write(config(schema_version=2), lake_dir, batch_events=2_500)
    return lake_dir, truth


def test_files_have_exactly_the_schema_the_loader_writes(reference, written):
    lake_dir, _ = written
    expected = pq.ParquetFile(data_files(reference)[0])
    for path in data_files(lake_dir):
        got = pq.ParquetFile(path)
        assert got.schema_arrow.equals(expected.schema_arrow, check_metadata=True)
        assert got.schema.equals(expected.schema)  # the Parquet physical and logical types
        assert got.schema_arrow.equals(raw_schema())
        sorting = got.metadata.row_group(0).sorting_columns
        assert sorting == expected.metadata.row_group(0).sorting_columns


def test_rows_equal_the_loaders_rows_of_the_same_events(reference, written):
    lake_dir, _ = written
    contract_columns = [f.name for f in raw_schema() if not f.name.startswith("_")]
    expected = pq.read_table(data_files(reference)).select(contract_columns)
    got = pa.concat_tables(pq.read_table(p) for p in data_files(lake_dir)).select(contract_columns)
    assert got.num_rows == expected.num_rows == 6_000
    assert got.sort_by("event_id").equals(expected.sort_by("event_id"))


def test_files_are_sorted_and_bloom_filtered_like_the_loaders(written):
    lake_dir, _ = written
    for path in data_files(lake_dir):
        table = pq.read_table(path)
        assert table.equals(table.sort_by([("event_time", "ascending"), ("event_id", "ascending")]))
    first = data_files(lake_dir)[0]
    user_id = pq.read_table(first)["user_id"][0].as_py()
    probe = f"select * from parquet_bloom_probe('{first}', 'user_id', '{user_id}')"
    assert duckdb.sql(probe).fetchall()  # a bloom filter to probe exists


def test_counts_per_day_type_and_country_equal_the_ground_truth(written):
    lake_dir, truth = written
    rows = read_lake(
        lake_dir,
        "select cast(event_date as varchar), event_type, country, count(*) from lake group by all",
    )
    assert {(d, t, c): n for d, t, c, n in rows} == truth.by_day_type_country
    assert sum(truth.by_day.values()) == truth.events == 6_000
    assert truth.late == 120
    assert truth.duplicates == truth.malformed == 0
    recount = ground_truth(config(schema_version=2, duplicate_fraction=0, malformed_fraction=0))
    assert truth == recount


def test_file_names_parse_back_to_the_offsets_they_hold(written):
    lake_dir, _ = written
    offsets: dict[int, list[int]] = {}
    for path in data_files(lake_dir):
        topic, partition, first, last = path.stem.split("+")
        table = pq.read_table(path, columns=["_topic", "_partition", "_offset"])
        assert table["_topic"].unique().to_pylist() == [topic]
        assert table["_partition"].unique().to_pylist() == [int(partition)]
        column = table["_offset"].to_pylist()
        assert (min(column), max(column)) == (int(first), int(last))
        assert len(column) == int(last) - int(first) + 1
        offsets.setdefault(int(partition), []).extend(column)
    assert sorted(offsets) == [0, 1, 2, 3]
    for partition, seen in offsets.items():
        assert sorted(seen) == list(range(len(seen)))  # every offset once, no gap
        checkpoint = layout.read_checkpoint(lake_dir, TOPIC, partition)
        assert checkpoint == layout.Checkpoint(len(seen), [])


def test_each_user_lands_in_one_partition(written):
    lake_dir, _ = written
    rows = read_lake(
        lake_dir, "select user_id from lake group by user_id having count(distinct _partition) > 1"
    )
    assert rows == []


def test_late_events_land_in_their_date_with_the_offsets_of_a_later_batch(written):
    lake_dir, _ = written
    # A partition's offsets grow with the batches; a file whose offsets come after those of a
    # newer date holds events that arrived late.
    rows = read_lake(
        lake_dir,
        """
        with files as (
            select _partition, event_date, filename, min(_offset) as first
            from lake group by all
        )
        select count(*) from files as older
        inner join files as newer
            on older._partition = newer._partition
            and older.event_date < newer.event_date
            and older.first > newer.first
        """,
    )
    assert rows[0][0] > 0


def test_append_adds_one_date_folder_and_continues_the_offsets(tmp_path):
    lake_dir = tmp_path / "lake"
    write(config(), lake_dir)
    before = {p: p.read_bytes() for p in data_files(lake_dir)}
    state = lake_state(lake_dir, TOPIC)

    truth = write(config(2_000, days=1, start_date=None), lake_dir, append=True)

    new_day = (START + timedelta(days=3)).isoformat()
    assert truth.by_day == {new_day: 2_000}
    after = data_files(lake_dir)
    assert all(p.read_bytes() == body for p, body in before.items())  # untouched
    added = [p for p in after if p not in before]
    assert {p.parent.name for p in added} == {f"event_date={new_day}"}
    for partition, next_offset in state.next_offsets.items():
        rows = read_lake(
            lake_dir,
            f"select min(_offset), max(_offset), count(*) from lake "
            f"where event_date = '{new_day}' and _partition = {partition}",
        )
        first, last, count = rows[0]
        assert first == next_offset and last - first + 1 == count
        checkpoint = layout.read_checkpoint(lake_dir, TOPIC, partition)
        assert checkpoint.next_offset == last + 1
    repeated = read_lake(
        lake_dir,
        f"""
        with added as (select event_id, session_id from lake where event_date = '{new_day}')
        select
            count(*) filter (where event_id in (select event_id from added)),
            count(*) filter (where session_id in (select session_id from added))
        from lake
        where event_date < '{new_day}'
        """,
    )
    assert repeated == [(0, 0)]  # the same seed, yet no event or session id comes back


def test_append_refuses_a_start_inside_the_lake_and_an_empty_lake(tmp_path):
    lake_dir = tmp_path / "lake"
    with pytest.raises(LakeError, match="append expects a lake"):
        write(config(), lake_dir, append=True)
    write(config(), lake_dir)
    with pytest.raises(ConfigError, match="must start after the lake's last date"):
        write(config(start_date=START + timedelta(days=2)), lake_dir, append=True)
    with pytest.raises(ConfigError, match="partitions"):
        write(config(days=1, start_date=None), lake_dir, partitions=2, append=True)


def test_writing_over_a_lake_that_holds_the_topic_is_refused(tmp_path):
    lake_dir = tmp_path / "lake"
    write(config(), lake_dir)
    with pytest.raises(LakeError, match="already holds topic"):
        write(config(), lake_dir)


def test_more_than_a_year_of_days_lands_one_folder_per_day(tmp_path):
    lake_dir = tmp_path / "lake"
    cfg = dataclasses.replace(config(40_000), days=400, start_date=date(2024, 1, 1))

    truth = write(cfg, lake_dir, partitions=2, batch_events=15_000)

    folders = {p.parent.name for p in data_files(lake_dir)}
    assert len(folders) == len(truth.by_day) == 400
    assert max(truth.by_day) == "2025-02-03"
    assert read_lake(lake_dir, "select count(*) from lake") == [(40_000,)]
