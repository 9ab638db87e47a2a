"""`eventlake broker` (the local broker), `eventlake run-analytics` (the dbt schedule) and
`eventlake status` (on-call's one screen)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from eventlake.cli.options import metrics_port_option
from eventlake.config import Settings
from eventlake.dbt.runner import BUILD_NICENESS

STATE_DIR = Path(".eventlake")
"""Where the local broker keeps its state (pid file, log)."""


@click.group()
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


@click.command("run-analytics", help=_run_analytics_help())
@click.option("--every", default="15m", show_default=True, help="Interval: 30s, 15m, 1h.")
@click.option("--once", is_flag=True, help="One build; exit with dbt's exit code.")
@click.option("--select", "select", multiple=True, help="dbt --select (repeatable).")
@click.option(
    "--materialize-online",
    is_flag=True,
    help="After each successful build, load the published dim_user_features into the online store.",
)
@click.option(
    "--niceness",
    type=click.IntRange(0, 19),
    default=BUILD_NICENESS,
    envvar="EVENTLAKE_BUILD_NICENESS",
    show_default=True,
    help="The build's CPU priority (nice): below readers on a shared host; 0 for none.",
)
@metrics_port_option
def run_analytics(
    every: str,
    once: bool,
    select: tuple[str, ...],
    materialize_online: bool,
    niceness: int,
    metrics_port: int | None,
) -> None:
    from eventlake.dbt.runner import build_command
    from eventlake.lake.lock import LakeLock
    from eventlake.ops.config import OpsConfig
    from eventlake.ops.observe import ScheduleObserver, start_metrics
    from eventlake.ops.schedule import parse_interval, run_schedule
    from eventlake.ops.supervisor import eventlake_command

    settings = Settings.from_env()
    ops = OpsConfig.from_env()
    observer = (
        ScheduleObserver(settings, ops.budgets())
        if start_metrics(metrics_port, ops) is not None
        else None
    )
    try:
        code = run_schedule(
            build_command(select, niceness),
            parse_interval(every),
            once=once,
            lock=LakeLock(settings.lake_dir, settings.catalog),
            then=[eventlake_command("features", "materialize")] if materialize_online else [],
            env=settings.dbt_env(),
            on_run=None if observer is None else observer.ran,
        )
    finally:
        if observer is not None:
            observer.close()
    sys.exit(code)


@click.command("status")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
def status(fmt: str) -> None:
    """One screen for on-call: each consumer's freshness against its budget (OK / WARN /
    ERROR), lag per consumer group, dead letters of the last hour, the last build, erasure
    requests open and overdue. Reads the stores, the catalog and the topics (no metrics server
    needed). Exits 1 when a budget is breached, a request is overdue or a check failed."""
    from eventlake.ops import status as ops_status
    from eventlake.ops.config import OpsConfig
    from eventlake.streaming.config import FraudConfig, OnlineConfig

    report = ops_status.collect(
        Settings.from_env(), OpsConfig.from_env(), OnlineConfig.from_env(), FraudConfig.from_env()
    )
    click.echo(ops_status.render(report, fmt))
    sys.exit(report.exit_code)
