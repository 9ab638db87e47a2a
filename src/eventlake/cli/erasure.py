"""`eventlake erase` and `eventlake erasure process|status|audit`: thin over the package."""

from __future__ import annotations

import csv
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import click

from eventlake.cli.options import metrics_port_option
from eventlake.config import Settings
from eventlake.erasure.report import AUDIT_COLUMNS, FORMATS, STATUS_COLUMNS


def _new_request_id() -> str:
    return f"er-{uuid.uuid4().hex[:16]}"


def _requests_from_file(path: Path, now: datetime):
    """Lines of `user_id` or `request_id,user_id` (a header line naming them is skipped)."""
    from eventlake.erasure.subjects import ErasureRequest

    with open(path, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            cells = [cell.strip() for cell in row if cell.strip()]
            if not cells or cells[-1] == "user_id":
                continue
            if len(cells) > 2:
                raise click.BadParameter(f"line {number}: expected user_id or request_id,user_id")
            request_id = cells[0] if len(cells) == 2 else _new_request_id()
            try:
                yield ErasureRequest(request_id, cells[-1], now)
            except Exception as error:
                raise click.BadParameter(f"line {number}: {error}") from None


@click.command()
@click.option("--user-id", help="The person to erase.")
@click.option("--request-id", help="Your reference (default: a new er-... id).")
@click.option(
    "--file",
    "file_",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Many requests: lines of user_id, or request_id,user_id.",
)
def erase(user_id: str | None, request_id: str | None, file_: Path | None) -> None:
    """Publish right-to-erasure requests to the erasure-requests topic.

    Every request is validated first; one invalid line publishes nothing. Prints the request
    ids (never the user ids). `eventlake erasure process` then honours them.
    """
    from eventlake.erasure.subjects import ErasureRequest
    from eventlake.erasure.topics import ensure_erasure_topics, publish_requests

    if (user_id is None) == (file_ is None):
        raise click.UsageError("give either --user-id or --file")
    if file_ is not None and request_id is not None:
        raise click.UsageError("--request-id goes with --user-id; a file carries its own ids")
    now = datetime.now(UTC)
    if file_ is not None:
        requests = list(_requests_from_file(file_, now))
    else:
        requests = [ErasureRequest(request_id or _new_request_id(), user_id, now)]
    settings = Settings.from_env()
    ensure_erasure_topics(settings)
    publish_requests(settings, requests)
    for request in requests:
        click.echo(request.request_id)
    click.echo(f"published {len(requests)} request(s) to {settings.erasure_topic!r}", err=True)


@click.group()
def erasure() -> None:
    """Honour erasure requests in every store, and prove it."""


@erasure.command()
@click.option("--dry-run", is_flag=True, help="Find and count; delete nothing, commit nothing.")
@click.option("--no-build", is_flag=True, help="Leave the rollups to the next scheduled build.")
@click.option(
    "--every",
    default=None,
    help="Run a pass every interval (30s, 15m, 1h), never two at once, until stopped; "
    "default: one pass.",
)
@metrics_port_option
def process(dry_run: bool, no_build: bool, every: str | None, metrics_port: int | None) -> None:
    """One pass: read new requests, erase them from the lake and every model, recompute the
    rollups, purge the lakehouse's old files, collect the streaming stores' confirmations.

    With --every, the erasure schedule: each pass runs as its own process (as
    `eventlake erasure process` alone would), and this one serves the metrics: passes by
    outcome, their duration, the last success, and the open and overdue requests."""
    if every is not None:
        flags = (*(["--dry-run"] if dry_run else []), *(["--no-build"] if no_build else []))
        _schedule(every, flags, metrics_port)
        return
    from eventlake.erasure.orchestrator import ErasureConfig
    from eventlake.erasure.orchestrator import process as run_pass

    report = run_pass(
        Settings.from_env(), ErasureConfig.from_env(), build=not no_build, dry_run=dry_run
    )
    click.echo(
        f"{report.pass_id}: {report.requests_read} request(s) read, "
        f"{report.requests_rejected} rejected to the DLQ, {report.requests_new} new, "
        f"{len(report.erased)} erased{' (dry run)' if dry_run else ''}, "
        f"{report.confirmations_collected} store confirmation(s) collected"
    )
    if report.conflicting:
        click.echo(f"refused (id reused for another subject): {', '.join(report.conflicting)}")
    if report.lake is not None:
        lake = report.lake
        rewritten = sum(o.files_rewritten + o.files_removed for o in lake.objects.values())
        click.echo(
            f"lake: {rewritten} of {lake.files_in_lake} files rewritten or removed; finding "
            f"them read {lake.bytes_read_to_find / 1e6:.1f} MB of {lake.bytes_in_lake / 1e6:.1f} MB"
        )
    if report.purge is not None and report.purge.done:
        purge = report.purge
        click.echo(
            f"lakehouse: {purge.files_rewritten} data file(s) rewritten without the deleted "
            f"rows, {purge.snapshots_expired} older snapshot(s) expired, {purge.files_removed} "
            f"old file(s) deleted; time travel starts at snapshot {purge.pinned_version}"
        )
    elif report.purge is not None:
        click.echo(
            f"lakehouse: old files kept until {', '.join(report.purge.lagging)} consumed the "
            f"deletes (the next dbt build); a later pass purges them"
        )
    if report.build_ok is False:
        click.echo("dbt build failed: rollup steps stay pending (see `eventlake erasure status`)")


def _schedule(every: str, flags: tuple[str, ...], metrics_port: int | None) -> None:
    """Passes on an interval (eventlake.ops.schedule, as run-analytics runs builds); each pass
    takes the lake's maintenance lock itself, so the schedule holds none."""
    from eventlake.ops.config import OpsConfig
    from eventlake.ops.observe import ScheduleObserver, start_metrics
    from eventlake.ops.schedule import parse_interval, run_schedule
    from eventlake.ops.supervisor import eventlake_command

    settings = Settings.from_env()
    ops = OpsConfig.from_env()
    interval = parse_interval(every)
    observer = (
        ScheduleObserver(settings, ops.budgets(), job="erasure")
        if start_metrics(metrics_port, ops) is not None
        else None
    )
    try:
        code = run_schedule(
            eventlake_command("erasure", "process", *flags),
            interval,
            on_run=None if observer is None else observer.ran,
        )
    finally:
        if observer is not None:
            observer.close()
    sys.exit(code)


_format = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True
)


@erasure.command()
@click.option("--request-id", help="Only this request.")
@_format
def status(request_id: str | None, fmt: str) -> None:
    """Per request: due date, state, confirmed / pending / failed steps, what is pending."""
    from eventlake.erasure.report import render, status_rows

    click.echo(render(status_rows(Settings.from_env(), request_id), STATUS_COLUMNS, fmt))


@erasure.command()
@click.option("--request-id", help="Only this request.")
@_format
def audit(request_id: str | None, fmt: str) -> None:
    """Per request, store and object: the latest status, when, rows and files, and detail."""
    from eventlake.erasure.report import audit_rows, render

    click.echo(render(audit_rows(Settings.from_env(), request_id), AUDIT_COLUMNS, fmt))
