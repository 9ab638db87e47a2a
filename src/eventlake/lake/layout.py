"""The lake's layout on disk and its two primitives: an atomic Parquet write and a checkpoint.

    <lake>/raw/events/event_date=YYYY-MM-DD/<topic>+<partition>+<first>+<last>.parquet
    <lake>/quarantine/events/<topic>+<partition>+<first>+<last>.parquet
    <lake>/_checkpoints/<topic>/<partition>.json

A data file is named after the Kafka offset range of the flush that wrote it, so the name says
exactly which messages it holds. The checkpoint of a partition is the commit point: it records
the next offset to read and, while a flush is under way, the files that flush is writing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

RAW_EVENTS = Path("raw/events")
QUARANTINE_EVENTS = Path("quarantine/events")
CHECKPOINTS = Path("_checkpoints")
TMP_SUFFIX = ".tmp"
PARTITION_PREFIX = "event_date="
"""A date-partitioned folder's name: the prefix, then the date (YYYY-MM-DD)."""
BLOOM_FILTER_COLUMNS = ("user_id",)
"""Columns whose Bloom filters a raw file carries: erasure finds a subject's files by them."""
PLAIN_COLUMNS = ("event_id", "event_time", "session_id", "price", "_offset")
"""Raw columns written without a dictionary: (nearly) one value per event, so building a
dictionary only to drop it costs time, and plain pages compress smaller under zstd (a 100 k-row
file: 2.7 MB against 3.5 MB, written about a fifth faster)."""


def data_file_name(topic: str, partition: int, first: int, last: int) -> str:
    """'+' cannot occur in a Kafka topic name, so the name splits back unambiguously."""
    return f"{topic}+{partition:05d}+{first:020d}+{last:020d}.parquet"


def event_date_dir(lake: Path, event_date: date) -> Path:
    return lake / RAW_EVENTS / f"{PARTITION_PREFIX}{event_date.isoformat()}"


def tmp_path(path: Path) -> Path:
    """Hidden and not ending in .parquet, so no reader's glob ever sees a half-written file."""
    return path.with_name(f".{path.name}{TMP_SUFFIX}")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_parquet_atomic(
    table: pa.Table,
    path: Path,
    *,
    row_group_size: int,
    sort_by: list[tuple[str, str]] | None = None,
    presorted: bool = False,
    bloom_filter_columns: tuple[str, ...] = (),
    plain_columns: tuple[str, ...] = (),
) -> int:
    """Write to a temporary name, fsync, rename; returns the file's size in bytes.

    Rows are sorted by sort_by (and the order recorded in the footer); presorted says the
    caller sorted them already. plain_columns are written without dictionary encoding.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if sort_by and not presorted:
        table = table.sort_by(sort_by)
    tmp = tmp_path(path)
    # ndv is an upper bound: pyarrow 26 folds each row group's filter down to its distinct
    # values at 1 % fpp, so the row count costs no bytes; a raw lake written with ndv = each row
    # group's distinct count came out byte for byte the same size, Bloom filters included.
    blooms = {
        name: {"ndv": max(table.num_rows, 1024), "fpp": 0.01}
        for name in bloom_filter_columns
        if name in table.column_names
    }
    with open(tmp, "wb") as sink:
        pq.write_table(
            table,
            sink,
            compression="zstd",
            row_group_size=row_group_size,
            bloom_filter_options=blooms or None,
            use_dictionary=(
                [name for name in table.column_names if name not in plain_columns]
                if plain_columns
                else True
            ),
            sorting_columns=(
                pq.SortingColumn.from_ordering(table.schema, sort_by) if sort_by else None
            ),
        )
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(tmp, path)
    return path.stat().st_size


@dataclass
class Checkpoint:
    """What the lake holds of one Kafka partition."""

    next_offset: int | None = None
    """First offset not yet in the lake; None when nothing of the partition has landed."""
    pending: list[str] = field(default_factory=list)
    """Files (relative to the lake) a flush started writing and has not committed yet."""


def checkpoint_path(lake: Path, topic: str, partition: int) -> Path:
    return lake / CHECKPOINTS / topic / f"{partition:05d}.json"


def read_checkpoint(lake: Path, topic: str, partition: int) -> Checkpoint:
    path = checkpoint_path(lake, topic, partition)
    try:
        return Checkpoint(**json.loads(path.read_text("utf-8")))
    except FileNotFoundError:
        return Checkpoint()


def write_checkpoint(lake: Path, topic: str, partition: int, checkpoint: Checkpoint) -> None:
    path = checkpoint_path(lake, topic, partition)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    with open(tmp, "w", encoding="utf-8") as sink:
        json.dump(asdict(checkpoint), sink)
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def recover_partition(lake: Path, topic: str, partition: int) -> int | None:
    """Undo a flush that did not commit; return the next offset to read (None: from the start).

    Files listed as pending belong to a flush that crashed before its checkpoint: their
    messages lie at or after next_offset and are read again, so the files are removed rather
    than trusted (the replay may cut its files at other offsets).
    """
    checkpoint = read_checkpoint(lake, topic, partition)
    if checkpoint.pending:
        for relative in checkpoint.pending:
            path = lake / relative
            for candidate in (path, tmp_path(path)):
                with contextlib.suppress(FileNotFoundError):
                    candidate.unlink()
                    log.info("removed uncommitted %s", candidate)
        write_checkpoint(lake, topic, partition, Checkpoint(checkpoint.next_offset))
    return checkpoint.next_offset
