"""What the lake holds, read from Parquet footers only (no data pages are scanned)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from eventlake.lake import QUARANTINE_EVENTS, RAW_EVENTS


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("**/*.parquet")) if folder.exists() else []


def lake_summary(lake_dir: Path) -> dict[str, int | str]:
    raw = _files(lake_dir / RAW_EVENTS)
    quarantined = _files(lake_dir / QUARANTINE_EVENTS)
    dates = sorted({p.parent.name.removeprefix("event_date=") for p in raw})
    return {
        "rows landed": sum(pq.ParquetFile(p).metadata.num_rows for p in raw),
        "event-date partitions": len(dates),
        "first event date": dates[0] if dates else "-",
        "last event date": dates[-1] if dates else "-",
        "files": len(raw),
        "bytes": sum(p.stat().st_size for p in raw),
        "DLQ (quarantined)": sum(pq.ParquetFile(p).metadata.num_rows for p in quarantined),
    }
