"""What the lake holds: the raw lake from Parquet footers only (no data pages are scanned),
and what readers of the lakehouse see: the published build (schema `main`)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from eventlake.lake.lakehouse import ALIAS, PUBLISHED_SCHEMA, connect
from eventlake.lake.layout import PARTITION_PREFIX, QUARANTINE_EVENTS, RAW_EVENTS
from eventlake.lake.maintenance import PINNED_VERSION, lakehouse_exists


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("**/*.parquet")) if folder.exists() else []


def lake_summary(lake_dir: Path) -> dict[str, int | str]:
    raw = _files(lake_dir / RAW_EVENTS)
    quarantined = _files(lake_dir / QUARANTINE_EVENTS)
    dates = sorted({p.parent.name.removeprefix(PARTITION_PREFIX) for p in raw})
    return {
        "rows landed": sum(pq.ParquetFile(p).metadata.num_rows for p in raw),
        "event-date partitions": len(dates),
        "first event date": dates[0] if dates else "-",
        "last event date": dates[-1] if dates else "-",
        "files": len(raw),
        "bytes": sum(p.stat().st_size for p in raw),
        "DLQ (quarantined)": sum(pq.ParquetFile(p).metadata.num_rows for p in quarantined),
    }


def lakehouse_summary(catalog: str, lake_dir: Path) -> dict[str, int | str]:
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
