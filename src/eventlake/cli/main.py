"""The `eventlake` command: thin over the library, one subcommand per job."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from eventlake.cli.erasure import erase, erasure
from eventlake.cli.streaming import features, fraud, stream, up
from eventlake.config import LoaderConfig, Settings
from eventlake.exceptions import EventlakeError

STATE_DIR = Path(".eventlake")


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def cli(verbose: bool) -> None:
    """eventlake: Kafka clickstream -> date-partitioned Parquet lake -> dbt on DuckDB."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@cli.group()
def broker() -> None:
    """The local Kafka-protocol broker (Tansu) for the demo and the tests."""


def _local_broker():
    from eventlake.ops.broker import LocalBroker

    return LocalBroker(Settings.from_env().bootstrap_servers, STATE_DIR)


@broker.command("start")
@click.option("--partitions", default=4, show_default=True, help="Partitions of the events topic.")
def broker_start(partitions: int) -> None:
    """Start the broker on KAFKA_BOOTSTRAP_SERVERS and create the topics."""
    from eventlake.erasure.topics import ensure_erasure_topics
    from eventlake.ingest.kafka import ensure_topics

    settings = Settings.from_env()
    pid = _local_broker().start()
    ensure_topics(settings.bootstrap_servers, {settings.topic: partitions, settings.dlq_topic: 1})
    ensure_erasure_topics(settings)
    click.echo(f"broker running (pid {pid}) on {settings.bootstrap_servers}")


@broker.command("stop")
def broker_stop() -> None:
    """Stop the broker started by `eventlake broker start`."""
    click.echo("broker stopped" if _local_broker().stop() else "no broker was running")


@broker.command("status")
def broker_status() -> None:
    """Say whether the broker runs."""
    click.echo(_local_broker().status())


@cli.command()
@click.option("--events", type=int, required=True, help="Valid unique events to produce.")
@click.option("--days", type=int, default=14, show_default=True)
@click.option("--start-date", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--late-fraction", type=float, default=0.02, show_default=True)
@click.option("--duplicate-fraction", type=float, default=0.01, show_default=True)
@click.option("--malformed-fraction", type=float, default=0.001, show_default=True)
@click.option("--schema-version", type=click.IntRange(1, 2), default=1, show_default=True)
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the ground truth (counts per day, type, country) as JSON here ('-': stdout).",
)
def generate(
    events: int,
    days: int,
    start_date,
    seed: int,
    late_fraction: float,
    duplicate_fraction: float,
    malformed_fraction: float,
    schema_version: int,
    truth: str | None,
) -> None:
    """Produce realistic synthetic traffic to the events topic."""
    from eventlake.simulate.config import GeneratorConfig
    from eventlake.simulate.produce import produce

    settings = Settings.from_env()
    config = GeneratorConfig(
        events=events,
        days=days,
        start_date=start_date.date() if start_date else None,
        seed=seed,
        late_fraction=late_fraction,
        duplicate_fraction=duplicate_fraction,
        malformed_fraction=malformed_fraction,
        schema_version=schema_version,
    )
    ground_truth = produce(config, settings.bootstrap_servers, settings.topic)
    summary = (
        f"produced {ground_truth.events} events, {ground_truth.duplicates} duplicates, "
        f"{ground_truth.malformed} malformed to {settings.topic!r}"
    )
    if truth == "-":
        click.echo(json.dumps(ground_truth.to_json(), indent=2))
    elif truth:
        Path(truth).write_text(json.dumps(ground_truth.to_json(), indent=2))
    click.echo(summary, err=truth == "-")


