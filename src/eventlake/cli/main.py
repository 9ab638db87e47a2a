"""The `eventlake` command: the group and its entry point. Each subject's subcommands live in a
module of their own beside this one (ingest, lake, ops, simulate, streaming, erasure), each thin
over the library."""

from __future__ import annotations

import logging
import sys

import click

from eventlake.cli.erasure import erase, erasure
from eventlake.cli.ingest import load
from eventlake.cli.lake import compact, retention, sql, summary
from eventlake.cli.ops import broker, run_analytics, status
from eventlake.cli.simulate import generate, generate_lake
from eventlake.cli.streaming import features, fraud, stream, up
from eventlake.exceptions import EventlakeError


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def cli(verbose: bool) -> None:
    """eventlake: Kafka clickstream -> date-partitioned Parquet lake -> dbt on DuckDB."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


for command in (
    broker,
    generate,
    generate_lake,
    load,
    summary,
    sql,
    compact,
    retention,
    run_analytics,
    status,
    erase,
    erasure,
    stream,
    features,
    fraud,
    up,
):
    cli.add_command(command)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except EventlakeError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
