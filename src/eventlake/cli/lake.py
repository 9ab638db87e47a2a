"""The lake's commands: `summary`, `sql`, `compact` and `retention`."""

from __future__ import annotations

import sys

import click

from eventlake.config import LoaderConfig, Settings


@click.command()
def summary() -> None:
    """What the lake holds (events, partitions, files, bytes, DLQ count), then what readers of
    the lakehouse see: the published build, its events and dates, DuckLake's data files."""
    from eventlake.lake.inventory import lake_summary, lakehouse_summary

    settings = Settings.from_env()
    for key, value in lake_summary(settings.lake_dir).items():
        click.echo(f"{key:>22}: {value}")
    for key, value in lakehouse_summary(settings.catalog, settings.lake_dir).items():
        click.echo(f"{key:>22}: {value}")


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("-c", "--command", "sql", default=None, help="Run this SQL, print, exit.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default=None,
    help="With -c or in the shell: aligned columns (the default), CSV with a header row, or a"
    " JSON list of"
    " objects. With --bill: json (the default) or table (a short summary).",
)
@click.option(
    "--bill",
    "bill_only",
    is_flag=True,
    help="With -c: print what the query would read (files, bytes, partitions), run nothing.",
)
@click.option(
    "--max-bytes",
    default=None,
    help="Refuse a query whose bill exceeds this (e.g. 2GB); default EVENTLAKE_MAX_QUERY_BYTES.",
)
@click.option(
    "--allow-full-scan",
    is_flag=True,
    help="Run the query whatever its bill, with or without a partition filter.",
)
@click.option("--print-init", is_flag=True, help="Print the shell's init script and exit.")
@click.argument("shell_args", nargs=-1, type=click.UNPROCESSED)
def sql(
    sql: str | None,
    output_format: str | None,
    bill_only: bool,
    max_bytes: str | None,
    allow_full_scan: bool,
    print_init: bool,
    shell_args,
) -> None:
    """SQL on the lakehouse, read-only: an interactive shell, or one query with -c.

    Names resolve in the published build (schema main: events, the rollups, the marts);
    build.<model> is the latest build's own table (published or not), control.* the erasure
    plane. Readers take no lock: a shell left open never holds up a build.

    Every statement is billed before it runs, from the lakehouse catalog: it is refused
    (with -c: exit 2, nothing run; in the shell: the bill is printed, the shell goes on) when
    it reads fct_events or fct_training_events without a condition on event_date that prunes
    partitions, or when it would read more than --max-bytes. With --allow-full-scan the shell
    is the DuckDB CLI itself, unbilled; arguments after `--` go to it (for example
    `eventlake sql --allow-full-scan -- -csv`).
    """
    from eventlake.lake.bill import Budget, QueryRefused, summary
    from eventlake.lake.shell import run_shell
    from eventlake.lake.sql import bill_sql, open_shell, run_sql, shell_init

    settings = Settings.from_env()
    budget = Budget.from_settings(max_bytes, allow_full_scan)
    if print_init:
        click.echo(shell_init(settings.catalog, settings.lake_dir), nl=False)
    elif bill_only:
        if sql is None or output_format == "csv":
            raise click.UsageError("--bill takes a query with -c, printed as json or table")
        billed, reasons = bill_sql(settings.catalog, settings.lake_dir, sql, budget)
        if output_format == "table":
            click.echo(summary(billed), nl=False)
            click.echo("".join(f"refused: {reason}\n" for reason in reasons), nl=False)
        else:
            click.echo(billed.as_json(refusals=reasons))
        sys.exit(2 if reasons else 0)
    elif sql is not None:
        if shell_args:
            raise click.UsageError("-c runs the query here: no DuckDB CLI arguments with it")
        try:
            run_sql(
                settings.catalog,
                settings.lake_dir,
                sql,
                output_format or "table",
                sys.stdout,
                budget,
            )
        except QueryRefused as refused:
            click.echo(f"eventlake sql: not run: {refused}", err=True)
            click.echo(summary(refused.bill), err=True, nl=False)
            sys.exit(2)
    elif allow_full_scan:
        sys.exit(open_shell(settings.catalog, settings.lake_dir, shell_args))
    elif shell_args:
        raise click.UsageError(
            "arguments after -- go to the DuckDB CLI, which bills nothing: add"
            " --allow-full-scan (or print with --format csv|json in eventlake's shell)"
        )
    else:
        sys.exit(run_shell(settings.catalog, settings.lake_dir, budget, output_format or "table"))


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


@click.command()
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

    Raw lake, in a folder or a bucket: per topic and Kafka partition, committed files only
    (below the checkpoint, not pending); a merged file is published before its inputs are
    deleted, and readers skip inputs it supersedes meanwhile. Lakehouse: DuckLake merges each
    table's small files, expires the snapshots older than EVENTLAKE_SNAPSHOT_RETENTION_DAYS (7)
    that neither the published views nor a model's watermark need, and deletes the files
    nothing references once released
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
    plan, result = run_compaction(
        settings.lake_dir, config, apply=apply_changes, catalog=settings.catalog
    )
    by_date: dict[str, list] = {}
    for merge in plan.merges:
        by_date.setdefault(merge.folder.rpartition("/")[2], []).append(merge)
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


@click.command()
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
    lock = (
        maintenance_lock(settings.lake_dir, settings.catalog)
        if apply_changes
        else contextlib.nullcontext()
    )
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
