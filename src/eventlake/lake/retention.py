"""Expire what is older than the retention window: raw lake partitions, then the models' rows.

Raw lake: every `event_date=YYYY-MM-DD` partition older than today minus keep_days under the
date-partitioned areas (raw/events; on the Spark target also the folders of its lake_partitions
tables, SPARK_AREAS) is removed. The quarantine table (quarantine/events) is not
date-partitioned (its files are named by offsets), so it is not expired here.

A partition is first renamed into `<lake>/.trash/<area>/` (one atomic rename on the same file
system), then deleted: readers see the whole partition or none of it. The trash is outside every
area's glob on purpose: DuckDB's `*` also matches hidden names, so a hidden folder next to the
partitions would still be read (as a partition with a bogus event_date). Trash left by a crashed
run is removed by the next one.

In a bucket (eventlake.lake.storage) there is no rename: a partition's objects are deleted one
by one (under the maintenance lock, which a build holds too, so no build lists a partition
half gone); a crash leaves the rest of an expired partition, which the next run plans again.

Lakehouse: `dbt run-operation expire_partitions` (macros/retention/expire_partitions.sql) deletes
the rows of models that declare `meta.retention` from the DuckLake tables and re-publishes the
readers' views; this module computes its dates from `today`. The files of the deleted rows
leave the disk once no snapshot of the time-travel window holds them
(eventlake.lake.maintenance).

`plan_retention` only reads; `apply_retention` and `expire_lakehouse` act.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from eventlake.config import env_int
from eventlake.dbt.runner import dbt_command
from eventlake.exceptions import ConfigError, LakeError
from eventlake.lake import layout
from eventlake.lake.layout import PARTITION_PREFIX
from eventlake.lake.storage import is_remote, lake_storage

log = logging.getLogger(__name__)

AREAS = (layout.RAW_EVENTS,)
# The Spark target's lake_partitions tables are folders of the lake too (DuckLake's files are
# DuckLake's: retention deletes their rows).
SPARK_AREAS = (*AREAS, Path("curated/fct_events"), Path("curated/fct_training_events"))
TRASH = Path(".trash")


@dataclass(frozen=True)
class RetentionConfig:
    """How long the lake and the lakehouse keep data."""

    keep_days: int = 730
    """EVENTLAKE_KEEP_DAYS: raw partitions (and the models' rows) with an event_date before
    today minus this many days are expired."""
    rollup_keep_days: int = 1825
    """EVENTLAKE_ROLLUP_KEEP_DAYS: rollups (models with meta.retention.keep: rollup) keep their
    rows this many days."""
    areas: tuple[Path, ...] = AREAS
    """Date-partitioned folders, relative to the lake, whose event_date= partitions expire:
    SPARK_AREAS when EVENTLAKE_DBT_TARGET is spark."""

    def __post_init__(self) -> None:
        for name in ("keep_days", "rollup_keep_days"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be 1 or more, got {getattr(self, name)}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RetentionConfig:
        env = os.environ if env is None else env
        return cls(
            keep_days=env_int(env, "EVENTLAKE_KEEP_DAYS", cls.keep_days),
            rollup_keep_days=env_int(env, "EVENTLAKE_ROLLUP_KEEP_DAYS", cls.rollup_keep_days),
            areas=SPARK_AREAS if env.get("EVENTLAKE_DBT_TARGET") == "spark" else AREAS,
        )


@dataclass(frozen=True)
class ExpiredPartition:
    """One event_date partition of one area that falls out of the window."""

    area: Path
    event_date: date
    path: Path
    """The partition's folder (relative to the lake when the lake is a bucket)."""
    files: int
    """Parquet files in it."""
    bytes: int
    """Bytes of every file in it."""


@dataclass(frozen=True)
class AreaTotals:
    partitions: int = 0
    files: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class RetentionPlan:
    """What a run would remove; built without changing anything."""

    lake_dir: Path | str
    today: date
    before_date: date
    """Partitions and rows with an event_date before this expire."""
    rollup_before_date: date
    """Rollup rows with a date before this expire."""
    partitions: tuple[ExpiredPartition, ...]
    leftovers: tuple[Path, ...]
    """Trash of a run that crashed before deleting it."""
    areas: tuple[Path, ...] = AREAS

    def totals(self) -> dict[Path, AreaTotals]:
        """Per area (every configured one, also when nothing in it expires)."""
        totals = {area: AreaTotals() for area in self.areas}
        for expired in self.partitions:
            seen = totals[expired.area]
            totals[expired.area] = AreaTotals(
                seen.partitions + 1, seen.files + expired.files, seen.bytes + expired.bytes
            )
        return totals


def cutoffs(today: date, config: RetentionConfig) -> tuple[date, date]:
    """(before_date, rollup_before_date): the first day each keeps."""
    return today - timedelta(days=config.keep_days), today - timedelta(days=config.rollup_keep_days)


def _partition_date(folder: Path) -> date | None:
    if not folder.name.startswith(PARTITION_PREFIX) or not folder.is_dir():
        return None
    try:
        return date.fromisoformat(folder.name.removeprefix(PARTITION_PREFIX))
    except ValueError:
        log.warning("not a date partition, left as it is: %s", folder)
        return None


def _size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sum(p.suffix == ".parquet" for p in files), sum(p.stat().st_size for p in files)


def _plan_in_bucket(
    lake_dir: str, before_date: date, areas: tuple[Path, ...]
) -> list[ExpiredPartition]:
    """The expired partitions of a bucket's areas, from one listing per area."""
    storage = lake_storage(lake_dir)
    partitions = []
    for area in areas:
        by_folder: dict[str, list[int]] = {}
        for info in storage.list_files(area.as_posix()):
            folder = info.path.removeprefix(area.as_posix() + "/").split("/")[0]
            by_folder.setdefault(folder, []).append(info.size)
        for folder, sizes in sorted(by_folder.items()):
            if not folder.startswith(PARTITION_PREFIX):
                continue
            try:
                event_date = date.fromisoformat(folder.removeprefix(PARTITION_PREFIX))
            except ValueError:
                log.warning("not a date partition, left as it is: %s/%s", area, folder)
                continue
            if event_date < before_date:
                partitions.append(
                    ExpiredPartition(area, event_date, area / folder, len(sizes), sum(sizes))
                )
    return partitions


def plan_retention(lake_dir: Path | str, today: date, config: RetentionConfig) -> RetentionPlan:
    """The partitions older than the window, per area; changes nothing."""
    before_date, rollup_before_date = cutoffs(today, config)
    if is_remote(lake_dir):
        return RetentionPlan(
            lake_dir=lake_dir,
            today=today,
            before_date=before_date,
            rollup_before_date=rollup_before_date,
            partitions=tuple(_plan_in_bucket(lake_dir, before_date, config.areas)),
            leftovers=(),
            areas=config.areas,
        )
    lake_dir = Path(lake_dir)
    partitions = []
    for area in config.areas:
        root = lake_dir / area
        for folder in sorted(root.iterdir()) if root.is_dir() else []:
            event_date = _partition_date(folder)
            if event_date is not None and event_date < before_date:
                files, size = _size(folder)
                partitions.append(ExpiredPartition(area, event_date, folder, files, size))
    trash = lake_dir / TRASH
    leftovers = tuple(sorted(trash.iterdir())) if trash.is_dir() else ()
    return RetentionPlan(
        lake_dir=lake_dir,
        today=today,
        before_date=before_date,
        rollup_before_date=rollup_before_date,
        partitions=tuple(partitions),
        leftovers=leftovers,
        areas=config.areas,
    )


def apply_retention(plan: RetentionPlan) -> int:
    """Remove the planned partitions (rename into the trash, then delete); returns how many."""
    if is_remote(plan.lake_dir):
        return _apply_in_bucket(plan)
    for leftover in plan.leftovers:
        shutil.rmtree(leftover, ignore_errors=True)
        log.info("removed the trash of an interrupted run: %s", leftover)
    removed = 0
    for expired in plan.partitions:
        if not expired.path.is_dir():
            log.warning("already gone: %s", expired.path)
            continue
        trash = plan.lake_dir / TRASH / expired.area / expired.path.name
        trash.parent.mkdir(parents=True, exist_ok=True)
        if trash.exists():
            shutil.rmtree(trash)
        try:
            expired.path.rename(trash)
        except OSError as error:
            raise LakeError(
                f"expected to move {expired.path} into {trash.parent} with one rename "
                f"(same file system), got: {error}"
            ) from error
        layout.fsync_dir(expired.path.parent)
        layout.fsync_dir(trash.parent)
        shutil.rmtree(trash)
        removed += 1
        log.info(
            "expired %s/%s: %d files, %d bytes",
            expired.area,
            expired.path.name,
            expired.files,
            expired.bytes,
        )
    trash_root = plan.lake_dir / TRASH
    if trash_root.is_dir():
        shutil.rmtree(trash_root, ignore_errors=True)
    return removed


def _apply_in_bucket(plan: RetentionPlan) -> int:
    """Delete each expired partition's objects (a bucket has no folder to rename)."""
    storage = lake_storage(plan.lake_dir)
    removed = 0
    for expired in plan.partitions:
        objects = storage.list_files(expired.path.as_posix())
        if not objects:
            log.warning("already gone: %s", storage.uri(expired.path))
            continue
        for info in objects:
            storage.delete(info.path)
        removed += 1
        log.info("expired %s: %d objects, %d bytes", storage.uri(expired.path), len(objects),
                 sum(i.size for i in objects))  # fmt: skip
    return removed


def expire_raw_lake(
    lake_dir: Path | str, today: date, config: RetentionConfig, *, apply: bool = False
) -> tuple[RetentionPlan, int]:
    """Plan, and with apply=True remove (call under the lake's maintenance lock); (plan,
    removed)."""
    plan = plan_retention(lake_dir, today, config)
    return plan, apply_retention(plan) if apply else 0


def expire_partitions_command(
    before_date: date, rollup_before_date: date, *, dry_run: bool
) -> tuple[str, ...]:
    """`dbt run-operation expire_partitions` with the dates computed here."""
    arguments = {
        "before_date": before_date.isoformat(),
        "rollup_before_date": rollup_before_date.isoformat(),
        "dry_run": dry_run,
    }
    return dbt_command("run-operation", "expire_partitions", "--args", json.dumps(arguments))


def expire_lakehouse(
    plan: RetentionPlan,
    *,
    dry_run: bool = True,
    project_dir: Path | None = None,
    command: Sequence[str] | None = None,
) -> int:
    """Delete the models' rows for the plan's dates (the dbt macro, which then re-publishes the
    readers' views); returns dbt's exit code."""
    argv = command or expire_partitions_command(
        plan.before_date, plan.rollup_before_date, dry_run=dry_run
    )
    log.info("lakehouse: %s", " ".join(argv))
    return subprocess.run(argv, cwd=project_dir, check=False).returncode
