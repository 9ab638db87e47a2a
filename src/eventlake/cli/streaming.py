"""`eventlake stream|features|fraud|up`: thin over the streaming package."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import click

from eventlake.cli.options import metrics_port_option
from eventlake.config import LoaderConfig, Settings


@contextlib.contextmanager
def _opened(name: str) -> Iterator:
    """The store, closed when the command is done with it."""
    target, _ = _open_store(name)
    try:
        yield target
    finally:
        target.close()


def _open_store(name: str, *, wait: bool = False, give_up_after: float | None = None):
    """The store and its consumer group; with wait, a store on a server (Redis) that does not
    answer yet is waited for (give_up_after: how long, None: for ever)."""
    if name == "online":
        from eventlake.streaming.config import OnlineConfig
        from eventlake.streaming.online import open_online_store, wait_for_online_store

        config = OnlineConfig.from_env()
        if wait:
            return wait_for_online_store(config, give_up_after), config.group_id
        return open_online_store(config), config.group_id
    from eventlake.streaming.config import FraudConfig
    from eventlake.streaming.fraud import FraudStore

    config = FraudConfig.from_env()
    return FraudStore(config), config.group_id


@click.command()
@click.argument("store", type=click.Choice(["online", "fraud"]))
@click.option("--once", is_flag=True, help="Drain both topics, then exit.")
@metrics_port_option
def stream(store: str, once: bool, metrics_port: int | None) -> None:
    """Follow the events and erasure-requests topics into the online or the fraud store.

    Same configuration variables as the loader (KAFKA_BOOTSTRAP_SERVERS, EVENTLAKE_TOPIC, ...),
    its own consumer group. Ctrl-C finishes the batch and exits.
    """
    from eventlake.ops.config import OpsConfig
    from eventlake.ops.observe import StreamObserver, start_metrics, stored_newest
    from eventlake.streaming.consumer import StreamConsumer

    config = LoaderConfig.from_env()
    # Served before the store opens: a consumer waiting for its Redis exports eventlake_up 0.
    serving = start_metrics(metrics_port) is not None
    target, group_id = _open_store(
        store, wait=True, give_up_after=config.connect_timeout_seconds if once else None
    )
    try:
        consumer = StreamConsumer(Settings.from_env(), target, group_id, config)
        if serving:
            budget = OpsConfig.from_env().budgets()[store]
            StreamObserver(consumer, store, group_id, stored_newest(store), budget)
        consumer.install_signal_handlers()
        progress = consumer.run(once=once)
    finally:
        target.close()
    click.echo(
        f"{store}: folded {progress.events} events, {progress.rejected} rejected to the DLQ, "
        f"{progress.duplicates} duplicates dropped, {progress.suppressed} suppressed, "
        f"{progress.erasures} erasure requests"
    )


@click.group()
def features() -> None:
    """The personalization online store."""


@features.command("get")
@click.option("--user-id", required=True)
def features_get(user_id: str) -> None:
    """Print one user's features as JSON (exit 1 when the store knows nothing of them)."""
    with _opened("online") as target:
        found = target.get(user_id)
    if found is None:
        click.echo(f"no features for {user_id!r}", err=True)
        sys.exit(1)
    click.echo(json.dumps(found, indent=2, default=str))


@features.command("materialize")
def features_materialize() -> None:
    """Load the published dim_user_features of the lakehouse as the store's batch features."""
    from eventlake.streaming.online.materialize import load_user_features

    with _opened("online") as target:
        loaded = load_user_features(target, Settings.from_env())
    click.echo(f"loaded the batch features of {loaded} users")


@click.group()
def fraud() -> None:
    """The fraud store."""


@fraud.command("flags")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
    help="Only flags raised at or after this UTC time.",
)
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def fraud_flags(since: datetime | None, limit: int, as_json: bool) -> None:
    """List the raised flags, newest first."""
    with _opened("fraud") as target:
        rows = target.flags(since=since.replace(tzinfo=UTC) if since else None, limit=limit)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, default=str))
        return
    for row in rows:
        click.echo(
            f"{row['flagged_at']}  {row['user_id']}  {row['rule']}  "
            f"{row['value']} > {row['threshold']}  ({row['window_start']} .. {row['window_end']})"
        )
    click.echo(f"{len(rows)} flags", err=True)


@fraud.command("velocity")
@click.option("--user-id", required=True)
def fraud_velocity(user_id: str) -> None:
    """Print one user's velocity windows as JSON."""
    with _opened("fraud") as target:
        rows = target.velocity(user_id)
    click.echo(json.dumps(rows, indent=2, default=str))


@click.command()
@click.option("--every", default="15m", show_default=True, help="Analytics build interval.")
@metrics_port_option
def up(every: str, metrics_port: int | None) -> None:
    """Run the loader, both stream consumers and the analytics schedule until Ctrl-C.

    Each is a child process; a stop signal reaches every one of them, each finishes its batch,
    and `up` waits for all. When one exits on its own, the rest are stopped and `up` exits 1.
    """
    from eventlake.ops.config import OpsConfig
    from eventlake.ops.schedule import parse_interval
    from eventlake.ops.supervisor import Supervisor, default_children

    parse_interval(every)  # a bad interval or catalog fails here, not in a child
    Settings.from_env()
    port = OpsConfig.from_env().metrics_port if metrics_port is None else metrics_port
    children = default_children(every)
    if port is not None:
        from eventlake.ops.federate import children_registry, free_ports
        from eventlake.ops.metrics import serve
        from eventlake.ops.supervisor import with_metrics_ports

        children, urls = with_metrics_ports(children, free_ports(len(children)))
        serve(port, children_registry(urls))
    supervisor = Supervisor(children)
    supervisor.install_signal_handlers()
    sys.exit(supervisor.run())
