"""Merge the small raw files of an event_date partition into files near a target size.

The loader cuts a file at every flush (record count, bytes, age, memory budget, rebalance,
shutdown), so a partition collects many small files. Compaction merges them per topic and Kafka
partition, keeping the naming scheme: the merged file is called after the offset range of its
inputs, `<topic>+<partition>+<min first>+<max last>.parquet`, and holds their rows sorted by
offset. The lake is a folder or a bucket (eventlake.lake.storage); the steps are the same.

Exactly once with a running loader:
- only committed files are merged: their offsets lie below the partition's checkpoint
  `next_offset` and no checkpoint lists them as `pending` (a crashed flush's files are deleted
  by the loader's recovery, so they must not be copied). Recovery deletes only names at or
  past next_offset, so it never deletes a merged file, whose range lies below;
- only a run of neighbouring files (in offset order) is merged, so the merged file's range holds
  no other file of that partition and date: it holds every row of its range there;
- the merged file is written to a staging file (the hidden temporary name beside it on disk, a
  local temporary file for a bucket), its row count checked against the inputs' footers, and
  only then published under its final name: a rename on disk, one PUT on a bucket. Then the
  inputs are deleted.
Between the publication and the last deletion the lake holds the merged file and its inputs
(a bucket has no rename to swap them). Readers read the merged file only: a committed file
whose range another committed file of its folder strictly contains is superseded
(layout.superseded; layout.readable and the dbt macro lake_files apply it). A crash in between
leaves superseded inputs: the next plan finds them by the same rule and deletes them first.

One compaction at a time: it runs under the lake's maintenance lock (eventlake.lake.lock), with
builds, retention and erasure; a flock at the lake's root on disk, a lock file of the host for
a bucket. A bucket has no lock of its own, and a conditional PUT (`If-None-Match: *`) that
could make one is not reachable through pyarrow's S3 client, so a bucket's maintenance jobs run
from one host (docs/lake.md#on-a-bucket). Readers take no lock.

`plan_compaction` only reads (listing, checkpoints, footers); `apply_compaction` executes a plan.
The curated lakehouse's files are DuckLake's to merge (eventlake.lake.maintenance).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from eventlake.exceptions import ConfigError, LakeError
from eventlake.lake import layout
from eventlake.lake.layout import (
    BLOOM_FILTER_COLUMNS,
    PARTITION_PREFIX,
    PLAIN_COLUMNS,
    RAW_EVENTS,
    TMP_SUFFIX,
    parse_data_file_name,
)
from eventlake.lake.lock import maintenance_lock
from eventlake.lake.storage import LakeStorage, lake_storage

log = logging.getLogger(__name__)

SORT_KEYS = [("_offset", "ascending")]


@dataclass(frozen=True)
class CompactionConfig:
    """What compaction merges and how it writes the merged files."""

    target_bytes: int = 128 * 1024 * 1024
    """A merged file holds inputs adding up to at most this many bytes on disk."""
    min_files: int = 2
    """A run of fewer small files than this is left as it is."""
    row_group_size: int = 128 * 1024
    """Rows per row group of a merged file (the loader's EVENTLAKE_ROW_GROUP_SIZE)."""
    dates: tuple[date, ...] = ()
    """Only these event_date partitions; every partition when empty."""

    def __post_init__(self) -> None:
        if self.target_bytes <= 0:
            raise ConfigError(f"target_bytes must be positive, got {self.target_bytes}")
        if self.min_files < 2:
            raise ConfigError(f"min_files must be 2 or more, got {self.min_files}")
        if self.row_group_size <= 0:
            raise ConfigError(f"row_group_size must be positive, got {self.row_group_size}")


@dataclass(frozen=True)
class DataFile:
    """One raw file, as its name and the listing describe it."""

    path: str
    """Relative to the lake, `/`-separated."""
    topic: str
    partition: int
    first: int
    """First offset of the flush (or merge) that wrote the file."""
    last: int
    """Last offset of the flush (or merge) that wrote the file."""
    size: int
    """Bytes stored."""

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]


@dataclass(frozen=True)
class Merge:
    """Neighbouring small files of one topic, partition and date, merged into one."""

    inputs: tuple[DataFile, ...]
    """In offset order."""
    output: str
    """Relative to the lake."""
    rows: int
    """Rows of the inputs, from their footers: the merged file must hold exactly these."""

    @property
    def input_bytes(self) -> int:
        return sum(f.size for f in self.inputs)

    @property
    def folder(self) -> str:
        """The date partition's folder, relative to the lake."""
        return self.output.rpartition("/")[0]


