"""The `eventlake` command: thin over the library, one subcommand per job."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

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
    from eventlake.broker import LocalBroker

    return LocalBroker(Settings.from_env().bootstrap_servers, STATE_DIR)


@broker.command("start")
@click.option("--partitions", default=4, show_default=True, help="Partitions of the events topic.")
def broker_start(partitions: int) -> None:
    """Start the broker on KAFKA_BOOTSTRAP_SERVERS and create the topics."""
    from eventlake.kafka import ensure_topics

    settings = Settings.from_env()
    pid = _local_broker().start()
    ensure_topics(settings.bootstrap_servers, {settings.topic: partitions, settings.dlq_topic: 1})
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


def main() -> None:
    try:
        cli(standalone_mode=True)
    except EventlakeError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
