"""Deleted rows leave the DuckDB file: the warehouse is copied into a new file and swapped in.

A DELETE in DuckDB marks rows deleted; their bytes stay in the file's blocks until a row group
is rewritten, and a CHECKPOINT reclaims only row groups deleted whole. `COPY FROM DATABASE`
writes every table, view, constraint and sequence into a fresh file that holds only live rows;
an atomic rename then replaces the old file, whose blocks the file system frees. Call it with
nothing else holding the warehouse (under the lake's maintenance lock, which builds share).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from eventlake.lake import fsync_dir


@dataclass(frozen=True)
class StorageRewrite:
    bytes_before: int
    bytes_after: int
    seconds: float


def rewrite_warehouse(warehouse: Path) -> StorageRewrite:
    started = time.perf_counter()
    warehouse = Path(warehouse)
    before = warehouse.stat().st_size
    rewrite = warehouse.with_name(f".{warehouse.name}.rewrite")
    for leftover in (rewrite, rewrite.with_name(rewrite.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("checkpoint")
        ((catalog,),) = connection.execute("select current_database()").fetchall()
        connection.execute("attach ? as eventlake_rewrite", [str(rewrite)])
        connection.execute(f'copy from database "{catalog}" to eventlake_rewrite')
        connection.execute("detach eventlake_rewrite")
    with open(rewrite, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(rewrite, warehouse)
    with contextlib.suppress(FileNotFoundError):
        warehouse.with_name(warehouse.name + ".wal").unlink()
    fsync_dir(warehouse.parent)
    return StorageRewrite(before, warehouse.stat().st_size, time.perf_counter() - started)
