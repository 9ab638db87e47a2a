"""`eventlake generate` (to Kafka) and `eventlake generate-lake` (straight into the raw lake)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from eventlake.config import LoaderConfig, Settings


@click.command()
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


@click.command("generate-lake")
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
