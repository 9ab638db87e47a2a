"""Erasure in the lake on real Parquet: every row of the subjects gone, nothing else touched."""

from __future__ import annotations

import os
import random
import shutil
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from eventlake.config import Settings
from eventlake.erasure.lake_rewrite import (
    ORPHAN_AFTER_SECONDS,
    LakeErasure,
    Subject,
    erase_from_lake,
)
from eventlake.erasure.subjects import subject_hash
from eventlake.ingest.dlq import Reject, quarantine_table
from eventlake.ingest.loader import BLOOM_FILTER_COLUMNS, SORT_KEYS
from eventlake.lake import layout
from eventlake.lake.storage import lake_storage
from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.lake_writer import write_raw_lake

KEY = Settings().subject_hash_key
ROW_GROUP = 8_192
"""Rows per row group of the test's raw files: most files hold several."""
START = date(2025, 3, 1)
CLOCK = datetime(2025, 6, 1, tzinfo=UTC)
RAW, FACTS, TRAINING, QUARANTINE = (
    "raw/events",
    "curated/fct_events",
    "curated/fct_training_events",
    "quarantine/events",
)


def reject(offset: int, key: str, value: bytes, reason: str) -> Reject:
    return Reject("events", 0, offset, key.encode(), value, [], reason, CLOCK)


