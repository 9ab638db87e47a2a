"""`eventlake load`: the events topic into the raw lake."""

from __future__ import annotations

import click

from eventlake.cli.options import metrics_port_option
from eventlake.config import LoaderConfig, Settings


@click.command()
@click.option("--once", is_flag=True, help="Drain to the high watermark, flush and exit.")
@metrics_port_option
def load(once: bool, metrics_port: int | None) -> None:
    """Load the events topic into <lake>/raw/events (follow mode unless --once)."""
    from eventlake.ingest.loader import Loader
    from eventlake.ops.observe import LoaderObserver, start_metrics

    loader = Loader(Settings.from_env(), LoaderConfig.from_env())
    if start_metrics(metrics_port) is not None:
        LoaderObserver(loader)
    loader.install_signal_handlers()
    progress = loader.run(once=once)
    click.echo(
        f"landed {progress.events} events in {progress.files} files "
        f"({progress.bytes_written / 1e6:.1f} MB), {progress.rejected} rejected to the DLQ"
    )
