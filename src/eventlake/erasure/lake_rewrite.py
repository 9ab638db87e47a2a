"""Right to erasure in the lake: every Parquet file holding a subject is rewritten without it.

One pass serves many requests, and each affected file is rewritten once for all of them.
Finding reads as little as it can:

1. the footers, and only their bytes: schema and row-group min/max rule row groups out;
2. with up to ``probe_limit`` subjects, the Bloom filters, through DuckDB's
   ``parquet_bloom_probe`` (one query per subject and column over the files still in question),
   where a file's filters cost fewer bytes than the column they stand in for; a row group stops
   being asked once a filter says it may hold someone, as its column will be read anyway;
3. the matched columns of the row groups left, which settle every match exactly.

A file holding a subject is then read whole, filtered, and written back to its own path
atomically (``layout.write_parquet_atomic``, same schema, row-group size, sort order and Bloom
filters); a file left empty is unlinked. Every other file keeps its inode and mtime.

Which columns name a person is decided by structure, in every folder of the lake (raw,
quarantine, Spark's curated tables, retention's trash, leftover staging folders, hidden
temporary files) except the control plane, the loader checkpoints and the DuckLake lakehouse's
own files (``curated/**/ducklake-*.parquet``): the DuckLake catalog records each of those
files' size and statistics, so a file rewritten behind its back would corrupt the lakehouse.
The lakehouse erases its rows itself, by DELETE and then ``erasure.lakehouse_purge``.

- ``user_id`` (text) holds the raw id; ``user_key`` and ``subject_hash`` (text) the keyed hash;
- quarantine files hold the id as the binary Kafka ``key``, and the rejected message ``value``
  may carry it as ``"<id>"`` (quotes included), whatever else in it failed to parse.

Temporary files are never rewritten: one holding a subject is unlinked; one that cannot be read
is unlinked once older than ``ORPHAN_AFTER_SECONDS`` (a crash's orphan) and otherwise reported, as
a writer may still be filling it.

Raw user ids stay in memory: logs and errors carry counts, request ids and paths only.

The lake is a folder or a bucket (eventlake.lake.storage): a file is listed, read (footer,
Bloom filters, columns: ranged GETs on a bucket) and rewritten through the same calls. On a
bucket a rewrite is one PUT over the object (atomic: a reader gets the old object or the new),
under the same name, since a loader file's name carries its offsets; only the objects holding
a subject are read past their footer and written. A bucket with versioning keeps the old
version: expire noncurrent versions (a lifecycle rule) within the erasure window.
"""

from __future__ import annotations

import bisect
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from eventlake.config import LoaderConfig
from eventlake.exceptions import ErasureError
from eventlake.lake import layout
from eventlake.lake.lakehouse import install_extensions
from eventlake.lake.layout import PARTITION_PREFIX
from eventlake.lake.storage import LakeStorage, lake_storage

log = logging.getLogger(__name__)

SKIPPED_FOLDERS = frozenset({"_control", "_checkpoints"})
"""Top-level folders of the lake that hold no event data and are never searched."""
LAKEHOUSE_FOLDER = "curated"
"""DuckLake's data path (eventlake.lake.lakehouse.data_path) ..."""
LAKEHOUSE_FILE_PREFIX = "ducklake-"
"""... where the files named so are the lakehouse's (data and delete files), never rewritten
here; Spark's tables in the same folder (part-*.parquet) are."""
TEMP_SUFFIX = ".parquet" + layout.TMP_SUFFIX
ORPHAN_AFTER_SECONDS = 15 * 60
"""An unreadable temporary file this old is a crash's orphan, not a write under way."""
PARQUET_MAGIC = b"PAR1"
"""How a plain (unencrypted) Parquet file begins and ends."""
PATTERN_IDS = 256
"""User ids per RE2 alternation when searching message values (keeps each pattern small)."""

# What a column is matched against.
USER_ID, SUBJECT_HASH, KEY_BYTES, QUOTED_IN_VALUE = "user_id", "subject_hash", "key", "value"
TEXT_COLUMNS = {"user_id": USER_ID, "user_key": SUBJECT_HASH, "subject_hash": SUBJECT_HASH}
BINARY_COLUMNS = {"key": KEY_BYTES, "value": QUOTED_IN_VALUE}


