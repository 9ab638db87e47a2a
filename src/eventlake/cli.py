"""The `eventlake` command: thin over the library, one subcommand per job."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from eventlake.config import LoaderConfig, Settings
from eventlake.erasure.commands import erase, erasure
from eventlake.exceptions import EventlakeError
from eventlake.streaming.commands import features, fraud, stream, up

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
    from eventlake.broker import LocalBroker

    return LocalBroker(Settings.from_env().bootstrap_servers, STATE_DIR)


@broker.command("start")
@click.option("--partitions", default=4, show_default=True, help="Partitions of the events topic.")
def broker_start(partitions: int) -> None:
    """Start the broker on KAFKA_BOOTSTRAP_SERVERS and create the topics."""
    from eventlake.erasure.topics import ensure_erasure_topics
    from eventlake.kafka import ensure_topics

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
    from eventlake.generator import GeneratorConfig, produce

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

    from eventlake.generator import GeneratorConfig
    from eventlake.rawlake import write_raw_lake

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
    from eventlake.loader import Loader

    loader = Loader(Settings.from_env(), LoaderConfig.from_env())
    loader.install_signal_handlers()
    progress = loader.run(once=once)
    click.echo(
        f"landed {progress.events} events in {progress.files} files "
        f"({progress.bytes_written / 1e6:.1f} MB), {progress.rejected} rejected to the DLQ"
    )


@cli.command()
def summary() -> None:
    """What the lake holds: events, partitions, files, bytes, DLQ count."""
    from eventlake.inventory import lake_summary

    for key, value in lake_summary(Settings.from_env().lake_dir).items():
        click.echo(f"{key:>22}: {value}")


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


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
def compact(apply_changes: bool, target_mb: int, min_files: int, dates) -> None:
    """Merge the small raw files of each event_date partition into files near --target-mb.

    Per topic and Kafka partition, committed files only (below the checkpoint, not pending);
    a dry run unless --apply.
    """
    from eventlake.compaction import CompactionConfig
    from eventlake.compaction import compact as run_compaction

    config = CompactionConfig(
        target_bytes=target_mb * 1024 * 1024,
        min_files=min_files,
        row_group_size=LoaderConfig.from_env().row_group_size,
        dates=tuple(d.date() for d in dates),
    )
    plan, result = run_compaction(Settings.from_env().lake_dir, config, apply=apply_changes)
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
@click.option("--skip-warehouse", is_flag=True, help="Only the lake; no dbt run-operation.")
def retention(
    apply_changes: bool,
    today,
    keep_days: int | None,
    rollup_keep_days: int | None,
    skip_warehouse: bool,
) -> None:
    """Expire event_date partitions older than --keep-days in the lake, then warehouse rows.

    Lake areas: raw/events, curated/fct_events, curated/training_events. The warehouse side is
    `dbt run-operation expire_partitions` (models with meta.retention), run from the current
    directory. A dry run unless --apply.
    """
    from dataclasses import replace
    from datetime import UTC, datetime

    from eventlake.compaction import maintenance_lock
    from eventlake.retention import RetentionConfig, expire_lake, expire_warehouse

    settings = Settings.from_env()
    config = RetentionConfig.from_env()
    config = replace(
        config,
        keep_days=keep_days or config.keep_days,
        rollup_keep_days=rollup_keep_days or config.rollup_keep_days,
    )
    day = today.date() if today else datetime.now(UTC).date()
    plan, removed = expire_lake(settings.lake_dir, day, config, apply=apply_changes)
    click.echo(
        f"today {plan.today}: lake keeps event_date >= {plan.before_date}, "
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
    if skip_warehouse:
        return
    with maintenance_lock(settings.lake_dir):  # a running build holds the warehouse file
        code = expire_warehouse(plan, dry_run=not apply_changes)
    if code != 0:
        click.echo(f"error: dbt run-operation expire_partitions exited with {code}", err=True)
        sys.exit(code)


def _run_analytics_help() -> str:
    from eventlake.schedule import CRON_EXAMPLE

    return (
        "Run `dbt build` every --every (30s, 15m, 1h), never two at once: the next run starts "
        "at the later of (last start + interval) and (last end). A failed build is logged with "
        "its exit code and the loop goes on; --once runs one build and exits with dbt's code. "
        "SIGINT/SIGTERM stop between runs (a running build gets the signal and is waited for). "
        "Builds hold the lake's maintenance lock shared, so compaction and retention never "
        "replace files under them. Run from the repository root."
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
    help="After each successful build, load user_features into the online store.",
)
def run_analytics(
    every: str, once: bool, select: tuple[str, ...], materialize_online: bool
) -> None:
    from eventlake.compaction import LOCK_NAME
    from eventlake.schedule import dbt_build_command, parse_interval, run_schedule
    from eventlake.supervisor import eventlake_command

    code = run_schedule(
        dbt_build_command(select),
        parse_interval(every),
        once=once,
        lock_path=Settings.from_env().lake_dir / LOCK_NAME,
        then=[eventlake_command("features", "materialize")] if materialize_online else [],
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