@cli.command("generate-lake")
@click.option("--events", type=int, required=True, help="Valid unique events to write.")
@click.option("--days", type=int, default=None, help="Default 14, or 1 with --append.")
@click.option("--start-date", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--partitions", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--late-fraction", type=float, default=0.02, show_default=True)
@click.option("--schema-version", type=click.IntRange(1, 2), default=1, show_default=True)
@click.option("--append", is_flag=True, help="Add days after the lake's last date folder.")
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the ground truth (counts per day, type, country) as JSON here ('-': stdout).",
)
def generate_lake(
    events: int,
    days: int | None,
    start_date,
    seed: int,
    partitions: int,
    late_fraction: float,
    schema_version: int,
    append: bool,
    truth: str | None,
) -> None:
    """Write generated events straight into <lake>/raw/events, bypassing Kafka (benchmarks)."""
    import time

    from eventlake.simulate.config import GeneratorConfig
    from eventlake.simulate.lake_writer import write_raw_lake

    settings = Settings.from_env()
    config = GeneratorConfig(
        events=events,
        days=days if days is not None else (1 if append else 14),
        start_date=start_date.date() if start_date else None,
        seed=seed,
        late_fraction=late_fraction,
        schema_version=schema_version,
    )
    started = time.perf_counter()
    ground_truth = write_raw_lake(
        config,
        settings.lake_dir,
        settings.topic,
        partitions,
        append=append,
        row_group_size=LoaderConfig.from_env().row_group_size,
    )
    elapsed = time.perf_counter() - started
    dates = sorted(ground_truth.by_day)
    summary = (
        f"wrote {ground_truth.events} events ({ground_truth.late} late) over "
        f"{dates[0] if dates else '-'}..{dates[-1] if dates else '-'} to "
        f"{settings.lake_dir / 'raw' / 'events'} in {elapsed:.1f}s: "
        f"{ground_truth.events / elapsed if elapsed else 0:.0f} events/s"
    )
    if truth == "-":
        click.echo(json.dumps(ground_truth.to_json(), indent=2))
    elif truth:
        Path(truth).write_text(json.dumps(ground_truth.to_json(), indent=2))
    click.echo(summary, err=truth == "-")


@cli.command()
@click.option("--once", is_flag=True, help="Drain to the high watermark, flush and exit.")
def load(once: bool) -> None:
    """Load the events topic into <lake>/raw/events (follow mode unless --once)."""
    from eventlake.ingest.loader import Loader

    loader = Loader(Settings.from_env(), LoaderConfig.from_env())
    loader.install_signal_handlers()
    progress = loader.run(once=once)
    click.echo(
        f"landed {progress.events} events in {progress.files} files "
        f"({progress.bytes_written / 1e6:.1f} MB), {progress.rejected} rejected to the DLQ"
    )


@cli.command()
def summary() -> None:
    """What the lake holds (events, partitions, files, bytes, DLQ count), then what readers of
    the lakehouse see: the published build, its events and dates, DuckLake's data files."""
    from eventlake.lake.inventory import lake_summary, lakehouse_summary

    settings = Settings.from_env()
    for key, value in lake_summary(settings.lake_dir).items():
        click.echo(f"{key:>22}: {value}")
    for key, value in lakehouse_summary(settings.catalog, settings.lake_dir).items():
        click.echo(f"{key:>22}: {value}")


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("-c", "--command", "sql", default=None, help="Run this SQL, print, exit.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="With -c: aligned columns, CSV with a header row, or a JSON list of objects.",
)
@click.option("--print-init", is_flag=True, help="Print the shell's init script and exit.")
@click.argument("shell_args", nargs=-1, type=click.UNPROCESSED)
def sql(sql: str | None, output_format: str, print_init: bool, shell_args) -> None:
    """SQL on the lakehouse, read-only: an interactive DuckDB shell, or one query with -c.

    Names resolve in the published build (schema main: events, the rollups, the marts);
    build.<model> is the latest build's own table (published or not), control.* the erasure
    plane. Readers take no lock: a shell left open never holds up a build. Arguments after
    `--` go to the DuckDB CLI (for example `eventlake sql -- -csv`).
    """
    from eventlake.lake.sql import open_shell, run_sql, shell_init

    settings = Settings.from_env()
    if print_init:
        click.echo(shell_init(settings.catalog, settings.lake_dir), nl=False)
    elif sql is not None:
        if shell_args:
            raise click.UsageError("-c runs the query here: no DuckDB CLI arguments with it")
        run_sql(settings.catalog, settings.lake_dir, sql, output_format, sys.stdout)
    else:
        sys.exit(open_shell(settings.catalog, settings.lake_dir, shell_args))


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _lakehouse_maintenance(settings: Settings, *, merge: bool, apply_changes: bool) -> None:
    """DuckLake's merge (if asked), snapshot expiry and file cleanup, printed."""
    from datetime import UTC, datetime

    from eventlake.lake.maintenance import MaintenanceConfig, lakehouse_exists, maintain

    if not lakehouse_exists(settings.catalog):
        click.echo(f"lakehouse: no catalog at {settings.catalog} yet, nothing to maintain")
        return
    config = MaintenanceConfig.from_env()
    report = maintain(
        settings.catalog,
        settings.lake_dir,
        datetime.now(UTC),
        config,
        merge=merge,
        apply=apply_changes,
    )
    plan = report.plan
    if report.merged is not None:
        merged = report.merged
        click.echo(
            f"lakehouse: merged {merged.files_in} files of {merged.tables} tables "
            f"into {merged.files_out}"
        )
    held = f", {plan.held} stay for {plan.held_by}" if plan.held else ""
    click.echo(
        f"lakehouse: {len(plan.snapshots)} snapshots older than "
        f"{config.snapshot_retention_days} days {'expire' if apply_changes else 'would expire'}"
        f"{held}"
    )
    if report.files_deleted is None:
        merging = ", merging" if merge else ""
        click.echo(
            f"dry run: {len(plan.files)} released files would be deleted now (more once "
            f"the snapshots expire){merging} with --apply"
        )
    else:
        click.echo(f"lakehouse: {report.files_deleted} released files deleted")


