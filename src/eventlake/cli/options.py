"""Options several commands share."""

from __future__ import annotations

import click

metrics_port_option = click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics on this port (default: EVENTLAKE_METRICS_PORT; none when "
    "unset; 0: any free port, logged).",
)
