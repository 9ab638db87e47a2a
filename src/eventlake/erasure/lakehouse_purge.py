"""Erased rows leave the lakehouse's files: DuckLake's own rewrite, expiry and clean-up.

A DuckLake DELETE (the dbt macro erase_subjects) writes a delete file beside each data file
holding a subject; the rows stay in the old data file, which every snapshot taken before the
delete still reads. So, once the models have consumed the deletes:

1. ``ducklake_rewrite_data_files(delete_threshold => 0)``: every data file with deleted rows is
   written anew without them (files with no delete keep their inode and mtime);
2. the watermarks of the models reading a rewritten table (control.model_watermarks) move past
   the rewrite: the change feed shows a rewrite as its rows deleted and inserted again, which
   those models had already consumed;
3. the published views are re-pinned to the rewritten snapshot (``publish``, dbt's
   publish_build);
4. after ``grace_seconds``, ``ducklake_expire_snapshots``: every snapshot older than the one the
   views are pinned to is expired, by id, so no snapshot references the old files any more. A
   query that started on the old snapshot before step 3 has those seconds to finish: expiry
   deletes the catalog rows of that snapshot's views, so a query still binding its names
   would find no table. Time travel restarts at each erasure pass: the project's time-travel
   window (EVENTLAKE_SNAPSHOT_RETENTION_DAYS) holds only the snapshots taken since the last
   pass;
5. ``ducklake_cleanup_old_files`` deletes the released files (every released file goes, those
   compaction released earlier included: the wait is before step 4, since a SQLite catalog
   compares ``older_than`` by day and would delete this pass's files at once); then
   ``ducklake_delete_orphaned_files`` deletes the files no commit recorded (a build killed
   midway) once older than ``ORPHAN_AFTER``, so an analyst's dev build still writing keeps its
   files;
6. a SQLite catalog is vacuumed: the catalog rows of the old files (their column statistics
   name the subjects) leave its free pages too.

It waits while a model has not consumed its upstream's changes (``lagging``): after the
deletes, until a build has recomputed the rollups. Expiring then would take the deletes out
of the change feed before the rollups saw them. The caller keeps the step pending, and a
later pass purges. Call under the lake's maintenance lock (no build runs meanwhile).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb

from eventlake.config import Settings
from eventlake.lake.lakehouse import ALIAS, BUILD_SCHEMA, PINNED_VERSION, PUBLISHED_SCHEMA

log = logging.getLogger(__name__)

ORPHAN_AFTER = timedelta(hours=1)
"""Files no commit recorded are deleted once this old (a dev build may still be writing)."""


@dataclass(frozen=True)
class LakehousePurge:
    """What one purge did, or why it waited."""

    lagging: tuple[str, ...] = ()
    """`model <- upstream` watermarks with changes not consumed yet: nothing was done."""
    tables_rewritten: int = 0
    files_rewritten: int = 0
    """Data files with deleted rows, written anew without them."""
    files_written: int = 0
    snapshots_expired: int = 0
    files_removed: int = 0
    """Files deleted from disk: released by the expiry (old data and delete files), and
    orphans."""
    pinned_version: int | None = None
    """The snapshot the published views are pinned to: time travel starts there."""
    seconds: float = 0.0

    @property
    def done(self) -> bool:
        return not self.lagging


def lagging(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """`model <- upstream` of the watermarks whose upstream (a table of the build schema) has
    inserted or deleted rows since the model consumed it. A rewrite of files (an update's
    pre- and post-images of the same rows) changes nothing a model reads."""
    if not _has_watermarks(connection):
        return []
    rows = connection.execute(
        f"""
        select watermarks.model_name, watermarks.upstream_name,
            cast(max(watermarks.consumed_through) as varchar)
        from {ALIAS}.control.model_watermarks as watermarks
        inner join duckdb_tables() as upstream
            on upstream.database_name = '{ALIAS}'
            and upstream.schema_name = '{BUILD_SCHEMA}'
            and upstream.table_name = watermarks.upstream_name
        where watermarks.model_name not like '%.%'  -- production's; dev rows are <schema>.<model>
        group by all
        order by all
        """
    ).fetchall()
    behind = []
    for model, upstream, since in rows:
        (changes,) = connection.execute(
            f"select count(*) from ducklake_table_changes('{ALIAS}', '{BUILD_SCHEMA}', ?, "
            f"cast('{since}' as timestamp with time zone), now()) "
            "where change_type in ('insert', 'delete')",
            [upstream],
        ).fetchone()
        if changes:
            behind.append(f"{model} <- {upstream}")
    return behind


def purge(
    settings: Settings,
    publish: Callable[[], None],
    *,
    grace_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> LakehousePurge:
    """Rewrite, re-pin, expire and clean up (see the module docstring); waits (does nothing)
    while a model has changes to consume."""
    started = time.perf_counter()
    with contextlib.closing(settings.connect()) as connection:
        behind = lagging(connection)
        if behind:
            log.info("lakehouse purge waits: %s not consumed yet", ", ".join(behind))
            return LakehousePurge(lagging=tuple(behind))
        rewritten = connection.execute(
            f"call ducklake_rewrite_data_files('{ALIAS}', delete_threshold => 0)"
        ).fetchall()
        tables = sorted({table for schema, table, *_ in rewritten if schema == BUILD_SCHEMA})
        _advance_watermarks(connection, tables)
    publish()
    # A query that started before the views moved still reads the old snapshot: its views'
    # catalog rows (which expiry deletes) and its files (which cleanup deletes). It gets
    # grace_seconds for both: expiring at once failed such a reader with "Table with name
    # events does not exist" (tests/lake/test_concurrency.py, once in about 1,800 queries).
    sleep(grace_seconds)
    with contextlib.closing(settings.connect()) as connection:
        pinned = _pinned_version(connection)
        expired = _expire_before(connection, pinned)
        removed = connection.execute(
            f"call ducklake_cleanup_old_files('{ALIAS}', cleanup_all => true)"
        ).fetchall()
        orphans = connection.execute(
            f"call ducklake_delete_orphaned_files('{ALIAS}', older_than => ?)",
            [_now(connection) - ORPHAN_AFTER],
        ).fetchall()
    _vacuum_sqlite(settings.catalog)
    result = LakehousePurge(
        tables_rewritten=len({(schema, table) for schema, table, *_ in rewritten}),
        files_rewritten=sum(row[2] for row in rewritten),
        files_written=sum(row[3] for row in rewritten),
        snapshots_expired=expired,
        files_removed=len(removed) + len(orphans),
        pinned_version=pinned,
        seconds=time.perf_counter() - started,
    )
    log.info(
        "lakehouse purge: %d files of %d tables rewritten into %d, %d snapshots expired "
        "(time travel from snapshot %s), %d files removed, in %.1f s",
        result.files_rewritten,
        result.tables_rewritten,
        result.files_written,
        result.snapshots_expired,
        result.pinned_version,
        result.files_removed,
        result.seconds,
    )
    return result


def _has_watermarks(connection: duckdb.DuckDBPyConnection) -> bool:
    (exists,) = connection.execute(
        "select count(*) from duckdb_tables() where database_name = ? "
        "and schema_name = 'control' and table_name = 'model_watermarks'",
        [ALIAS],
    ).fetchone()
    return bool(exists)


def _advance_watermarks(connection: duckdb.DuckDBPyConnection, upstreams: list[str]) -> None:
    """Past the rewrite just committed, in one commit of their own (at the rewrite's own
    commit the feed would still show it)."""
    if upstreams and _has_watermarks(connection):
        connection.execute(
            f"update {ALIAS}.control.model_watermarks "
            "set consumed_through = now(), updated_at = now() where upstream_name = any(?)",
            [upstreams],
        )


def _pinned_version(connection: duckdb.DuckDBPyConnection) -> int:
    """The oldest snapshot a published view is pinned to, else the latest snapshot."""
    views = connection.execute(
        "select sql from duckdb_views() where database_name = ? and schema_name = ?",
        [ALIAS, PUBLISHED_SCHEMA],
    ).fetchall()
    pins = [int(v) for (sql,) in views for v in PINNED_VERSION.findall(sql or "")]
    (latest,) = connection.execute(f"select max(snapshot_id) from {ALIAS}.snapshots()").fetchone()
    return min([*pins, latest])


def _expire_before(connection: duckdb.DuckDBPyConnection, version: int) -> int:
    """Expire every snapshot older than `version`, by id; returns how many."""
    ids = [
        snapshot
        for (snapshot,) in connection.execute(
            f"select snapshot_id from {ALIAS}.snapshots() where snapshot_id < ? order by 1",
            [version],
        ).fetchall()
    ]
    if ids:
        connection.execute(
            f"call ducklake_expire_snapshots('{ALIAS}', versions => ?)", [ids]
        ).fetchall()
    return len(ids)


def _now(connection: duckdb.DuckDBPyConnection):
    return connection.execute("select now()").fetchone()[0]


def _vacuum_sqlite(catalog: str) -> None:
    """Rewrite a SQLite catalog without its free pages (where the deleted catalog rows' bytes
    stay), then fold the WAL into it. A reader holding an old snapshot only delays the fold; a
    writer holding the catalog past the timeout (an analyst's dev build) leaves it to the next
    pass."""
    kind, _, location = catalog.partition(":")
    if kind != "sqlite":
        return
    try:
        with contextlib.closing(sqlite3.connect(Path(location), timeout=60)) as database:
            database.execute("vacuum")
            database.execute("pragma wal_checkpoint(truncate)")
    except sqlite3.OperationalError as error:
        log.warning("catalog not vacuumed (%s): the next pass vacuums it", error)
