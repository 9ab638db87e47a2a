"""Helpers for tests that run the dbt project: builds on a lake and DuckLake catalog of their
own. `catalog` is an EVENTLAKE_CATALOG string (sqlite:<path> or postgres:<libpq string>)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from eventlake.dbt.runner import PROJECT_DIR, run_dbt
from eventlake.lake.lakehouse import connect
from eventlake.lake.storage import is_remote, lake_storage

REPO = PROJECT_DIR


def lake_env(lake: Path | str, catalog: str) -> dict[str, str]:
    """The lake, the catalog, and dbt's target and logs beside the lake (beside a SQLite
    catalog, or in a scratch folder, for a bucket)."""
    if not is_remote(lake):
        work = Path(lake).parent
    elif catalog.startswith("sqlite:"):
        work = Path(catalog.removeprefix("sqlite:")).parent
    else:
        work = Path(tempfile.mkdtemp(prefix="eventlake-dbt-"))
    return dict(
        EVENTLAKE_LAKE_DIR=str(lake),
        EVENTLAKE_CATALOG=catalog,
        DBT_TARGET_PATH=dbt_target(work),
        DBT_LOG_PATH=str(work / "logs"),
        # As the production builds (runner.PRODUCTION_BUILD): dbt's unit tests run once, in
        # tests/dbt/test_unit_tests.py, not in every test's build.
        DBT_EXCLUDE_RESOURCE_TYPES="unit_test",
    )


PARSED: Path | None = None
"""partial_parse.msgpack of one `dbt parse` of the project in this test process (set by
conftest's dbt_partial_parse), or None: then each test's first dbt parses the whole project."""


def parse_once(folder: Path) -> Path | None:
    """`dbt parse` of the project into `folder`; returns the partial_parse.msgpack it wrote, or
    None (with dbt's output as a warning) when the parse failed."""
    done = run_dbt(
        "parse",
        cwd=REPO,
        env=lake_env(folder / "lake", f"sqlite:{folder / 'lakehouse.sqlite'}"),
        timeout=600,
    )
    parsed = folder / "target" / "partial_parse.msgpack"
    if done.returncode != 0 or not parsed.is_file():
        warnings.warn(
            "dbt parse failed, each test's first dbt parses the whole project: "
            + done.stdout[-2000:]
            + done.stderr[-1000:],
            stacklevel=2,
        )
        return None
    return parsed


def dbt_target(work: Path | str) -> str:
    """DBT_TARGET_PATH for a test: <work>/target, seeded with PARSED when it holds no
    partial_parse.msgpack yet. The test's first dbt then parses nothing, not the whole project
    (~6 s): the project's files read neither the lake nor the catalog at parse time (see the
    comments in profiles.yml and dbt_project.yml), so dbt's state check passes. A copy of the
    project that changes a file gets that file reparsed (dbt compares each file's hash); another
    target (dev, spark) fails the check: a full parse."""
    target = Path(work) / "target"
    seed = target / "partial_parse.msgpack"
    if PARSED is not None and not seed.exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PARSED, seed)
    return str(target)


def dbt(lake: Path | str, catalog: str, *args: str, check: bool = True) -> str:
    """Run dbt from the repo root on this lake and catalog; return its output."""
    done = run_dbt(*args, cwd=REPO, env=lake_env(lake, catalog), timeout=600)
    if check:
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done.stdout


def eventlake(lake: Path | str, catalog: str, *args: str) -> str:
    """Run the eventlake CLI in a process of its own from the repo root on this lake and
    catalog; return its output."""
    done = subprocess.run(
        [sys.executable, "-m", "eventlake.cli", *args],
        cwd=REPO,
        env=dict(os.environ, **lake_env(lake, catalog)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done.stdout


def eventlake_sql(lake: Path | str, catalog: str, sql: str) -> list[list[str]]:
    """The rows of `eventlake sql -c` (CSV, unbilled), header row first."""
    output = eventlake(lake, catalog, "sql", "-c", sql, "--format", "csv", "--allow-full-scan")
    return list(csv.reader(io.StringIO(output)))


PROJECT_FILES = (
    "dbt_project.yml",
    "profiles.yml",
    "models",
    "macros",
    "seeds",
    "snapshots",
    "data-tests",
    "analyses",
)
"""What a copy of the dbt project needs."""


def copy_project(folder: Path) -> Path:
    """The dbt project copied into `folder` (created): a project of its own to change or to run
    from another working directory."""
    folder.mkdir(parents=True)
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
        else:
            shutil.copy(source, folder / name)
    return folder


def query(lake: Path, catalog: str, sql: str) -> list[tuple]:
    """Run SQL on the lakehouse, read-only: names resolve in `main`, the published models (the
    build's own tables are `build.<model>`)."""
    with connect(catalog, lake, read_only=True) as connection:
        return connection.execute(sql).fetchall()


def file_identities(folder: Path | str) -> dict[str, tuple[int, int]]:
    """Parquet file -> (inode, mtime in ns) on disk, (size, mtime in ns) in a bucket: a rewrite
    changes one or the other (a bucket object has no inode, and DuckLake never reuses a name)."""
    if is_remote(folder):
        return {
            info.path: (info.size, info.mtime_ns)
            for info in lake_storage(folder).list_files("", suffix=".parquet")
        }
    folder = Path(folder)
    return {
        str(path.relative_to(folder)): (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*.parquet"))
    }