def copy_sql(lake_dir: Path, select: str, folder: str) -> str:
    """A curated table as dbt's lake_partitions COPY writes it (Bloom filters on strings)."""
    raw = lake_dir / RAW / "*" / "*.parquet"
    return (
        f"copy (select {select} from read_parquet('{raw}', hive_partitioning = true) "
        f"order by event_time, event_id) to '{lake_dir / folder}' (format parquet, "
        "partition_by (event_date), compression zstd, row_group_size 20000, "
        "dictionary_size_limit 20000)"
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A lake with every kind of file erasure must search, and the users to erase from it.

    Raw files (several row groups), curated facts (user_id) and training rows (user_key) written
    by DuckDB COPY, two quarantine files (one holds a single subject's reject), retention's
    trash, a leftover staging folder, a loader's temporary file, two unreadable temporary files
    (a fresh one and a crash orphan) and a control-plane table that must not be touched.
    """
    lake_dir = tmp_path_factory.mktemp("erasure") / "lake"
    config = GeneratorConfig(events=200_000, days=3, start_date=START, seed=11, chunk_size=10_000)
    write_raw_lake(
        config, lake_dir, batch_events=60_000, row_group_size=ROW_GROUP, clock=lambda: CLOCK
    )
    (lake_dir / "curated").mkdir()
    with duckdb.connect() as connection:
        connection.execute(copy_sql(lake_dir, "*", FACTS))
        hashed = f"* exclude (user_id), sha256('{KEY}' || user_id) as user_key"
        connection.execute(copy_sql(lake_dir, hashed, TRAINING))
        users = sorted(
            u for (u,) in connection.sql(
                f"select distinct user_id from '{lake_dir / RAW}/*/*.parquet'"
            ).fetchall()
        )  # fmt: skip
    subjects = random.Random(5).sample(users, 6)
    a, b, c, d, _, _ = subjects
    bystander = next(u for u in users if u not in subjects)

    quarantine = lake_dir / QUARANTINE
    mixed = [
        reject(1, a, b'{"user_id":"' + a.encode() + b'", "price": ', "invalid_json: cut"),
        reject(2, bystander, b'{"user_id":"' + b.encode() + b'"}', "key_mismatch: other"),
        *(
            reject(3 + n, bystander, b'{"user_id":"x"}', "missing_field: event_id")
            for n in range(3)
        ),
    ]
    layout.write_parquet_atomic(quarantine_table(mixed), quarantine / "events+0+1+5.parquet",
                              row_group_size=1_000, sort_by=[("_offset", "ascending")])  # fmt: skip
    only = [reject(9, c, b"\xff\xfe not utf-8", "invalid_utf8: at byte 0")]
    layout.write_parquet_atomic(quarantine_table(only), quarantine / "events+0+9+9.parquet",
                              row_group_size=1_000, sort_by=[("_offset", "ascending")])  # fmt: skip

    holding_d = next(
        p for p in sorted((lake_dir / RAW).glob("*/*.parquet"))
        if d in pq.ParquetFile(p).read(columns=["user_id"])["user_id"].to_pylist()
    )  # fmt: skip
    trash = lake_dir / ".trash" / RAW / holding_d.parent.name
    trash.mkdir(parents=True)
    shutil.copy2(holding_d, trash / holding_d.name)
    staging = lake_dir / "curated" / ".staging" / "fct_events" / f"event_date={START}"
    staging.mkdir(parents=True)
    shutil.copy2(lake_dir / FACTS / f"event_date={START}" / "data_0.parquet", staging)

    raw = pq.ParquetFile(holding_d).read()
    in_flight = raw.filter(pc.is_in(raw["user_id"], pa.array([d, bystander])))
    first_day = lake_dir / RAW / f"event_date={START}"
    pq.write_table(in_flight, first_day / ".x.parquet.tmp")
    (first_day / ".fresh.parquet.tmp").write_bytes(b"PAR1 still being written")
    orphan = first_day / ".orphan.parquet.tmp"
    orphan.write_bytes(b"PAR1 cut short by a crash")
    old = CLOCK.timestamp() - ORPHAN_AFTER_SECONDS - 60
    os.utime(orphan, (old, old))

    control = lake_dir / "_control" / "erasure_requests.parquet"
    control.parent.mkdir()
    pq.write_table(pa.table({"request_id": ["r-a"], "user_id": [a]}), control)
    return lake_dir, subjects


@pytest.fixture
def lake_copy(built: tuple[Path, list[str]], tmp_path: Path) -> tuple[Path, list[str]]:
    source, subjects = built
    shutil.copytree(source, tmp_path / "lake", copy_function=shutil.copy2)
    return tmp_path / "lake", subjects


def requests_for(users: list[str]) -> list[Subject]:
    """One request per user, and a second request naming the first user again."""
    named = [Subject(f"r-{n}", u, subject_hash(u, KEY)) for n, u in enumerate(users)]
    return [*named, Subject("r-again", users[0], subject_hash(users[0], KEY))]


def parquet_files(lake_dir: Path) -> list[Path]:
    """Every data and temporary Parquet file, the control plane excepted."""
    return sorted(
        p for p in lake_dir.rglob("*")
        if p.is_file() and p.name.endswith((".parquet", ".parquet.tmp"))
        and "_control" not in p.parts
    )  # fmt: skip


def object_of(lake_dir: Path, path: Path) -> str:
    folders = path.relative_to(lake_dir).parts[:-1]
    cut = next((i for i, f in enumerate(folders) if f.startswith("event_date=")), len(folders))
    return "/".join(folders[:cut])


def holdings(lake_dir: Path, users: list[str]) -> dict[Path, Counter]:
    """Readable file -> rows per user it holds, by any column that names a person."""
    names = {u: u for u in users} | {subject_hash(u, KEY): u for u in users}
    found: dict[Path, Counter] = {}
    for path in parquet_files(lake_dir):
        try:
            table = pq.ParquetFile(path).read()
        except pa.ArrowInvalid:
            continue
        rows: dict[int, set[str]] = {}
        for column in table.itercolumns():
            if pa.types.is_string(column.type):
                found_at = pc.index_in(column, value_set=pa.array(list(names)))
                for row in pc.indices_nonzero(pc.is_valid(found_at)).to_pylist():
                    rows.setdefault(row, set()).add(names[column[row].as_py()])
            elif pa.types.is_binary(column.type):
                for user in users:
                    quoted = pc.match_substring(column, f'"{user}"')
                    named = pc.or_kleene(pc.equal(column, user.encode()), quoted)
                    for row in pc.indices_nonzero(pc.fill_null(named, False)).to_pylist():
                        rows.setdefault(row, set()).add(user)
        found[path] = Counter(u for named in rows.values() for u in named)
    return found


def per_user(lake_dir: Path, folder: str, column: str) -> Counter:
    glob = lake_dir / folder / "**" / "*.parquet"
    query = f"select {column}, count(*) from read_parquet('{glob}') group by 1"
    return Counter(dict(duckdb.sql(query).fetchall()))


def identities(lake_dir: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in lake_dir.rglob("*") if p.is_file()}


def counts(result: LakeErasure) -> dict[str, tuple]:
    return {
        name: (o.files_scanned, o.files_rewritten, o.files_removed, o.files_unreadable,
               o.rows_deleted, o.partitions)
        for name, o in result.objects.items()
    }  # fmt: skip


def test_erasure_removes_every_row_of_the_subjects_and_nothing_else(lake_copy):
    lake_dir, users = lake_copy
    absent = "u999999999"
    requests = requests_for([*users, absent])
    hashes = [subject_hash(u, KEY) for u in users]
    held = holdings(lake_dir, users)
    raw_before = per_user(lake_dir, RAW, "user_id")
    facts_before = per_user(lake_dir, FACTS, "user_id")
    training_before = per_user(lake_dir, TRAINING, "user_key")
    quarantine_before = per_user(lake_dir, QUARANTINE, "key")
    before = identities(lake_dir)

    dry = erase_from_lake(lake_dir, requests, dry_run=True, clock=CLOCK.timestamp)
    assert identities(lake_dir) == before, "a dry run changes no file"
    result = erase_from_lake(lake_dir, requests, clock=CLOCK.timestamp)
    assert counts(dry) == counts(result)

    # No row of a subject is left anywhere, temporary files included.
    assert not any(holdings(lake_dir, users).values())
    # Every other row is still there.
    raw_after = per_user(lake_dir, RAW, "user_id")
    assert raw_after == Counter({u: n for u, n in raw_before.items() if u not in users})
    assert per_user(lake_dir, FACTS, "user_id") == Counter(
        {u: n for u, n in facts_before.items() if u not in users}
    )
    assert per_user(lake_dir, TRAINING, "user_key") == Counter(
        {h: n for h, n in training_before.items() if h not in hashes}
    )
    kept_rejects = per_user(lake_dir, QUARANTINE, "key")
    assert sum(kept_rejects.values()) == sum(quarantine_before.values()) - 3

    # Rows are counted per request and object; a request naming a user again gets them too.
    expected: dict[str, Counter] = {}
    for path, rows in held.items():
        for n, user in enumerate(users):
            if rows[user]:
                expected.setdefault(object_of(lake_dir, path), Counter())[f"r-{n}"] += rows[user]
    for tally in expected.values():
        if tally["r-0"]:
            tally["r-again"] = tally["r-0"]
    assert {name: Counter(o.rows_deleted) for name, o in result.objects.items()} == {
        name: expected.get(name, Counter()) for name in result.objects
    }
    assert set(result.objects) == {
        RAW, FACTS, TRAINING, QUARANTINE, ".trash/raw/events", "curated/.staging/fct_events"
    }  # fmt: skip

    # Each file holding a subject is rewritten (or removed) once, whatever it held; the others,
    # the control plane's table among them, keep their inode and mtime.
    affected = {p for p, rows in held.items() if rows}
    assert sum(len([u for u in users if rows[u]]) for rows in held.values()) > len(affected)
    touched = sum(o.files_rewritten + o.files_removed for o in result.objects.values())
    assert touched == len(affected) + 1  # and the orphan
    after = identities(lake_dir)
    for path, identity in before.items():
        if path in affected or path.name == ".orphan.parquet.tmp":
            assert after.get(path) != identity
        else:
            assert after[path] == identity, f"{path} changed"
    # Temporary files: the one holding a subject and the orphan are gone, the fresh one stays.
    first_day = lake_dir / RAW / f"event_date={START}"
    assert not (first_day / ".x.parquet.tmp").exists()
    assert not (first_day / ".orphan.parquet.tmp").exists()
    assert (first_day / ".fresh.parquet.tmp").exists()
    assert result.objects[RAW].files_unreadable == 1
    # The quarantine file holding only a subject's reject is removed, not left empty.
    assert not (lake_dir / QUARANTINE / "events+0+9+9.parquet").exists()

    again = erase_from_lake(lake_dir, requests, clock=CLOCK.timestamp)
    assert all(
        o.files_rewritten == o.files_removed == 0 and not o.rows_deleted
        for o in again.objects.values()
    )
    assert identities(lake_dir) == after


def test_a_rewritten_raw_file_keeps_its_schema_order_and_bloom_filter(lake_copy):
    lake_dir, users = lake_copy
    path = next(
        p for p, rows in holdings(lake_dir, users[:1]).items()
        if rows and p.relative_to(lake_dir).parts[:2] == ("raw", "events")
        and p.suffix == ".parquet" and pq.ParquetFile(p).metadata.num_row_groups > 1
    )  # fmt: skip
    old = pq.ParquetFile(path)
    erase_from_lake(lake_dir, requests_for(users[:1]), clock=CLOCK.timestamp)
    new = pq.ParquetFile(path)
    assert new.schema_arrow == old.schema_arrow
    assert new.metadata.num_rows < old.metadata.num_rows
    assert new.metadata.row_group(0).num_rows == ROW_GROUP
    order = pq.SortingColumn.to_ordering(
        new.schema_arrow, new.metadata.row_group(0).sorting_columns
    )
    assert list(order[0]) == SORT_KEYS
    column = new.schema_arrow.get_field_index(BLOOM_FILTER_COLUMNS[0])
    assert new.metadata.row_group(0).column(column).bloom_filter_offset is not None
    table = new.read()
    assert table.sort_by(SORT_KEYS).equals(table)


def test_bloom_probes_find_the_same_rows_as_reading_the_columns(lake_copy):
    lake_dir, users = lake_copy
    read = {}
    for subjects in (users[:1], users):
        requests = requests_for(subjects)
        probed = erase_from_lake(lake_dir, requests, dry_run=True, clock=CLOCK.timestamp)
        read_all = erase_from_lake(lake_dir, requests, dry_run=True, probe_limit=0,
                                   clock=CLOCK.timestamp)  # fmt: skip
        assert counts(probed) == counts(read_all)
        read[len(subjects)] = (probed.bytes_read_to_find, read_all.bytes_read_to_find)
    # For one subject the filters spare reading the column of most files.
    assert read[1][0] < 0.8 * read[1][1]


def test_finding_one_subject_reads_a_small_part_of_the_lake(lake_copy):
    lake_dir, users = lake_copy
    result = erase_from_lake(lake_dir, requests_for(users[-1:]), dry_run=True)
    raw = result.objects[RAW]
    assert 0 < raw.files_rewritten < raw.files_scanned
    assert result.bytes_read_to_find < 0.5 * result.bytes_in_lake


def test_the_lakehouse_files_under_curated_are_never_rewritten(lake_copy):
    """DuckLake records each of its files' size and statistics in its catalog: the lake pass
    leaves `curated/**/ducklake-*.parquet` to the lakehouse (DELETE, then its own rewrite),
    while Spark's tables beside them (curated/fct_events here) are still rewritten."""
    lake_dir, users = lake_copy
    source = lake_dir / FACTS / f"event_date={START}" / "data_0.parquet"
    owned = lake_dir / "curated" / "build" / "fct_events" / f"event_date={START}"
    owned.mkdir(parents=True)
    for name in ("ducklake-0190-data.parquet", "ducklake-0190-data-delete.parquet"):
        shutil.copy2(source, owned / name)
    before = identities(owned.parent)
    assert holdings(lake_dir, users)[owned / "ducklake-0190-data.parquet"]

    result = erase_from_lake(lake_dir, requests_for(users), clock=CLOCK.timestamp)

    assert identities(owned.parent) == before
    assert "curated/build/fct_events" not in result.objects
    assert result.objects[FACTS].files_rewritten > 0


def test_in_a_bucket_only_objects_holding_a_subject_are_rewritten_and_none_is_left(
    lake_copy, s3_lake, tmp_path
):
    """The decoded-object proof on a bucket: the lake is uploaded, erased there, then every
    object in the bucket is downloaded and decoded; no subject is left in any, every other row
    is, and the objects that held no subject were not written again."""
    lake_dir, users = lake_copy
    storage = lake_storage(s3_lake)
    pafs.copy_files(
        str(lake_dir), storage.root, destination_filesystem=storage.base, use_threads=False
    )
    before = {i.path: (i.size, i.mtime_ns) for i in storage.list_files("", hidden=True)}
    held = holdings(lake_dir, users)

    result = erase_from_lake(s3_lake, requests_for(users), clock=CLOCK.timestamp)
    expected = erase_from_lake(lake_dir, requests_for(users), clock=CLOCK.timestamp)

    mirror = tmp_path / "mirror"
    pafs.copy_files(storage.root, str(mirror), source_filesystem=storage.base, use_threads=False)
    assert not any(holdings(mirror, users).values()), "a subject is left in the bucket"
    for folder, column in ((RAW, "user_id"), (FACTS, "user_id"), (TRAINING, "user_key")):
        assert per_user(mirror, folder, column) == per_user(lake_dir, folder, column), folder
    assert {n: Counter(o.rows_deleted) for n, o in result.objects.items()} == {
        n: Counter(o.rows_deleted) for n, o in expected.objects.items()
    }
    affected = {str(p.relative_to(lake_dir)) for p, rows in held.items() if rows}
    after = {i.path: (i.size, i.mtime_ns) for i in storage.list_files("", hidden=True)}
    unchanged = {p for p in before if p in after and after[p] == before[p]}
    assert unchanged == set(before) - affected
