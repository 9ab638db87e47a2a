"""DuckLake's own maintenance of the curated lakehouse: merge small files, expire old
snapshots, delete the files no snapshot references any more.

Every build appends files (a 15-minute build writes small ones) and every delete leaves the old
files to time travel. `eventlake compact` runs all three steps, `eventlake retention` the last
two after it deleted expired rows:

1. merge: ``ducklake_merge_adjacent_files`` merges a table's small files (per partition).
   Snapshots keep reading the merged file, so time travel and the change feeds the models read
   (``ducklake_table_changes``) are unchanged (checked: no change row). Files with deleted rows
   are rewritten by the erasure purge, which moves the watermarks past the rewrite.
2. expire: the snapshots older than the time-travel window (EVENTLAKE_SNAPSHOT_RETENTION_DAYS,
   7 days) are expired, but never one a reader or a build still needs: the snapshot the
   published views are pinned to (`at (version => N)`, see the macro publish_build), nor the
   one in effect at any model's watermark (control.model_watermarks: the change feed from a
   watermark needs the snapshot it starts at; an expired one reads as "no change"). The
   snapshots go by id (``versions =>``), never by ``older_than``, which a SQLite catalog
   compares by day only.
3. clean up: ``ducklake_cleanup_old_files`` deletes the files released (merged away, or only
   referenced by expired snapshots) before the grace (EVENTLAKE_FILE_CLEANUP_GRACE_HOURS, 1
   hour), so a query that started before them still finds them. DuckLake compares that instant
   by day on a SQLite catalog, so it is passed as the last instant of a UTC day, which both
   catalogs read alike: a file goes at the first run on a later UTC day than its release, and
   at least the grace after it. A grace of 0 deletes every released file at once.

`plan_maintenance` only reads; `merge_files` and `expire_and_clean` act. Run them under the
lake's maintenance lock (no build runs meanwhile).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import duckdb

from eventlake.config import env_int
from eventlake.exceptions import ConfigError
from eventlake.lake.lakehouse import ALIAS, PINNED_VERSION, connect
from eventlake.lake.lock import maintenance_lock

log = logging.getLogger(__name__)

EXPIRE_BATCH = 1000
MAX_TIME_TRAVEL_DAYS = 30  # erasure must be done within 30 days: no older snapshot may hold data


@dataclass(frozen=True)
class MaintenanceConfig:
    """How long the lakehouse keeps old snapshots and released files."""

    snapshot_retention_days: int = 7
    """EVENTLAKE_SNAPSHOT_RETENTION_DAYS: the time-travel window. Snapshots older than this are
    expired (unless the published views or a model's watermark need them); at most the 30-day
    erasure window."""
    cleanup_grace_hours: int = 1
    """EVENTLAKE_FILE_CLEANUP_GRACE_HOURS: a released file is deleted from disk no sooner than
    this after its release, so running queries keep their files."""

    def __post_init__(self) -> None:
        if not 0 <= self.snapshot_retention_days <= MAX_TIME_TRAVEL_DAYS:
            raise ConfigError(
                f"EVENTLAKE_SNAPSHOT_RETENTION_DAYS must be 0 to {MAX_TIME_TRAVEL_DAYS} (the "
                f"erasure window), got {self.snapshot_retention_days}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MaintenanceConfig:
        env = os.environ if env is None else env
        return cls(
            snapshot_retention_days=env_int(
                env, "EVENTLAKE_SNAPSHOT_RETENTION_DAYS", cls.snapshot_retention_days
            ),
            cleanup_grace_hours=env_int(
                env, "EVENTLAKE_FILE_CLEANUP_GRACE_HOURS", cls.cleanup_grace_hours
            ),
        )


@dataclass(frozen=True)
class MaintenancePlan:
    """What expire and clean up would remove; read without changing anything."""

    now: datetime
    expire_before: datetime
    """Snapshots taken before this are outside the time-travel window."""
    kept_from: int | None
    """The oldest snapshot someone needs (published views, watermarks); it and every later one
    stay. None: nobody pins one."""
    held_by: str
    """Who needs kept_from."""
    snapshots: tuple[int, ...]
    """Snapshot ids to expire."""
    held: int
    """Snapshots older than the window that stay because someone needs kept_from."""
    cleanup_before: datetime | None
    """Files released before this are deleted; None: every released file (no grace)."""
    files: tuple[str, ...]
    """Files already released before cleanup_before (expiring the snapshots releases more)."""


@dataclass(frozen=True)
class MergeResult:
    """What the merge step did, per the DuckLake functions' own counts."""

    tables: int
    files_in: int
    files_out: int


def lakehouse_exists(catalog: str) -> bool:
    """False for a SQLite catalog whose file does not exist yet (nothing built): attaching
    would create an empty one."""
    kind, _, location = catalog.partition(":")
    return kind != "sqlite" or Path(location).is_file()


@contextlib.contextmanager
def open_lakehouse(
    catalog: str, lake_dir: Path, *, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(catalog, lake_dir, read_only=read_only)
    try:
        yield connection
    finally:
        connection.close()


def cleanup_instant(now: datetime, grace: timedelta) -> datetime | None:
    """The last instant of the UTC day before the one holding now - grace; None for no grace."""
    if not grace:
        return None
    day = (now - grace).astimezone(UTC).date()
    return datetime.combine(day, time(), UTC) - timedelta(microseconds=1)


def _cleanup_old_files(
    connection: duckdb.DuckDBPyConnection, before: datetime | None, *, dry_run: bool
) -> list[str]:
    """ducklake_cleanup_old_files: the paths it deletes (or would)."""
    which = "cleanup_all => true" if before is None else "older_than => ?"
    rows = connection.execute(
        f"call ducklake_cleanup_old_files('{ALIAS}', dry_run => {str(dry_run).lower()}, {which})",
        [] if before is None else [before],
    ).fetchall()
    return [path for (path,) in rows]


def _pinned_versions(connection: duckdb.DuckDBPyConnection) -> list[int]:
    rows = connection.execute(
        "select sql from duckdb_views() where database_name = ?", [ALIAS]
    ).fetchall()
    return [int(version) for (sql,) in rows for version in PINNED_VERSION.findall(sql or "")]


def _watermark_snapshots(connection: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    """(model <- upstream, the snapshot in effect at its watermark) per pair; a pair's newest
    row is its watermark (the table is append-only on DuckLake)."""
    exists = connection.execute(
        "select count(*) from duckdb_tables() where database_name = ? "
        "and schema_name = 'control' and table_name = 'model_watermarks'",
        [ALIAS],
    ).fetchone()[0]
    if not exists:
        return []
    rows = connection.execute(
        f"""
        with watermarks as (
            select model_name, upstream_name, max(consumed_through) as consumed_through
            from {ALIAS}.control.model_watermarks
            group by all
        )
        select
            watermarks.model_name || ' <- ' || watermarks.upstream_name,
            max(snapshots.snapshot_id)
        from watermarks
        left join {ALIAS}.snapshots() as snapshots
            on snapshots.snapshot_time <= watermarks.consumed_through
        group by all
        """
    ).fetchall()
    return [(name, snapshot) for name, snapshot in rows if snapshot is not None]


def plan_maintenance(
    connection: duckdb.DuckDBPyConnection, now: datetime, config: MaintenanceConfig
) -> MaintenancePlan:
    """The snapshots to expire and the files due for deletion, as of now."""
    needed = [(version, "the published views") for version in _pinned_versions(connection)]
    needed += [
        (version, f"the watermark of {name}") for name, version in _watermark_snapshots(connection)
    ]
    kept_from, held_by = min(needed) if needed else (None, "")
    expire_before = now - timedelta(days=config.snapshot_retention_days)
    latest = connection.execute(f"select max(snapshot_id) from {ALIAS}.snapshots()").fetchone()[0]
    bound = latest if kept_from is None else min(kept_from, latest)
    old = connection.execute(
        f"select snapshot_id from {ALIAS}.snapshots() where snapshot_time < ? order by 1",
        [expire_before],
    ).fetchall()
    snapshots = tuple(s for (s,) in old if s < bound)
    cleanup_before = cleanup_instant(now, timedelta(hours=config.cleanup_grace_hours))
    files = _cleanup_old_files(connection, cleanup_before, dry_run=True)
    return MaintenancePlan(
        now=now,
        expire_before=expire_before,
        kept_from=kept_from,
        held_by=held_by,
        snapshots=snapshots,
        held=len(old) - len(snapshots),
        cleanup_before=cleanup_before,
        files=tuple(files),
    )


def merge_files(connection: duckdb.DuckDBPyConnection) -> MergeResult:
    """Merge each table's small files. Files with deleted rows are not rewritten here: DuckLake's
    change feed shows a rewrite as its rows deleted and inserted again, which the models reading
    it (fct_training_events) would take as new rows; the erasure purge rewrites them and moves those
    models' watermarks past the rewrite."""
    rows = connection.execute(f"call ducklake_merge_adjacent_files('{ALIAS}')").fetchall()
    result = MergeResult(
        tables=len({(schema, table) for schema, table, *_ in rows}),
        files_in=sum(row[2] for row in rows),
        files_out=sum(row[3] for row in rows),
    )
    log.info(
        "merged %d files of %d tables into %d", result.files_in, result.tables, result.files_out
    )
    return result


def expire_and_clean(connection: duckdb.DuckDBPyConnection, plan: MaintenancePlan) -> int:
    """Expire the planned snapshots, then delete every file released before the plan's
    cleanup instant; returns the files deleted."""
    for start in range(0, len(plan.snapshots), EXPIRE_BATCH):
        versions = list(plan.snapshots[start : start + EXPIRE_BATCH])
        connection.execute(
            f"call ducklake_expire_snapshots('{ALIAS}', versions => ?)", [versions]
        ).fetchall()
    log.info(
        "expired %d snapshots taken before %s (kept from %s: %s)",
        len(plan.snapshots),
        plan.expire_before.isoformat(),
        plan.kept_from,
        plan.held_by or "nobody pins one",
    )
    deleted = _cleanup_old_files(connection, plan.cleanup_before, dry_run=False)
    log.info("deleted %d files released before %s", len(deleted), plan.cleanup_before or "now")
    return len(deleted)


@dataclass(frozen=True)
class MaintenanceReport:
    """What a run found and did."""

    plan: MaintenancePlan
    merged: MergeResult | None
    """None: a dry run, or no merge asked for."""
    files_deleted: int | None
    """None: a dry run."""


def maintain(
    catalog: str,
    lake_dir: Path,
    now: datetime,
    config: MaintenanceConfig,
    *,
    merge: bool = True,
    apply: bool = False,
) -> MaintenanceReport:
    """Plan, and with apply=True merge (if asked), expire and clean up, under the lake's
    maintenance lock."""
    if not apply:
        with open_lakehouse(catalog, lake_dir, read_only=True) as connection:
            return MaintenanceReport(plan_maintenance(connection, now, config), None, None)
    with maintenance_lock(lake_dir, catalog), open_lakehouse(catalog, lake_dir) as connection:
        plan = plan_maintenance(connection, now, config)
        merged = merge_files(connection) if merge else None
        return MaintenanceReport(plan, merged, expire_and_clean(connection, plan))
