"""The erasure plane's records in the lakehouse (schema `control`, created by dbt's
create_control_plane macro): requests, the suppression list, and per-store confirmations.

The statements here are fixed and parameterised: this module records what the Python steps did
(intake, the lake pass, the lakehouse's files, Kafka, streaming stores); the dbt macro
erase_subjects records the models' steps itself. Only subject hashes are stored. DuckLake has no
keys: a row recorded once is kept unique by anti-joins, and each function is one commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa

from eventlake.config import Settings

CONFIRMED, PENDING, FAILED = "confirmed", "pending", "failed"
STATUSES = (CONFIRMED, PENDING, FAILED)


@dataclass(frozen=True)
class Confirmation:
    """One store's word on one object of one request (appended, never updated)."""

    request_id: str
    store: str
    object: str
    status: str
    rows_deleted: int | None = None
    files_rewritten: int | None = None
    confirmed_at: datetime | None = None
    detail: str = ""
    pass_id: str = ""


@dataclass(frozen=True)
class RecordedRequest:
    request_id: str
    subject_hash: str
    requested_at: datetime | None
    received_at: datetime
    due_at: datetime


def connect(settings: Settings, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the lakehouse (settings.connect): `control.*` is its control plane."""
    return settings.connect(read_only=read_only)


def record_requests(
    connection: duckdb.DuckDBPyConnection,
    requests: Sequence[tuple[str, str, datetime]],
    received_at: datetime,
    window: timedelta,
) -> int:
    """Insert (request_id, subject_hash, requested_at) rows not recorded yet; a request seen
    again keeps its first receipt and due date. Returns how many were new."""
    before = _count(connection, "control.erasure_requests")
    rows = pa.table(
        {
            "request_id": [r[0] for r in requests],
            "subject_hash": [r[1] for r in requests],
            "requested_at": pa.array([r[2] for r in requests], pa.timestamp("us", tz="UTC")),
        }
    )
    connection.register("incoming_requests", rows)
    _run(
        connection,
        """
        insert into control.erasure_requests
        select distinct on (incoming.request_id)
            incoming.request_id, incoming.subject_hash, incoming.requested_at,
            $received_at, $due_at
        from incoming_requests as incoming
        anti join control.erasure_requests as recorded using (request_id)
        """,
        {"received_at": received_at, "due_at": received_at + window},
    )
    connection.unregister("incoming_requests")
    return _count(connection, "control.erasure_requests") - before


def conflicting_requests(
    connection: duckdb.DuckDBPyConnection, requests: Sequence[tuple[str, str, datetime]]
) -> list[str]:
    """Request ids already recorded for another subject (a reused id must not erase anyone)."""
    rows = _run(
        connection,
        """
        select request_id
        from control.erasure_requests
        where request_id = any($ids)
            and subject_hash <> ($hashes)[list_position($ids, request_id)]
        """,
        {"ids": [r[0] for r in requests], "hashes": [r[1] for r in requests]},
    )
    return [row[0] for row in rows]


def record_suppressions(
    connection: duckdb.DuckDBPyConnection, hashes: Iterable[str], now: datetime
) -> None:
    _run(
        connection,
        """
        insert into control.erasure_suppressions
        select incoming.subject_hash, $now
        from (select distinct unnest($hashes) as subject_hash) as incoming
        anti join control.erasure_suppressions as listed using (subject_hash)
        """,
        {"hashes": sorted(set(hashes)), "now": now},
    )


def record_confirmations(
    connection: duckdb.DuckDBPyConnection, confirmations: Sequence[Confirmation], now: datetime
) -> None:
    if not confirmations:
        return
    for confirmation in confirmations:
        if confirmation.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {confirmation.status!r}")
    rows = pa.table(
        {
            "request_id": [c.request_id for c in confirmations],
            "store": [c.store for c in confirmations],
            "object": [c.object for c in confirmations],
            "rows_deleted": pa.array([c.rows_deleted for c in confirmations], pa.int64()),
            "files_rewritten": pa.array([c.files_rewritten for c in confirmations], pa.int32()),
            "status": [c.status for c in confirmations],
            "confirmed_at": pa.array(
                [c.confirmed_at for c in confirmations], pa.timestamp("us", tz="UTC")
            ),
            "detail": [c.detail for c in confirmations],
            "pass_id": [c.pass_id for c in confirmations],
        }
    )
    connection.register("incoming_confirmations", rows)
    _run(
        connection,
        """
        insert into control.erasure_confirmations
        select
            request_id, store, object, rows_deleted, files_rewritten, status, confirmed_at,
            detail, $now, pass_id
        from incoming_confirmations
        """,
        {"now": now},
    )
    connection.unregister("incoming_confirmations")


def open_requests(connection: duckdb.DuckDBPyConnection) -> list[RecordedRequest]:
    """Requests with a step not confirmed yet (or none recorded), oldest first."""
    rows = _run(
        connection,
        """
        select request_id, subject_hash, requested_at, received_at, due_at
        from control.erasure_status
        where state <> 'complete'
        order by received_at, request_id
        """,
    )
    return [RecordedRequest(*row) for row in rows]


def pending_steps(
    connection: duckdb.DuckDBPyConnection, store: str
) -> list[tuple[str, str, datetime]]:
    """(request_id, object, received_at) of a store's steps whose latest word is pending."""
    return _run(
        connection,
        """
        select steps.request_id, steps.object, requests.received_at
        from control.erasure_store_status as steps
        inner join control.erasure_requests as requests using (request_id)
        where steps.store = $store and steps.status = 'pending'
        order by requests.received_at, steps.request_id
        """,
        {"store": store},
    )


def _run(connection: duckdb.DuckDBPyConnection, sql: str, parameters=None) -> list[tuple]:
    """Execute and fetch to the end: DuckDB refuses other work on a connection (registering a
    table) while a result is unfinished."""
    return connection.execute(sql, parameters).fetchall()


def _count(connection: duckdb.DuckDBPyConnection, table: str) -> int:
    return _run(connection, f"select count(*) from {table}")[0][0]  # noqa: S608
