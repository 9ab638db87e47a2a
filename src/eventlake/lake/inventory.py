"""What the lake holds: the raw lake from Parquet footers only (no data pages are scanned),
and what readers of the lakehouse see: the published build (schema `main`). The lake is a
folder or a bucket (eventlake.lake.storage); only the files a reader reads count
(layout.readable): not a flush under way or one that crashed, nor the inputs of a merge that
are not deleted yet."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from eventlake.lake.lakehouse import ALIAS, PUBLISHED_SCHEMA, connect
from eventlake.lake.layout import (
    PARTITION_PREFIX,
    QUARANTINE_EVENTS,
    RAW_EVENTS,
    read_checkpoints,
    readable,
)
from eventlake.lake.maintenance import PINNED_VERSION, lakehouse_exists
from eventlake.lake.storage import LakeStorage, lake_storage


def _files(storage: LakeStorage, folder: Path, checkpoints) -> list[pafs.FileInfo]:
    """The files a reader reads (layout.readable): committed, and not superseded by a merge."""
    listed = storage.list_files(folder.as_posix(), suffix=".parquet")
    keep = set(readable([info.path for info in listed], checkpoints))
    return [info for info in listed if info.path in keep]


def _rows(storage: LakeStorage, files: list[pafs.FileInfo]) -> int:
    """Rows from the footers: one ranged read (a GET on a bucket) per file."""
    total = 0
    for info in files:
        with storage.fs.open_input_file(info.path) as source:
            total += pq.ParquetFile(source).metadata.num_rows
    return total


def lake_summary(lake_dir: Path | str) -> dict[str, int | str]:
    storage = lake_storage(lake_dir)
    checkpoints = read_checkpoints(lake_dir)
    raw = _files(storage, RAW_EVENTS, checkpoints)
    quarantined = _files(storage, QUARANTINE_EVENTS, checkpoints)
    dates = sorted({i.path.split("/")[-2].removeprefix(PARTITION_PREFIX) for i in raw})
    return {
        "rows landed": _rows(storage, raw),
        "event-date partitions": len(dates),
        "first event date": dates[0] if dates else "-",
        "last event date": dates[-1] if dates else "-",
        "files": len(raw),
        "bytes": sum(i.size for i in raw),
        "DLQ (quarantined)": _rows(storage, quarantined),
    }


def lakehouse_summary(catalog: str, lake_dir: Path | str) -> dict[str, int | str]:
    """The published build as readers see it (schema main), and the lakehouse's data files
    (the current snapshot's, as DuckLake lists them); read-only."""
    if not lakehouse_exists(catalog):
        return {"lakehouse": f"no catalog at {catalog} yet (dbt build creates it)"}
    with connect(catalog, lake_dir, read_only=True) as connection:
        published = _published_snapshot(connection)
        summary: dict[str, int | str] = {"published build": published or "none yet"}
        if published is not None:
            summary.update(_published_events(connection))
        files, size = connection.execute(
            f"select coalesce(sum(file_count), 0), coalesce(sum(file_size_bytes), 0)"
            f" from ducklake_table_info('{ALIAS}')"
        ).fetchone()
    return {**summary, "lakehouse files": files, "lakehouse bytes": size}


def _published_events(connection: duckdb.DuckDBPyConnection) -> dict[str, int | str]:
    events, days, first, last = connection.execute(
        f"select count(*), count(distinct event_date), min(event_date), max(event_date)"
        f" from {PUBLISHED_SCHEMA}.events"
    ).fetchone()
    quarantined = connection.execute(
        f"select count(*) from {PUBLISHED_SCHEMA}.fct_events_quarantine"
    ).fetchone()[0]
    return {
        "published events": events,
        "published event dates": days,
        "published first date": str(first) if first else "-",
        "published last date": str(last) if last else "-",
        "published quarantined": quarantined,
    }


def _published_snapshot(connection: duckdb.DuckDBPyConnection) -> str | None:
    """'snapshot N at <time>' of the view main.fct_events (publish_build pins it), or None."""
    found = connection.execute(
        "select sql from duckdb_views() where database_name = ? and schema_name = ?"
        " and view_name = 'fct_events'",
        [ALIAS, PUBLISHED_SCHEMA],
    ).fetchone()
    pinned = PINNED_VERSION.search(found[0]) if found else None
    if pinned is None:
        return None
    version = int(pinned.group(1))
    at = connection.execute(
        f"select snapshot_time from {ALIAS}.snapshots() where snapshot_id = ?", [version]
    ).fetchone()
    return f"snapshot {version}" + (f" at {at[0]:%Y-%m-%d %H:%M:%S} UTC" if at else "")