@cli.command()
@click.option("--apply", "apply_changes", is_flag=True, help="Merge; without it, print the plan.")
@click.option("--target-mb", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--min-files", type=click.IntRange(min=2), default=2, show_default=True)
@click.option(
    "--date",
    "dates",
    type=click.DateTime(["%Y-%m-%d"]),
    multiple=True,
    help="Only this event_date partition (repeatable); all by default.",
)
@click.option("--skip-lakehouse", is_flag=True, help="Only the raw lake; not DuckLake's files.")
def compact(
    apply_changes: bool, target_mb: int, min_files: int, dates, skip_lakehouse: bool
) -> None:
    """Merge the small raw files of each event_date partition into files near --target-mb,
    then the lakehouse's small files (DuckLake).

    Raw lake: per topic and Kafka partition, committed files only (below the checkpoint, not
    pending). Lakehouse: DuckLake merges each table's small files, expires the snapshots older
    than EVENTLAKE_SNAPSHOT_RETENTION_DAYS (7) that neither the published views nor a model's
    watermark need, and deletes the files nothing references once released
    EVENTLAKE_FILE_CLEANUP_GRACE_HOURS (1) ago. A dry run unless --apply.
    """
    from eventlake.lake.compaction import CompactionConfig
    from eventlake.lake.compaction import compact as run_compaction

    config = CompactionConfig(
        target_bytes=target_mb * 1024 * 1024,
        min_files=min_files,
        row_group_size=LoaderConfig.from_env().row_group_size,
        dates=tuple(d.date() for d in dates),
    )
    settings = Settings.from_env()
    plan, result = run_compaction(settings.lake_dir, config, apply=apply_changes)
    by_date: dict[str, list] = {}
    for merge in plan.merges:
        by_date.setdefault(merge.output.parent.name, []).append(merge)
    for folder, merges in sorted(by_date.items()):
        inputs = sum(len(m.inputs) for m in merges)
        size = sum(m.input_bytes for m in merges)
        click.echo(f"{folder}: {inputs} files ({_megabytes(size)}) -> {len(merges)}")
    click.echo(
        f"{plan.partitions} partitions, {plan.files} files, {_megabytes(plan.bytes)}; "
        f"{len(plan.merges)} merges of {plan.rows_merged:,} rows; "
        f"{len(plan.covered)} leftovers of interrupted merges, "
        f"{len(plan.stale_tmp)} temporary files to remove"
    )
    if result is None:
        click.echo(f"dry run: {plan.files} files would become {plan.files_after} (use --apply)")
    else:
        click.echo(
            f"files {result.files_before} -> {result.files_after}, "
            f"{_megabytes(result.bytes_before)} -> {_megabytes(result.bytes_after)}, "
            f"{result.rows_merged:,} rows merged"
        )
    if not skip_lakehouse:
        _lakehouse_maintenance(settings, merge=True, apply_changes=apply_changes)


@cli.command()
@click.option("--apply", "apply_changes", is_flag=True, help="Delete; without it, print the plan.")
@click.option(
    "--today",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="The day retention counts back from (default: the UTC date now).",
)
@click.option("--keep-days", type=click.IntRange(min=1), default=None, help="Default 730.")
@click.option("--rollup-keep-days", type=click.IntRange(min=1), default=None, help="Default 1825.")
@click.option(
    "--skip-lakehouse", is_flag=True, help="Only the raw lake; no dbt run-operation, no cleanup."
)
def retention(
    apply_changes: bool,
    today,
    keep_days: int | None,
    rollup_keep_days: int | None,
    skip_lakehouse: bool,
) -> None:
    """Expire event_date partitions older than --keep-days: the raw lake's folders, then the
    models' rows in the lakehouse.

    The lakehouse side is `dbt run-operation expire_partitions` (models with meta.retention;
    rollups keep --rollup-keep-days), run from the current directory, which re-publishes the
    readers' views; then the snapshots older than the time-travel window expire and the files
    nothing references are deleted (as `eventlake compact` does). A dry run unless --apply.
    """
    import contextlib
    from dataclasses import replace
    from datetime import UTC, datetime

    from eventlake.lake.lock import maintenance_lock
    from eventlake.lake.retention import RetentionConfig, expire_lakehouse, expire_raw_lake

    settings = Settings.from_env()
    config = RetentionConfig.from_env()
    config = replace(
        config,
        keep_days=keep_days or config.keep_days,
        rollup_keep_days=rollup_keep_days or config.rollup_keep_days,
    )
    day = today.date() if today else datetime.now(UTC).date()
    lock = maintenance_lock(settings.lake_dir) if apply_changes else contextlib.nullcontext()
    with lock:
        plan, removed = expire_raw_lake(settings.lake_dir, day, config, apply=apply_changes)
        click.echo(
            f"today {plan.today}: events keep event_date >= {plan.before_date}, "
            f"rollups keep >= {plan.rollup_before_date}"
        )
        for area, totals in plan.totals().items():
            dates = [p.event_date for p in plan.partitions if p.area == area]
            span = f" ({min(dates)} .. {max(dates)})" if dates else ""
            click.echo(
                f"{str(area):>24}: {totals.partitions} partitions{span}, {totals.files} files, "
                f"{_megabytes(totals.bytes)}"
            )
        if apply_changes:
            click.echo(f"removed {removed} partitions")
        else:
            click.echo("dry run: nothing removed (use --apply)")
        if skip_lakehouse:
            return
        code = expire_lakehouse(plan, dry_run=not apply_changes)
    if code != 0:
        click.echo(f"error: dbt run-operation expire_partitions exited with {code}", err=True)
        sys.exit(code)
    _lakehouse_maintenance(settings, merge=False, apply_changes=apply_changes)


def _run_analytics_help() -> str:
    from eventlake.ops.schedule import CRON_EXAMPLE

    return (
        "Run `dbt build` every --every (30s, 15m, 1h), never two at once: the next run starts "
        "at the later of (last start + interval) and (last end). A failed build is logged with "
        "its exit code and the loop goes on; --once runs one build and exits with dbt's code. "
        "SIGINT/SIGTERM stop between runs (a running build gets the signal and is waited for). "
        "dbt builds into the lakehouse of EVENTLAKE_CATALOG and EVENTLAKE_LAKE_DIR and publishes "
        "to its readers once its tests pass. Each build holds the lake's maintenance lock, so "
        "erasure, compaction, retention and builds write the lakehouse one at a time; readers "
        "take no lock. Run from the repository root."
        "\n\nThe equivalent cron line (flock keeps runs from overlapping):\n\n\b\n"
        f"{CRON_EXAMPLE}"
    )


@cli.command("run-analytics", help=_run_analytics_help())
@click.option("--every", default="15m", show_default=True, help="Interval: 30s, 15m, 1h.")
@click.option("--once", is_flag=True, help="One build; exit with dbt's exit code.")
@click.option("--select", "select", multiple=True, help="dbt --select (repeatable).")
@click.option(
    "--materialize-online",
    is_flag=True,
    help="After each successful build, load the published user_features into the online store.",
)
def run_analytics(
    every: str, once: bool, select: tuple[str, ...], materialize_online: bool
) -> None:
    from eventlake.dbt.runner import build_command
    from eventlake.lake import lock
    from eventlake.ops.schedule import parse_interval, run_schedule
    from eventlake.ops.supervisor import eventlake_command

    settings = Settings.from_env()
    code = run_schedule(
        build_command(select),
        parse_interval(every),
        once=once,
        lock_path=lock.lock_path(settings.lake_dir),
        then=[eventlake_command("features", "materialize")] if materialize_online else [],
        env=settings.dbt_env(),
    )
    sys.exit(code)


cli.add_command(erase)
cli.add_command(erasure)
cli.add_command(stream)
cli.add_command(features)
cli.add_command(fraud)
cli.add_command(up)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except EventlakeError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