@dataclass(frozen=True)
class CompactionPlan:
    """What a run would do; built without changing anything."""

    lake_dir: Path | str
    partitions: int
    """event_date partitions looked at (those holding a file)."""
    files: int
    """Data files in those partitions before the run."""
    bytes: int
    """Their bytes stored."""
    covered: tuple[tuple[DataFile, DataFile], ...]
    """(leftover, covering file): superseded inputs of a merge that has not deleted them."""
    stale_tmp: tuple[str, ...]
    """Hidden temporary files of a merge that crashed before its rename (on disk only)."""
    merges: tuple[Merge, ...]

    @property
    def files_after(self) -> int:
        merged = sum(len(m.inputs) - 1 for m in self.merges)
        return self.files - len(self.covered) - merged

    @property
    def rows_merged(self) -> int:
        return sum(m.rows for m in self.merges)

    @property
    def bytes_merged(self) -> int:
        return sum(m.input_bytes for m in self.merges)


@dataclass
class CompactionResult:
    """What a run did."""

    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    merges: int = 0
    rows_merged: int = 0
    covered_removed: int = 0
    stale_tmp_removed: int = 0


# -- planning -------------------------------------------------------------------------------------


def _listing(storage: LakeStorage, dates: tuple[date, ...]) -> dict[str, list[pafs.FileInfo]]:
    """The raw lake's files, hidden ones too, by date folder (relative to the lake); only the
    folders of `dates` when given."""
    roots = [layout.event_date_folder(d) for d in sorted(dates)] or [RAW_EVENTS.as_posix()]
    folders: dict[str, list[pafs.FileInfo]] = {}
    for root in roots:
        for info in storage.list_files(root, suffix=(".parquet", TMP_SUFFIX), hidden=True):
            folder = info.path.rpartition("/")[0]
            parent, _, name = folder.rpartition("/")
            if parent == RAW_EVENTS.as_posix() and name.startswith(PARTITION_PREFIX):
                folders.setdefault(folder, []).append(info)
    return dict(sorted(folders.items()))


def _checkpoints(lake_dir: Path | str) -> tuple[dict[tuple[str, int], int | None], set[str]]:
    """next_offset per (topic, partition), and every file any checkpoint lists as pending."""
    checkpoints = layout.read_checkpoints(lake_dir)
    next_offsets = {key: checkpoint.next_offset for key, checkpoint in checkpoints.items()}
    return next_offsets, {path for c in checkpoints.values() for path in c.pending}


def _runs(
    files: list[DataFile], committed: set[str], target_bytes: int
) -> Iterator[list[DataFile]]:
    """Runs of neighbouring committed small files, each adding up to at most target_bytes.

    A file that is not committed, or is already large, breaks a run: a merged file's offset
    range must never span a file it does not contain.
    """
    run: list[DataFile] = []
    run_bytes = 0
    for data_file in files:
        if data_file.path not in committed or data_file.size >= target_bytes:
            yield run
            run, run_bytes = [], 0
            continue
        if run and run_bytes + data_file.size > target_bytes:
            yield run
            run, run_bytes = [], 0
        run.append(data_file)
        run_bytes += data_file.size
    yield run


def footer_rows(path: Path) -> int:
    """Rows of a local Parquet file (a merge's staging file), from its footer."""
    return pq.ParquetFile(path).metadata.num_rows


def stored_rows(storage: LakeStorage, relative: str) -> int:
    """Rows of a lake file, from its footer: one ranged read (a GET on a bucket)."""
    with storage.fs.open_input_file(relative) as source:
        return pq.ParquetFile(source).metadata.num_rows


