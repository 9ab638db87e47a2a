"""`eventlake load`: the events topic into the raw lake."""

from __future__ import annotations

import click

from eventlake.config import LoaderConfig, Settings


@click.command()
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
