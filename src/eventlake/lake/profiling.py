"""What a DuckDB query read: files, row groups and bytes, from its EXPLAIN ANALYZE report.

Used by the pruning test and the benchmarks to show that a date filter opens only the files of
those dates and that the sort order lets a country filter skip row groups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from eventlake.exceptions import EventlakeError

UNITS = {"bytes": 1, "B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}


@dataclass(frozen=True)
class ScanProfile:
    """Totals over every Parquet scan of one query."""

    files_read: int
    """Files the scans opened."""
    files_total: int
    """Files the scans' globs matched before pruning."""
    row_groups_scanned: int
    row_groups_total: int
    """Row groups in the files opened."""
    bytes_read: int
    """Bytes DuckDB read from storage ("Data Read")."""
    seconds: float


def _number(pattern: str, text: str) -> list[tuple[str, ...]]:
    return re.findall(pattern, text)


def profile(connection: duckdb.DuckDBPyConnection, sql: str) -> ScanProfile:
    """Run `sql` under EXPLAIN ANALYZE and add up what its scans read."""
    report = "\n".join(row[1] for row in connection.sql(f"explain analyze {sql}").fetchall())
    data = _number(r"Data Read:\s+([\d.]+)\s*([A-Za-z]+)", report)
    seconds = _number(r"Total Time:\s+([\d.]+)s", report)
    if not data or not seconds:
        raise EventlakeError(f"expected 'Data Read' and 'Total Time' in the profile, got {report}")
    files = _number(r"Scanning Files:\s+(\d+)\s*/\s*(\d+)", report)
    opened = _number(r"Total Files Read:\s+(\d+)", report)
    groups = _number(r"Row Groups Scanned:\s+(\d+)\s*/\s*(\d+)", report)
    value, unit = data[0]
    return ScanProfile(
        files_read=sum(int(read) for read in opened),
        files_total=sum(int(total) for _, total in files) or sum(int(read) for read in opened),
        row_groups_scanned=sum(int(scanned) for scanned, _ in groups),
        row_groups_total=sum(int(total) for _, total in groups),
        bytes_read=int(float(value) * UNITS[unit]),
        seconds=float(seconds[0]),
    )