def plan_compaction(lake_dir: Path | str, config: CompactionConfig) -> CompactionPlan:
    """Read the lake and say what to heal and merge; changes nothing."""
    storage = lake_storage(lake_dir)
    # Checkpoints first: next_offset only grows, so what lies below it now stays committed
    # whatever the loader does while the listing below runs.
    next_offsets, pending = _checkpoints(lake_dir)

    def is_committed(topic: str, partition: int, last: int, path: str) -> bool:
        """Below the partition's next_offset and in no flush still under way."""
        next_offset = next_offsets.get((topic, partition))
        return next_offset is not None and last < next_offset and path not in pending

    folders = _listing(storage, config.dates)
    files = total_bytes = 0
    covered: list[tuple[DataFile, DataFile]] = []
    stale_tmp: list[str] = []
    merges: list[Merge] = []
    for folder, infos in folders.items():
        groups: dict[tuple[str, int], list[DataFile]] = {}
        for info in infos:
            if info.base_name.startswith("."):
                # A merge's temporary file names a committed range; the loader's never does.
                final = info.base_name[1:].removesuffix(TMP_SUFFIX)
                parsed = parse_data_file_name(final)
                if (
                    info.base_name.endswith(TMP_SUFFIX)
                    and parsed
                    and is_committed(parsed[0], parsed[1], parsed[3], f"{folder}/{final}")
                ):
                    stale_tmp.append(info.path)
                continue
            parsed = parse_data_file_name(info.base_name)
            if parsed is None:
                continue
            data_file = DataFile(info.path, *parsed, size=info.size)
            groups.setdefault((data_file.topic, data_file.partition), []).append(data_file)
            files += 1
            total_bytes += data_file.size
        for (topic, partition), group in sorted(groups.items()):
            group.sort(key=lambda f: (f.first, -f.last))
            committed = {
                f.path for f in group if is_committed(f.topic, f.partition, f.last, f.path)
            }
            # The readers' rule: what they skip is what a merge left behind.
            covers = layout.superseded(committed)
            by_path = {f.path: f for f in group}
            leftovers = [(f, by_path[covers[f.path]]) for f in group if f.path in covers]
            covered.extend(leftovers)
            remaining = [f for f in group if f.path not in covers]
            overlapping = [
                (a.name, b.name)
                for a, b in zip(remaining, remaining[1:], strict=False)
                if b.first <= a.last
            ]
            if overlapping:
                log.warning(
                    "%s: files of %s partition %d overlap without one covering the other, "
                    "left as they are: %s",
                    folder,
                    topic,
                    partition,
                    overlapping,
                )
                continue
            for run in _runs(remaining, committed, config.target_bytes):
                if len(run) < config.min_files:
                    continue
                name = layout.data_file_name(topic, partition, run[0].first, run[-1].last)
                rows = sum(stored_rows(storage, f.path) for f in run)
                merges.append(Merge(tuple(run), f"{folder}/{name}", rows))
    return CompactionPlan(
        lake_dir=lake_dir,
        partitions=len(folders),
        files=files,
        bytes=total_bytes,
        covered=tuple(covered),
        stale_tmp=tuple(stale_tmp),
        merges=tuple(merges),
    )


# -- execution ------------------------------------------------------------------------------------


def _unified_schema(schemas: list[pa.Schema]) -> tuple[pa.Schema, set[str]]:
    """Columns unified by name (missing ones nullable); conflicting types become JSON text."""
    seen: dict[str, list[pa.Field]] = {}
    for schema in schemas:
        for column in schema:
            seen.setdefault(column.name, []).append(column)
    fields: list[pa.Field] = []
    conflicting: set[str] = set()
    for name, versions in seen.items():
        nullable = len(versions) < len(schemas) or any(v.nullable for v in versions)
        types = {v.type for v in versions} - {pa.null()}
        try:
            unified = pa.unify_schemas(
                [pa.schema([v.with_nullable(True)]) for v in versions],
                promote_options="permissive",
            ).field(name)
            column_type = unified.type
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            conflicting.add(name)
            column_type = pa.string()
        if not types:
            column_type = pa.null()
        fields.append(pa.field(name, column_type, nullable=nullable))
    return pa.schema(fields, metadata=schemas[0].metadata), conflicting


def _as_json_text(column: pa.ChunkedArray) -> pa.Array:
    return pa.array(
        [None if v is None else orjson.dumps(v).decode() for v in column.to_pylist()],
        pa.string(),
    )


