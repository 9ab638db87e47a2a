"""One erasure pass: every store, in an order that lets nothing of a subject come back.

1. Read new requests from the erasure topic (malformed ones to its DLQ) and the streaming
   stores' confirmations from theirs.
2. Record the requests (subject hash, received_at, due_at = received_at + 30 days) and put the
   subjects on the suppression list: the warehouse's (dbt staging drops them) and the lake's
   (the loader and the streaming consumers drop them; see suppression.py for why the lake scan
   after this cannot miss a file being written).
3. Under the lake's maintenance lock (compaction, retention and scheduled builds wait):
   rewrite every lake file holding a subject, once for all the pass's subjects;
   `dbt run-operation erase_subjects` deletes them from every model, snapshot and seed with
   meta.subject_key and marks the rewritten fct_events dates; `dbt build` recomputes those
   dates in the rollups, and `confirm_erasure_recomputes` confirms them; the DuckDB file is
   rewritten so the deleted rows leave it.
4. Steps that complete later stay pending and a later pass confirms them: the Kafka topics
   (their retention must pass) and the streaming stores (they confirm on their topic).
5. Commit the topics' offsets. A pass that fails before this reads the same requests again;
   every step is idempotent, so a re-run only confirms again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eventlake.compaction import maintenance_lock
from eventlake.config import Settings, _int
from eventlake.erasure import control, suppression, topics
from eventlake.erasure.control import CONFIRMED, PENDING, Confirmation
from eventlake.erasure.lake_rewrite import LakeErasure, Subject, erase_from_lake
from eventlake.erasure.storage import StorageRewrite, rewrite_warehouse
from eventlake.erasure.subjects import ErasureRequest, subject_hash
from eventlake.exceptions import ErasureError
from eventlake.schedule import DBT_FLAGS, dbt_executable

log = logging.getLogger(__name__)

CURATED = "curated/"


@dataclass(frozen=True)
class ErasureConfig:
    """The regulatory window and what the pass waits for."""

    window_days: int = 30
    """EVENTLAKE_ERASURE_WINDOW_DAYS: a request is due this many days after its receipt."""
    topic_retention_hours: int = 168
    """EVENTLAKE_TOPIC_RETENTION_HOURS: retention of the events, DLQ and erasure topics; their
    copies of a subject's messages are gone this long after the request."""
    stream_stores: tuple[str, ...] = ("online", "fraud")
    """EVENTLAKE_ERASURE_STREAM_STORES: comma-separated streaming stores that must confirm on
    the confirmations topic before a request is complete (`eventlake stream online|fraud`
    confirm there); set it empty where those consumers do not run."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ErasureConfig:
        env = os.environ if env is None else env
        stores = env.get("EVENTLAKE_ERASURE_STREAM_STORES")
        return cls(
            window_days=_int(env, "EVENTLAKE_ERASURE_WINDOW_DAYS", cls.window_days),
            topic_retention_hours=_int(
                env, "EVENTLAKE_TOPIC_RETENTION_HOURS", cls.topic_retention_hours
            ),
            stream_stores=(
                tuple(s.strip() for s in stores.split(",") if s.strip())
                if stores is not None
                else cls.stream_stores
            ),
        )


@dataclass
class PassReport:
    pass_id: str
    dry_run: bool
    requests_read: int = 0
    requests_rejected: int = 0
    requests_new: int = 0
    erased: list[str] = field(default_factory=list)
    conflicting: list[str] = field(default_factory=list)
    confirmations_collected: int = 0
    lake: LakeErasure | None = None
    storage: StorageRewrite | None = None
    build_ok: bool | None = None


class Dbt:
    """dbt run from the project directory on this lake, warehouse and subject-hash key."""

    def __init__(self, settings: Settings, project_dir: Path | None = None) -> None:
        self.project_dir = project_dir
        self.env = dict(
            os.environ,
            EVENTLAKE_LAKE_DIR=str(settings.lake_dir),
            EVENTLAKE_WAREHOUSE=str(settings.warehouse),
            EVENTLAKE_SUBJECT_HASH_KEY=settings.subject_hash_key,
        )

    def __call__(self, *args: str, check: bool = True) -> bool:
        argv = [dbt_executable(), *args, *DBT_FLAGS]
        log.info("dbt %s", " ".join(args[:2]))
        done = subprocess.run(
            argv, cwd=self.project_dir, env=self.env, capture_output=True, text=True
        )
        if done.returncode != 0 and check:
            raise ErasureError(
                f"dbt {' '.join(args[:2])} failed (exit {done.returncode}):\n"
                + (done.stdout[-3000:] + done.stderr[-1000:]).strip()
            )
        return done.returncode == 0


def process(
    settings: Settings,
    config: ErasureConfig,
    *,
    build: bool = True,
    dry_run: bool = False,
    now: datetime | None = None,
    project_dir: Path | None = None,
) -> PassReport:
    """Run one pass (see the module docstring); returns what it did."""
    now = now or datetime.now(UTC)
    report = PassReport(f"pass-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", dry_run)
    dbt = Dbt(settings, project_dir)
    topics.ensure_erasure_topics(settings)
    dbt("run-operation", "setup_control_plane")
    with (
        topics.read_requests(settings) as (requests, commit_requests),
        topics.read_confirmations(settings) as (confirmations, commit_confirmations),
    ):
        report.requests_read = len(requests.items) + requests.rejected
        report.requests_rejected = requests.rejected
        report.confirmations_collected = len(confirmations.items)
        with maintenance_lock(settings.lake_dir):
            subjects = _intake(settings, config, requests.items, confirmations.items, now, report)
            if subjects:
                _erase(settings, dbt, subjects, now, report)
            if not dry_run:
                _complete(settings, config, dbt, build, now, report)
        if not dry_run:
            commit_requests()
            commit_confirmations()
    return report


def _intake(
    settings: Settings,
    config: ErasureConfig,
    requests: Sequence[ErasureRequest],
    confirmations: Sequence[Confirmation],
    now: datetime,
    report: PassReport,
) -> list[Subject]:
    """Record the requests and suppress their subjects; returns the subjects to erase."""
    key = settings.subject_hash_key
    latest = {r.request_id: r for r in requests}  # the same request sent twice counts once
    rows = [(r.request_id, subject_hash(r.user_id, key), r.requested_at) for r in latest.values()]
    with control.connect(settings.warehouse) as connection:
        if rows:
            report.conflicting = control.conflicting_requests(connection, rows)
            for request_id in report.conflicting:
                log.error("request %s: its id is already recorded for another subject", request_id)
            rows = [row for row in rows if row[0] not in report.conflicting]
            report.requests_new = control.record_requests(
                connection, rows, now, timedelta(days=config.window_days)
            )
        if report.dry_run:
            hashes = {}
        else:
            hashes = {row[0]: row[1] for row in rows}
            control.record_suppressions(connection, hashes.values(), now)
            control.record_confirmations(
                connection,
                [dataclasses.replace(c, pass_id=report.pass_id) for c in confirmations],
                now,
            )
            control.record_confirmations(
                connection, _awaited_steps(settings, config, hashes, now, report.pass_id), now
            )
    if hashes:
        suppression.publish(settings.lake_dir, hashes.values(), now)
    return [
        Subject(r.request_id, r.user_id, subject_hash(r.user_id, key))
        for r in latest.values()
        if r.request_id not in report.conflicting
    ]


def _awaited_steps(
    settings: Settings,
    config: ErasureConfig,
    requests: Mapping[str, str],
    now: datetime,
    pass_id: str,
) -> list[Confirmation]:
    """The steps other parties complete: pending until a later pass confirms them."""
    steps = []
    for request_id in requests:
        steps.append(
            Confirmation(
                request_id,
                "kafka",
                _kafka_object(settings),
                PENDING,
                detail=f"messages stay in the topics until their retention "
                f"({config.topic_retention_hours} h) has passed",
                pass_id=pass_id,
            )
        )
        steps.extend(
            Confirmation(
                request_id,
                store,
                store,
                PENDING,
                detail=f"awaiting the store's confirmation on {settings.confirmation_topic}",
                pass_id=pass_id,
            )
            for store in config.stream_stores
        )
    return steps


def _erase(
    settings: Settings, dbt: Dbt, subjects: list[Subject], now: datetime, report: PassReport
) -> None:
    """The lake's files, then every model (dbt), for all the pass's subjects at once."""
    lake = erase_from_lake(settings.lake_dir, subjects, dry_run=report.dry_run)
    report.lake = lake
    request_ids = [s.request_id for s in subjects]
    curated = {
        name.removeprefix(CURATED): sorted(obj.partitions)
        for name, obj in lake.objects.items()
        if name.startswith(CURATED) and "/" not in name.removeprefix(CURATED) and obj.partitions
    }
    recompute = sorted(
        {
            request_id
            for name, obj in lake.objects.items()
            if name.startswith(CURATED)
            for request_id, rows in obj.rows_deleted.items()
            if rows
        }
    )
    if not report.dry_run:
        storage = [
            Confirmation(
                request_id,
                "warehouse_storage",
                settings.warehouse.name,
                PENDING,
                detail="deleted rows stay in the DuckDB file's blocks until it is rewritten",
                pass_id=report.pass_id,
            )
            for request_id in request_ids
        ]
        with control.connect(settings.warehouse) as connection:
            control.record_confirmations(
                connection,
                _lake_confirmations(lake, request_ids, now, report.pass_id) + storage,
                now,
            )
    arguments = {
        "request_ids": request_ids,
        "dry_run": report.dry_run,
        "lake_partitions": curated,
        "recompute_requests": recompute,
        "pass_id": report.pass_id,
    }
    dbt("run-operation", "erase_subjects", "--args", json.dumps(arguments))
    report.erased = request_ids


def _kafka_object(settings: Settings) -> str:
    return f"topics {settings.topic}, {settings.dlq_topic}, {settings.erasure_topic}"


def _lake_confirmations(
    lake: LakeErasure, request_ids: Sequence[str], now: datetime, pass_id: str
) -> list[Confirmation]:
    rows = []
    for name, obj in sorted(lake.objects.items()):
        detail = (
            f"{obj.files_rewritten} file(s) rewritten and {obj.files_removed} removed of "
            f"{obj.files_scanned} scanned, for the {len(request_ids)} request(s) of this pass"
        )
        if obj.files_unreadable:  # not searched: the step cannot be confirmed
            detail += (
                f"; {obj.files_unreadable} unreadable file(s) not searched: repair them, then "
                f"send the request again (same request id)"
            )
        rows.extend(
            Confirmation(
                request_id,
                "lake",
                name,
                PENDING if obj.files_unreadable else CONFIRMED,
                rows_deleted=obj.rows_deleted.get(request_id, 0),
                files_rewritten=obj.files_rewritten,
                confirmed_at=None if obj.files_unreadable else now,
                detail=detail,
                pass_id=pass_id,
            )
            for request_id in request_ids
        )
    return rows


def _complete(
    settings: Settings,
    config: ErasureConfig,
    dbt: Dbt,
    build: bool,
    now: datetime,
    report: PassReport,
) -> None:
    """Recompute the rollups, reclaim the warehouse's storage, confirm what time has done."""
    if build:
        report.build_ok = dbt("build", check=False)
        if not report.build_ok:
            log.warning("dbt build failed: the rollups' erasure steps stay pending")
    dbt("run-operation", "confirm_erasure_recomputes")
    with control.connect(settings.warehouse) as connection:
        pending_storage = sorted(
            {r for r, _, _ in control.pending_steps(connection, "warehouse_storage")}
        )
    if pending_storage:
        report.storage = rewrite_warehouse(settings.warehouse)
        log.info(
            "warehouse rewritten: %d -> %d bytes in %.1f s",
            report.storage.bytes_before,
            report.storage.bytes_after,
            report.storage.seconds,
        )
    with control.connect(settings.warehouse) as connection:
        steps = []
        if report.storage is not None:
            steps.extend(
                Confirmation(
                    request_id,
                    "warehouse_storage",
                    settings.warehouse.name,
                    CONFIRMED,
                    confirmed_at=datetime.now(UTC),
                    detail=f"DuckDB file rewritten without deleted rows "
                    f"({report.storage.bytes_before:,} -> {report.storage.bytes_after:,} bytes)",
                    pass_id=report.pass_id,
                )
                for request_id in pending_storage
            )
        retention = timedelta(hours=config.topic_retention_hours)
        steps.extend(
            Confirmation(
                request_id,
                "kafka",
                kafka_object,
                CONFIRMED,
                confirmed_at=now,
                detail=f"topic retention ({config.topic_retention_hours} h) has passed since "
                f"receipt, by the topics' configuration (not by reading them)",
                pass_id=report.pass_id,
            )
            for request_id, kafka_object, received_at in control.pending_steps(connection, "kafka")
            if received_at + retention <= now
        )
        control.record_confirmations(connection, steps, now)
