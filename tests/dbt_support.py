"""Helpers for tests that run the dbt project: builds on a lake and warehouse of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
DBT = Path(sys.executable).parent / "dbt"


def dbt(lake: Path, warehouse: Path, *args: str, check: bool = True) -> str:
    """Run dbt from the repo root on this lake and warehouse; return its output."""
    work = warehouse.parent
    env = dict(
        os.environ,
        EVENTLAKE_LAKE_DIR=str(lake),
        EVENTLAKE_WAREHOUSE=str(warehouse),
        DBT_TARGET_PATH=str(work / "target"),
        DBT_LOG_PATH=str(work / "logs"),
    )
    done = subprocess.run(
        [str(DBT), *args, "--profiles-dir", ".", "--project-dir", "."],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done.stdout


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.sql(sql).fetchall()


def file_identities(folder: Path) -> dict[str, tuple[int, int]]:
    """Parquet file -> (inode, mtime in ns): a rewrite changes one or the other."""
    return {
        str(path.relative_to(folder)): (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*.parquet"))
    }