def _conform(table: pa.Table, schema: pa.Schema, conflicting: set[str]) -> pa.Table:
    columns = []
    for column_field in schema:
        if column_field.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, column_field.type))
            continue
        column = table[column_field.name]
        if column.type != column_field.type:
            if column_field.name in conflicting and not pa.types.is_string(column.type):
                column = _as_json_text(column)
            else:
                column = column.cast(column_field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def write_merged(storage: LakeStorage, merge: Merge, row_group_size: int) -> int:
    """Stream the inputs into the merged file (staged, checked, published); returns its bytes.

    One input and one row group are in memory at a time, whatever the merge's size.
    """
    schemas = []
    for data_file in merge.inputs:
        with storage.fs.open_input_file(data_file.path) as source:
            schemas.append(pq.read_schema(source))
    schema, conflicting = _unified_schema(schemas)
    if "_offset" not in schema.names:
        raise LakeError(f"expected an _offset column in {merge.inputs[0].path}, found none")
    blooms = {
        name: {"ndv": max(min(merge.rows, row_group_size), 1024), "fpp": 0.01}
        for name in BLOOM_FILTER_COLUMNS
        if name in schema.names
    }
    with storage.staged_file(merge.output) as staged:
        with pq.ParquetWriter(
            str(staged),
            schema,
            compression="zstd",
            bloom_filter_options=blooms or None,
            use_dictionary=[name for name in schema.names if name not in PLAIN_COLUMNS],
            sorting_columns=pq.SortingColumn.from_ordering(schema, SORT_KEYS),
        ) as writer:
            buffered: list[pa.Table] = []
            buffered_rows = 0
            for data_file in merge.inputs:
                with storage.fs.open_input_file(data_file.path) as source:
                    table = _conform(pq.read_table(source), schema, conflicting)
                buffered.append(table.sort_by(SORT_KEYS))
                buffered_rows += table.num_rows
                if buffered_rows >= row_group_size:
                    rows = pa.concat_tables(buffered).combine_chunks()
                    full = rows.num_rows - rows.num_rows % row_group_size
                    writer.write_table(rows.slice(0, full), row_group_size=row_group_size)
                    buffered = [rows.slice(full)]
                    buffered_rows = rows.num_rows - full
            if buffered_rows:
                writer.write_table(pa.concat_tables(buffered), row_group_size=row_group_size)
        written = footer_rows(staged)
        if written != merge.rows:
            raise LakeError(
                f"expected {merge.rows} rows in the merge of {len(merge.inputs)} files into "
                f"{merge.output.rpartition('/')[2]}, wrote {written}; inputs kept"
            )
        size = staged.stat().st_size
    return size


def _delete(storage: LakeStorage, relative: str) -> None:
    """Delete a file of the lake; one already gone is fine (a rerun)."""
    storage.delete(relative)


def apply_compaction(plan: CompactionPlan, config: CompactionConfig) -> CompactionResult:
    """Execute a plan: remove crash leftovers first, then merge. Call under maintenance_lock."""
    storage = lake_storage(plan.lake_dir)
    result = CompactionResult(files_before=plan.files, bytes_before=plan.bytes)
    merged_inputs = removed_bytes = written_bytes = 0
    touched: set[str] = set()
    for path in plan.stale_tmp:
        _delete(storage, path)
        touched.add(path.rpartition("/")[0])
        result.stale_tmp_removed += 1
        log.info("removed the temporary file of an interrupted merge: %s", storage.uri(path))
    for leftover, cover in plan.covered:
        if not storage.exists(cover.path):
            raise LakeError(f"expected {cover.path} to cover {leftover.path}, it is gone")
        _delete(storage, leftover.path)
        touched.add(leftover.path.rpartition("/")[0])
        result.covered_removed += 1
        removed_bytes += leftover.size
        log.info("removed %s: %s holds its offsets", storage.uri(leftover.path), cover.name)
    for folder in sorted(touched):
        storage.sync_dir(folder)
    for merge in plan.merges:
        rows = sum(stored_rows(storage, f.path) for f in merge.inputs)
        if rows != merge.rows:
            raise LakeError(
                f"expected the inputs of {merge.output} to hold {merge.rows} rows as planned, "
                f"found {rows}: the lake changed since the plan"
            )
        if storage.exists(merge.output):
            raise LakeError(f"expected no file at {storage.uri(merge.output)}, found one")
        # Published first: from here readers read it and skip its inputs (superseded).
        size = write_merged(storage, merge, config.row_group_size)
        for data_file in merge.inputs:
            _delete(storage, data_file.path)
        storage.sync_dir(merge.folder)
        result.merges += 1
        result.rows_merged += merge.rows
        merged_inputs += len(merge.inputs)
        removed_bytes += merge.input_bytes
        written_bytes += size
        log.info(
            "merged %d files (%d rows, %d bytes) into %s (%d bytes)",
            len(merge.inputs),
            merge.rows,
            merge.input_bytes,
            storage.uri(merge.output),
            size,
        )
    result.files_after = plan.files - result.covered_removed - merged_inputs + result.merges
    result.bytes_after = plan.bytes - removed_bytes + written_bytes
    return result


def compact(
    lake_dir: Path | str,
    config: CompactionConfig,
    *,
    apply: bool = False,
    catalog: str | None = None,
) -> tuple[CompactionPlan, CompactionResult | None]:
    """Plan, and with apply=True execute, under the lake's maintenance lock (the advisory lock
    of a PostgreSQL `catalog`, else a lock file: eventlake.lake.lock)."""
    if not apply:
        return plan_compaction(lake_dir, config), None
    with maintenance_lock(lake_dir, catalog):
        plan = plan_compaction(lake_dir, config)
        return plan, apply_compaction(plan, config)