@dataclass(frozen=True)
class Subject:
    """One person to erase, as one request names them."""

    request_id: str
    user_id: str
    subject_hash: str
    """eventlake.erasure.subjects.subject_hash(user_id, key)."""


@dataclass
class ObjectErasure:
    """What a pass found and did in one folder of the lake, e.g. "raw/events"."""

    name: str
    files_scanned: int = 0
    files_rewritten: int = 0
    files_removed: int = 0
    """Files emptied by the erasure, and temporary files unlinked (holding a subject, or
    unreadable orphans)."""
    files_unreadable: int = 0
    """Files whose footer or matched columns could not be read: not searched, left in place."""
    rows_deleted: dict[str, int] = field(default_factory=dict)
    """request_id -> rows deleted for it; requests with no row here are absent."""
    partitions: set[str] = field(default_factory=set)
    """'YYYY-MM-DD' of the files touched."""


@dataclass
class LakeErasure:
    """The outcome of one pass over the lake."""

    objects: dict[str, ObjectErasure]
    files_in_lake: int
    bytes_in_lake: int
    bytes_read_to_find: int
    """/proc/self/io rchar delta over the finding phase (0 where /proc is missing)."""
    seconds_find: float
    seconds_rewrite: float
    dry_run: bool


# -- the subjects, indexed for matching -----------------------------------------------------------


