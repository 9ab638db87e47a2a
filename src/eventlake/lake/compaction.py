"""Merge the small raw files of an event_date partition into files near a target size.

The loader cuts a file at every flush (record count, bytes, age, memory budget, rebalance,
shutdown), so a partition collects many small files. Compaction merges them per topic and Kafka
partition, keeping the naming scheme: the merged file is called after the offset range of its
inputs, `<topic>+<partition>+<min first>+<max last>.parquet`, and holds their rows sorted by
offset.

Exactly once with a running loader:
- only committed files are merged: their offsets lie below the partition's checkpoint
  `next_offset` and no checkpoint lists them as `pending` (a crashed flush's files are deleted
  by the loader's recovery, so they must not be copied);
- only a run of neighbouring files (in offset order) is merged, so the merged file's range holds
  no other file of that partition and date;
- the merged file is written under a hidden temporary name, fsynced, its row count checked
  against the inputs' footers, and renamed; then the inputs are removed.
A crash between the rename and the removal leaves inputs whose range a merged file covers: the
next plan finds them (a committed file covered by another of the same topic and partition) and
removes them before anything else, so no row is counted twice for longer than that window.

`plan_compaction` only reads (listing, checkpoints, footers); `apply_compaction` executes a plan.
The curated lakehouse's files are DuckLake's to merge (eventlake.lake.maintenance).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from eventlake.exceptions import ConfigError, LakeError
from eventlake.lake import layout
from eventlake.lake.layout import BLOOM_FILTER_COLUMNS, PARTITION_PREFIX, PLAIN_COLUMNS
from eventlake.lake.lock import maintenance_lock
from eventlake.lake.storage import is_remote

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
    """One raw file, as its name and the file system describe it."""

    path: Path
    topic: str
    partition: int
    first: int
    """First offset of the flush (or merge) that wrote the file."""
    last: int
    """Last offset of the flush (or merge) that wrote the file."""
    size: int
    """Bytes on disk."""

    def covers(self, other: DataFile) -> bool:
        return self.first <= other.first and other.last <= self.last and self != other


@dataclass(frozen=True)
class Merge:
    """Neighbouring small files of one topic, partition and date, merged into one."""

    inputs: tuple[DataFile, ...]
    """In offset order."""
    output: Path
    rows: int
    """Rows of the inputs, from their footers: the merged file must hold exactly these."""

    @property
    def input_bytes(self) -> int:
        return sum(f.size for f in self.inputs)


@dataclass(frozen=True)
class CompactionPlan:
    """What a run would do; built without changing anything."""

    lake_dir: Path
    partitions: int
    """event_date partitions looked at."""
    files: int
    """Data files in those partitions before the run."""
    bytes: int
    """Their bytes on disk."""
    covered: tuple[tuple[DataFile, DataFile], ...]
    """(leftover, covering file): inputs of a merge that crashed before removing them."""
    stale_tmp: tuple[Path, ...]
    """Hidden temporary files of a merge that crashed before its rename."""
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


def parse_data_file_name(name: str) -> tuple[str, int, int, int] | None:
    """(topic, partition, first, last) of a name written by layout.data_file_name, else None."""
    if not name.endswith(".parquet") or name.startswith("."):
        return None
    parts = name.removesuffix(".parquet").rsplit("+", 3)
    if len(parts) != 4 or not parts[0]:
        return None
    try:
        partition, first, last = (int(p) for p in parts[1:])
    except ValueError:
        return None
    if name != layout.data_file_name(parts[0], partition, first, last) or first > last:
        return None
    return parts[0], partition, first, last


def _partition_dirs(lake_dir: Path, dates: tuple[date, ...]) -> list[Path]:
    root = lake_dir / layout.RAW_EVENTS
    if dates:
        return [
            d for d in (layout.event_date_dir(lake_dir, day) for day in sorted(dates)) if d.is_dir()
        ]
    if not root.is_dir():
        return []
    return sorted(d for d in root.iterdir() if d.is_dir() and d.name.startswith(PARTITION_PREFIX))


def _checkpoints(lake_dir: Path) -> tuple[dict[tuple[str, int], int | None], set[str]]:
    """next_offset per (topic, partition), and every file any checkpoint lists as pending."""
    next_offsets: dict[tuple[str, int], int | None] = {}
    pending: set[str] = set()
    root = lake_dir / layout.CHECKPOINTS
    for path in sorted(root.glob("*/*.json")) if root.is_dir() else []:
        try:
            partition = int(path.stem)
        except ValueError:
            continue
        checkpoint = layout.read_checkpoint(lake_dir, path.parent.name, partition)
        next_offsets[(path.parent.name, partition)] = checkpoint.next_offset
        pending.update(checkpoint.pending)
    return next_offsets, pending


def _runs(
    files: list[DataFile], committed: set[Path], target_bytes: int
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
    """Rows of a Parquet file, from its footer."""
    return pq.ParquetFile(path).metadata.num_rows


def plan_compaction(lake_dir: Path, config: CompactionConfig) -> CompactionPlan:
    """Read the lake and say what to heal and merge; changes nothing."""
    lake_dir = Path(lake_dir)
    # Checkpoints first: next_offset only grows, so what lies below it now stays committed
    # whatever the loader does while the listing below runs.
    next_offsets, pending = _checkpoints(lake_dir)

    def is_committed(topic: str, partition: int, last: int, path: Path) -> bool:
        """Below the partition's next_offset and in no flush still under way."""
        next_offset = next_offsets.get((topic, partition))
        return (
            next_offset is not None
            and last < next_offset
            and str(path.relative_to(lake_dir)) not in pending
        )

    partitions = _partition_dirs(lake_dir, config.dates)
    files = total_bytes = 0
    covered: list[tuple[DataFile, DataFile]] = []
    stale_tmp: list[Path] = []
    merges: list[Merge] = []
    for folder in partitions:
        groups: dict[tuple[str, int], list[DataFile]] = {}
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") and path.name.endswith(layout.TMP_SUFFIX):
                # A merge's temporary file names a committed range; the loader's never does.
                final = path.with_name(path.name[1 : -len(layout.TMP_SUFFIX)])
                parsed = parse_data_file_name(final.name)
                if parsed and is_committed(parsed[0], parsed[1], parsed[3], final):
                    stale_tmp.append(path)
                continue
            parsed = parse_data_file_name(path.name)
            if parsed is None or not path.is_file():
                continue
            data_file = DataFile(path, *parsed, size=path.stat().st_size)
            groups.setdefault((data_file.topic, data_file.partition), []).append(data_file)
            files += 1
            total_bytes += data_file.size
        for (topic, partition), group in sorted(groups.items()):
            group.sort(key=lambda f: (f.first, -f.last))
            committed = {
                f.path for f in group if is_committed(f.topic, f.partition, f.last, f.path)
            }
            leftovers = []
            for data_file in group:
                # In (first, -last) order the first file covering another is the outermost.
                cover = next((g for g in group if g.covers(data_file)), None)
                if data_file.path in committed and cover and cover.path in committed:
                    leftovers.append((data_file, cover))
            covered.extend(leftovers)
            gone = {f.path for f, _ in leftovers}
            remaining = [f for f in group if f.path not in gone]
            overlapping = [
                (a.path.name, b.path.name)
                for a, b in zip(remaining, remaining[1:], strict=False)
                if b.first <= a.last
            ]
            if overlapping:
                log.warning(
                    "%s: files of %s partition %d overlap without one covering the other, "
                    "left as they are: %s",
                    folder.name,
                    topic,
                    partition,
                    overlapping,
                )
                continue
            for run in _runs(remaining, committed, config.target_bytes):
                if len(run) < config.min_files:
                    continue
                name = layout.data_file_name(topic, partition, run[0].first, run[-1].last)
                merges.append(
                    Merge(tuple(run), folder / name, sum(footer_rows(f.path) for f in run))
                )
    return CompactionPlan(
        lake_dir=lake_dir,
        partitions=len(partitions),
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


def write_merged(merge: Merge, row_group_size: int) -> int:
    """Stream the inputs into the merged file (tmp, fsync, check, rename); returns its bytes.

    One input and one row group are in memory at a time, whatever the merge's size.
    """
    schema, conflicting = _unified_schema([pq.read_schema(f.path) for f in merge.inputs])
    if "_offset" not in schema.names:
        raise LakeError(f"expected an _offset column in {merge.inputs[0].path}, found none")
    blooms = {
        name: {"ndv": max(min(merge.rows, row_group_size), 1024), "fpp": 0.01}
        for name in BLOOM_FILTER_COLUMNS
        if name in schema.names
    }
    output = merge.output
    tmp = layout.tmp_path(output)
    try:
        with open(tmp, "wb") as sink:
            with pq.ParquetWriter(
                sink,
                schema,
                compression="zstd",
                bloom_filter_options=blooms or None,
                use_dictionary=[name for name in schema.names if name not in PLAIN_COLUMNS],
                sorting_columns=pq.SortingColumn.from_ordering(schema, SORT_KEYS),
            ) as writer:
                buffered: list[pa.Table] = []
                buffered_rows = 0
                for data_file in merge.inputs:
                    table = _conform(pq.read_table(data_file.path), schema, conflicting)
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
            sink.flush()
            os.fsync(sink.fileno())
        written = footer_rows(tmp)
        if written != merge.rows:
            raise LakeError(
                f"expected {merge.rows} rows in the merge of {len(merge.inputs)} files into "
                f"{output.name}, wrote {written}; inputs kept"
            )
        os.replace(tmp, output)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    layout.fsync_dir(output.parent)
    return output.stat().st_size


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def apply_compaction(plan: CompactionPlan, config: CompactionConfig) -> CompactionResult:
    """Execute a plan: remove crash leftovers first, then merge. Call under maintenance_lock."""
    result = CompactionResult(files_before=plan.files, bytes_before=plan.bytes)
    merged_inputs = removed_bytes = written_bytes = 0
    touched: set[Path] = set()
    for path in plan.stale_tmp:
        _unlink(path)
        touched.add(path.parent)
        result.stale_tmp_removed += 1
        log.info("removed the temporary file of an interrupted merge: %s", path)
    for leftover, cover in plan.covered:
        if not cover.path.is_file():
            raise LakeError(f"expected {cover.path} to cover {leftover.path}, it is gone")
        _unlink(leftover.path)
        touched.add(leftover.path.parent)
        result.covered_removed += 1
        removed_bytes += leftover.size
        log.info("removed %s: %s holds its offsets", leftover.path, cover.path.name)
    for folder in touched:
        layout.fsync_dir(folder)
    for merge in plan.merges:
        rows = sum(footer_rows(f.path) for f in merge.inputs)
        if rows != merge.rows:
            raise LakeError(
                f"expected the inputs of {merge.output.name} to hold {merge.rows} rows as planned, "
                f"found {rows}: the lake changed since the plan"
            )
        if merge.output.exists():
            raise LakeError(f"expected no file at {merge.output}, found one")
        size = write_merged(merge, config.row_group_size)
        for data_file in merge.inputs:
            _unlink(data_file.path)
        layout.fsync_dir(merge.output.parent)
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
            merge.output.relative_to(plan.lake_dir),
            size,
        )
    result.files_after = plan.files - result.covered_removed - merged_inputs + result.merges
    result.bytes_after = plan.bytes - removed_bytes + written_bytes
    return result


def compact(
    lake_dir: Path | str, config: CompactionConfig, *, apply: bool = False
) -> tuple[CompactionPlan, CompactionResult | None]:
    """Plan, and with apply=True execute, under the lake's maintenance lock.

    A lake in a bucket gets an empty plan and a warning: merging raw objects there is not built
    (the lakehouse's files, which DuckLake merges, are)."""
    if is_remote(lake_dir):
        log.warning(
            "raw-lake compaction on a bucket is not built: %s left as it is (the lakehouse's "
            "files are DuckLake's to merge)",
            lake_dir,
        )
        plan = CompactionPlan(lake_dir, 0, 0, 0, (), (), ())
        return plan, (CompactionResult() if apply else None)
    lake_dir = Path(lake_dir)
    if not apply:
        return plan_compaction(lake_dir, config), None
    with maintenance_lock(lake_dir):
        plan = plan_compaction(lake_dir, config)
        return plan, apply_compaction(plan, config)