class _People:
    """The pass's subjects by person: position i holds one user id, its hash and its requests."""

    def __init__(self, subjects: Sequence[Subject]) -> None:
        position: dict[str, int] = {}
        hashes: list[str] = []
        self.requests: list[list[str]] = []
        for subject in subjects:
            i = position.setdefault(subject.user_id, len(position))
            if i == len(hashes):
                hashes.append(subject.subject_hash)
                self.requests.append([])
            elif hashes[i] != subject.subject_hash:
                raise ErasureError(
                    f"expected one subject hash per user id, request {subject.request_id} "
                    f"names the user of request {self.requests[i][0]} with another hash"
                )
            self.requests[i].append(subject.request_id)
        ids = list(position)
        self.values = {
            USER_ID: pa.array(ids, pa.string()),
            SUBJECT_HASH: pa.array(hashes, pa.string()),
            KEY_BYTES: pa.array([i.encode() for i in ids], pa.binary()),
        }
        self.ordered = {kind: _ordered(values) for kind, values in self.values.items()}
        """kind -> (persons in Parquet's unsigned byte order of their values, those values)."""
        self.position = {i.encode(): n for i, n in position.items()}
        # A match consumes the opening quote and the id only, so `"a"b"` finds both a and b.
        self.quoted = re.compile(b'"(' + b"|".join(re.escape(i.encode()) for i in ids) + b')(?=")')
        self.filters = [
            '"(?:' + "|".join(re.escape(i) for i in ids[k : k + PATTERN_IDS]) + ')"'
            for k in range(0, len(ids), PATTERN_IDS)
        ]

    def __len__(self) -> int:
        return len(self.requests)

    def pairs(self, table: pa.Table, columns: tuple[tuple[str, str], ...]) -> np.ndarray:
        """Sorted unique (row, person) pairs of the table, encoded as row * persons + person."""
        parts = []
        for name, kind in columns:
            column = table[name]
            if kind == QUOTED_IN_VALUE:
                rows, persons = self._quoted_in(column)
            else:
                found = pc.index_in(column, value_set=self.values[kind].cast(column.type))
                found = pc.fill_null(found, -1).to_numpy()
                rows = np.flatnonzero(found >= 0)
                persons = found[rows]
            parts.append(rows.astype(np.int64) * len(self) + persons)
        return np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)

    def _quoted_in(self, column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
        """Rows whose value holds `"<id>"`: RE2 over the column, then Python on the few hits."""
        hit = np.zeros(len(column), dtype=bool)
        for pattern in self.filters:
            found = pc.fill_null(pc.match_substring_regex(column, pattern), False)
            hit |= found.to_numpy(zero_copy_only=False)
        rows, persons = [], []
        candidates = np.flatnonzero(hit)
        values = column.take(candidates).to_pylist()
        for row, value in zip(candidates.tolist(), values, strict=True):
            for person in sorted({self.position[m] for m in self.quoted.findall(value)}):
                rows.append(row)
                persons.append(person)
        return np.array(rows, np.int64), np.array(persons, np.int64)


def _ordered(values: pa.Array) -> tuple[list[int], list[bytes]]:
    raw = [v if isinstance(v, bytes) else v.encode() for v in values.to_pylist()]
    persons = sorted(range(len(raw)), key=raw.__getitem__)
    return persons, [raw[p] for p in persons]


# -- the lake's files -----------------------------------------------------------------------------


@dataclass
class _File:
    """One Parquet file of the lake, and what finding learnt about it."""

    path: str
    """Relative to the lake, `/`-separated."""
    size: int
    mtime: float
    object_name: str
    partition: str | None
    is_temp: bool
    metadata: pq.FileMetaData | None = None
    columns: tuple[tuple[str, str], ...] = ()
    """(column, what it is matched against) for the columns that can name a person."""
    ranges: dict[str, list[range]] = field(default_factory=dict)
    """column -> per row group, the positions (in the column kind's order of persons) its
    min/max statistics leave possible."""
    excluded: dict[tuple[str, int], set[int]] = field(default_factory=dict)
    """(column, row group) -> positions a Bloom filter rules out."""
    state: str = "ok"
    """ok, unreadable, or gone (removed or renamed by its writer since the listing)."""
    matched_rows: int = 0
    rows_per_person: np.ndarray | None = None

    def in_question(self, row_group: int) -> bool:
        return any(
            len(self.ranges[name][row_group]) > len(self.excluded.get((name, row_group), ()))
            for name, _ in self.columns
        )


def _lake_files(storage: LakeStorage) -> list[pafs.FileInfo]:
    """Every Parquet and temporary Parquet file, in a stable order, outside the skipped folders
    and the lakehouse's own files."""
    found = []
    for info in storage.list_files("", suffix=(".parquet", TEMP_SUFFIX), hidden=True):
        top = info.path.split("/", 1)[0]
        if top in SKIPPED_FOLDERS:
            continue
        if top == LAKEHOUSE_FOLDER and info.base_name.startswith(LAKEHOUSE_FILE_PREFIX):
            continue
        found.append(info)
    return found


def _place(relative: PurePosixPath) -> tuple[str, str | None]:
    """(object, partition): the folders up to the first event_date= one, and its date."""
    folders = relative.parts[:-1]
    for depth, folder in enumerate(folders):
        if folder.startswith(PARTITION_PREFIX):
            return "/".join(folders[:depth]) or ".", folder.removeprefix(PARTITION_PREFIX)
    return "/".join(folders) or ".", None


def _list(storage: LakeStorage) -> list[_File]:
    files = []
    for info in _lake_files(storage):
        object_name, partition = _place(PurePosixPath(info.path))
        files.append(
            _File(
                info.path,
                info.size,
                (info.mtime_ns or 0) / 1e9,
                object_name,
                partition,
                info.base_name.endswith(TEMP_SUFFIX),
            )
        )
    return files


def _matched_columns(schema: pa.Schema) -> tuple[tuple[str, str], ...]:
    columns = []
    for column in schema:
        kind = column.type
        text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        binary = pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
        if text and column.name in TEXT_COLUMNS:
            columns.append((column.name, TEXT_COLUMNS[column.name]))
        elif binary and column.name in BINARY_COLUMNS:
            columns.append((column.name, BINARY_COLUMNS[column.name]))
    return tuple(columns)


def _chunk(metadata: pq.FileMetaData, row_group: int, name: str) -> pq.ColumnChunkMetaData:
    group = metadata.row_group(row_group)
    return next(
        group.column(j) for j in range(group.num_columns) if group.column(j).path_in_schema == name
    )


def _worth_probing(metadata: pq.FileMetaData, name: str, ranges: list[range]) -> bool:
    """Whether the column's Bloom filters, read once per person in question (and the footer
    again, by DuckDB), cost fewer bytes than the column chunks they may spare reading.

    With a handful of people the filters are a fraction of the column; with a few dozen they
    add up to more than the column itself, which settles every person at once.
    """
    probes, column = metadata.serialized_size, 0
    for row_group, persons in enumerate(ranges):
        chunk = _chunk(metadata, row_group, name)
        if persons and chunk.bloom_filter_offset is not None:
            probes += (chunk.bloom_filter_length or 0) * len(persons)
            column += chunk.total_compressed_size
    return probes < column


def _read_bytes() -> int:
    """Bytes this process read through system calls so far (rchar), 0 where /proc is missing."""
    try:
        with open("/proc/self/io", "rb") as stats:
            for line in stats:
                if line.startswith(b"rchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# -- finding: footers, statistics, Bloom filters, then the matched columns ------------------------


def _metadata(storage: LakeStorage, path: str) -> pq.FileMetaData:
    """The file's footer, reading its bytes and no others.

    pq.read_metadata reads the last 64 KiB of a file to find the footer, which in a lake of
    small files is most of what finding reads. Here the footer's length is read first, then the
    footer itself, which pyarrow parses as the footer of an empty file. Anything that does not
    end like plain Parquet is left to pq.read_metadata to read or reject.
    """
    with storage.fs.open_input_file(path) as source:
        size = source.size()
        source.seek(max(size - len(PARQUET_MAGIC) - 4, 0))
        tail = source.read()
        length = int.from_bytes(tail[:4], "little")
        if not tail.endswith(PARQUET_MAGIC) or length > size - 12:
            source.seek(0)
            return pq.read_metadata(source)
        source.seek(size - len(tail) - length)
        footer = source.read(length)
    return pq.read_metadata(pa.BufferReader(PARQUET_MAGIC + footer + tail))


def _read_footer(item: _File, people: _People, storage: LakeStorage) -> None:
    """Schema and statistics: the persons each row group of each matched column may hold."""
    item.metadata = _metadata(storage, item.path)
    item.columns = _matched_columns(item.metadata.schema.to_arrow_schema())
    for name, kind in item.columns:
        everyone = range(len(people))
        if kind == QUOTED_IN_VALUE:  # a substring: statistics cannot rule anyone out
            item.ranges[name] = [everyone] * item.metadata.num_row_groups
            continue
        values = people.ordered[kind][1]
        item.ranges[name] = []
        for row_group in range(item.metadata.num_row_groups):
            stats = _chunk(item.metadata, row_group, name).statistics
            if stats is None or not stats.has_min_max:
                item.ranges[name].append(everyone)
                continue
            low, high = (v.encode() if isinstance(v, str) else v for v in (stats.min, stats.max))
            item.ranges[name].append(
                range(bisect.bisect_left(values, low), bisect.bisect_right(values, high))
            )


def _probe(files: list[_File], people: _People, storage: LakeStorage) -> None:
    """Rule out (row group, person) pairs by Bloom filter: one query per person and column.

    A row group is asked about the next person only while every filter asked so far ruled
    its person out: once one may hold a person its column is read anyway, and that read
    settles every person at once.
    """
    open_groups: dict[tuple[str, str], dict[str, tuple[_File, set[int]]]] = {}
    for item in files:
        if any(c in str(item.path) for c in "*?[{"):
            continue  # DuckDB would expand the name as a glob; its row groups stay in question
        for name, kind in item.columns:
            ranges = item.ranges[name]
            if kind != QUOTED_IN_VALUE and _worth_probing(item.metadata, name, ranges):
                groups = {g for g, persons in enumerate(ranges) if persons}
                open_groups.setdefault((name, kind), {})[storage.uri(item.path)] = (item, groups)
    if not open_groups:
        return
    with duckdb.connect() as connection:
        install_extensions(connection)
        storage.configure(connection)  # a bucket: httpfs and its secret
        connection.execute("set parquet_metadata_cache = true")
        for (name, kind), by_path in open_groups.items():
            for position, person in enumerate(people.ordered[kind][0]):
                asked = {
                    path: [g for g in groups if position in item.ranges[name][g]]
                    for path, (item, groups) in by_path.items()
                }
                asked = {path: groups for path, groups in asked.items() if groups}
                if not asked:
                    continue
                excluded = set(
                    connection.execute(
                        "select file_name, row_group_id from parquet_bloom_probe(?, ?, ?) "
                        "where bloom_filter_excludes",
                        [list(asked), name, people.values[kind][person].as_py()],
                    ).fetchall()
                )
                for path, groups in asked.items():
                    item, still_open = by_path[path]
                    for g in groups:
                        if (path, g) in excluded:
                            item.excluded.setdefault((name, g), set()).add(position)
                        else:
                            still_open.discard(g)


def _confirm(item: _File, people: _People, storage: LakeStorage) -> None:
    """Read the matched columns of the row groups still in question; count exact matches."""
    groups = [g for g in range(item.metadata.num_row_groups) if item.in_question(g)]
    if not groups:
        return
    with storage.fs.open_input_file(item.path) as source:
        parquet = pq.ParquetFile(source, metadata=item.metadata)
        table = parquet.read_row_groups(groups, columns=[name for name, _ in item.columns])
    pairs = people.pairs(table, item.columns)
    item.matched_rows = len(np.unique(pairs // len(people)))
    item.rows_per_person = np.bincount(pairs % len(people), minlength=len(people))


def _attempt(
    item: _File,
    step: Callable[[_File, _People, LakeStorage], None],
    people: _People,
    storage: LakeStorage,
) -> None:
    try:
        step(item, people, storage)
    except FileNotFoundError:
        item.state = "gone"
    except (OSError, pa.ArrowException):
        item.state = "unreadable"


def _find(files: list[_File], people: _People, probe_limit: int, storage: LakeStorage) -> None:
    """Settle what each file holds of the subjects; reads, changes nothing."""
    for item in files:
        _attempt(item, _read_footer, people, storage)
    searched = [item for item in files if item.state == "ok" and item.columns]
    if len(people) <= probe_limit:
        _probe(searched, people, storage)
    for item in searched:
        _attempt(item, _confirm, people, storage)


# -- rewriting ------------------------------------------------------------------------------------


def _rewrite(item: _File, people: _People, storage: LakeStorage) -> bool:
    """Write the file back without its subjects' rows; False, writing nothing, when no row
    would be left (the caller unlinks it)."""
    with storage.fs.open_input_file(item.path) as source:
        parquet = pq.ParquetFile(source, metadata=item.metadata)
        table = parquet.read()
    drop = np.unique(people.pairs(table, item.columns) // len(people))
    if len(drop) != item.matched_rows:
        raise ErasureError(
            f"expected {item.matched_rows} rows of the pass's subjects in {item.path}, found "
            f"{len(drop)}: the file changed while the pass ran; run the pass again"
        )
    if len(drop) == table.num_rows:
        return False
    keep = np.ones(table.num_rows, dtype=bool)
    keep[drop] = False
    first = item.metadata.row_group(0)
    sort_by = None
    if first.sorting_columns:
        keys, _nulls = pq.SortingColumn.to_ordering(parquet.schema_arrow, first.sorting_columns)
        sort_by = list(keys)
    # Columns naming a person by equality get a Bloom filter, and so does every one that had one.
    blooms = {name for name, kind in item.columns if kind in (USER_ID, SUBJECT_HASH)} | {
        first.column(j).path_in_schema
        for j in range(first.num_columns)
        if first.column(j).bloom_filter_offset is not None
    }
    layout.publish_parquet(
        table.filter(pa.array(keep)),
        storage.lake_dir,
        item.path,
        row_group_size=first.num_rows or LoaderConfig.row_group_size,
        sort_by=sort_by,
        presorted=True,
        bloom_filter_columns=tuple(sorted(blooms)),
    )
    return True


def _drop_stale_checksum(storage: LakeStorage, path: str) -> None:
    """A file Spark wrote through Hadoop's local filesystem has a checksum beside it,
    `.<name>.crc`; once the file is rewritten (or unlinked) the checksum is stale, and Hadoop
    refuses to read a file whose checksum does not match. Without one it reads the file
    unchecked, so the stale checksum goes. (S3A writes no checksum files: nothing on a
    bucket.)"""
    if not storage.remote:
        parent, _, name = path.rpartition("/")
        storage.delete(f"{parent}/.{name}.crc" if parent else f".{name}.crc")


def _execute(
    files: list[_File],
    people: _People,
    objects: dict[str, ObjectErasure],
    *,
    dry_run: bool,
    now: float,
    storage: LakeStorage,
) -> None:
    """Rewrite or unlink what finding found (dry_run: only count it), then fsync the folders."""
    touched: set[str] = set()
    for item in files:
        outcome = objects.setdefault(item.object_name, ObjectErasure(item.object_name))
        if item.state == "gone":
            continue
        outcome.files_scanned += 1
        if item.state == "unreadable":
            if not (item.is_temp and now - item.mtime > ORPHAN_AFTER_SECONDS):
                outcome.files_unreadable += 1
                log.warning("erasure: cannot read %s; left in place, not searched", item.path)
                continue
            log.info("erasure: unlinking %s, an unreadable orphan of a crash", item.path)
            removed = True
        elif not item.matched_rows:
            continue
        elif item.is_temp:
            removed = True  # never rewritten: a temporary file is not part of the lake yet
        elif dry_run:
            removed = item.matched_rows == item.metadata.num_rows
        else:
            removed = not _rewrite(item, people, storage)
            touched.add(item.path.rpartition("/")[0])
        if removed and not dry_run:  # emptied, or a temporary file
            storage.delete(item.path)
            touched.add(item.path.rpartition("/")[0])
        if not dry_run:
            _drop_stale_checksum(storage, item.path)
        outcome.files_removed += removed
        outcome.files_rewritten += not removed
        if item.partition is not None:
            outcome.partitions.add(item.partition)
        if item.rows_per_person is None:
            continue
        for person in np.flatnonzero(item.rows_per_person).tolist():
            for request_id in people.requests[person]:
                deleted = outcome.rows_deleted.get(request_id, 0)
                outcome.rows_deleted[request_id] = deleted + int(item.rows_per_person[person])
    for folder in sorted(touched):
        storage.sync_dir(folder)


def erase_from_lake(
    lake_dir: Path | str,
    subjects: Sequence[Subject],
    *,
    dry_run: bool = False,
    probe_limit: int = 64,
    clock: Callable[[], float] = time.time,
) -> LakeErasure:
    """Remove the subjects' rows from every Parquet file of the lake, each file at most once.

    With more distinct users than probe_limit the Bloom filters are not probed: a query per
    user would cost more than reading the matched columns. dry_run finds and counts and
    changes nothing. clock gives the time temporary files' ages are measured against. Call
    under the lake's maintenance lock.
    """
    storage = lake_storage(lake_dir)
    people = _People(subjects)
    started, read_before = time.perf_counter(), _read_bytes()
    files = _list(storage)
    if len(people):
        _find(files, people, probe_limit, storage)
    read_to_find = _read_bytes() - read_before
    found = time.perf_counter()
    objects: dict[str, ObjectErasure] = {}
    _execute(files, people, objects, dry_run=dry_run, now=clock(), storage=storage)
    done = time.perf_counter()
    for outcome in objects.values():
        if outcome.files_rewritten or outcome.files_removed or outcome.files_unreadable:
            log.info(
                "erasure%s: %s: %d of %d files rewritten, %d removed, %d unreadable; rows per "
                "request %s",
                " (dry run)" if dry_run else "",
                outcome.name,
                outcome.files_rewritten,
                outcome.files_scanned,
                outcome.files_removed,
                outcome.files_unreadable,
                outcome.rows_deleted,
            )
    return LakeErasure(
        objects=objects,
        files_in_lake=len(files),
        bytes_in_lake=sum(item.size for item in files),
        bytes_read_to_find=read_to_find,
        seconds_find=found - started,
        seconds_rewrite=done - found,
        dry_run=dry_run,
    )
