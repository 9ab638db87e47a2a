"""One erasure pass: every store, in an order that lets nothing of a subject come back.

1. Read new requests from the erasure topic (malformed ones to its DLQ) and the streaming
   stores' confirmations from theirs.
2. Record the requests (subject hash, received_at, due_at = received_at + 30 days) and put the
   subjects on the suppression list: the lakehouse's (dbt staging drops them) and the lake's
   (the loader and the streaming consumers drop them; see suppression.py for why the lake scan
   after this cannot miss a file being written).
3. Under the lake's maintenance lock (compaction, retention and scheduled builds wait):
   rewrite every raw lake file holding a subject, once for all the pass's subjects (the
   lakehouse's own files under curated/ are DuckLake's, never rewritten behind its back);
   `dbt run-operation erase_subjects` deletes them from every model, snapshot and seed with
   meta.subject_key (DuckLake deletes, one commit) and re-publishes the readers' views;
   `dbt build` recomputes the dates whose facts were deleted in the rollups (they read
   fct_events' change feed) and, once every node passed, confirms them (its on-run-end hook
   confirm_erasure_recomputes_after_build, as every production build does; on Spark,
   `confirm_erasure_recomputes` after the build); then the
   lakehouse purge (lakehouse_purge.py) rewrites the data files that held deleted rows,
   expires every older snapshot and deletes the old files, so the rows leave the disk.
   On another dbt target (EVENTLAKE_DBT_TARGET=spark) the requests are also recorded in that
   target's own control plane (subject hashes only), and its confirmations are copied into the
   lakehouse's control plane, which stays the ledger `eventlake erasure status` and `audit`
   read.
4. Steps that complete later stay pending and a later pass confirms them: the Kafka topics
   (their retention must pass), the streaming stores (they confirm on their topic), and the
   lakehouse purge while a model has not consumed the deletes yet (a pass with --no-build, or
   whose build failed: the next scheduled build consumes them, the next pass purges).
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

from eventlake.config import Settings, env_int
from eventlake.dbt.runner import PRODUCTION_BUILD, run_dbt
from eventlake.erasure import control, lakehouse_purge, suppression, topics
from eventlake.erasure.control import CONFIRMED, PENDING, Confirmation
from eventlake.erasure.lake_rewrite import LakeErasure, Subject, erase_from_lake
from eventlake.erasure.lakehouse_purge import LakehousePurge
from eventlake.erasure.subjects import ErasureRequest, subject_hash
from eventlake.exceptions import ErasureError
from eventlake.lake.lock import maintenance_lock

log = logging.getLogger(__name__)

CURATED = "curated/"
LAKEHOUSE_STORE = "lakehouse_storage"
"""The step of the lakehouse's files: deleted rows leave the disk (lakehouse_purge)."""


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
    dbt_target: str | None = None
    """EVENTLAKE_DBT_TARGET: the profiles.yml output whose models the pass erases; unset (or
    `prod`) is the profile's default, the DuckLake lakehouse, whose control plane is the
    ledger. Another output (`spark`) has a control plane of its own: the pass records the
    requests there too and copies its confirmations into the ledger (the lakehouse at
    EVENTLAKE_CATALOG). A local Spark session keeps its metastore in the project directory and
    its tables in EVENTLAKE_SPARK_WAREHOUSE, as `dbt build --target spark` run from there
    does."""
    cleanup_grace_seconds: int = 10
    """EVENTLAKE_ERASURE_CLEANUP_GRACE_SECONDS: how long the lakehouse purge waits between
    expiring the snapshots that read the old files and deleting those files, so a query that
    started on them finishes (see lakehouse_purge)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ErasureConfig:
        env = os.environ if env is None else env
        stores = env.get("EVENTLAKE_ERASURE_STREAM_STORES")
        return cls(
            window_days=env_int(env, "EVENTLAKE_ERASURE_WINDOW_DAYS", cls.window_days),
            topic_retention_hours=env_int(
                env, "EVENTLAKE_TOPIC_RETENTION_HOURS", cls.topic_retention_hours
            ),
            stream_stores=(
                tuple(s.strip() for s in stores.split(",") if s.strip())
                if stores is not None
                else cls.stream_stores
            ),
            dbt_target=_target(env.get("EVENTLAKE_DBT_TARGET")),
            cleanup_grace_seconds=env_int(
                env, "EVENTLAKE_ERASURE_CLEANUP_GRACE_SECONDS", cls.cleanup_grace_seconds
            ),
        )


LEDGER_TARGET = "prod"
"""profiles.yml's default output: the DuckLake lakehouse, whose control plane
(EVENTLAKE_CATALOG) is the ledger of every pass."""


def _target(value: str | None) -> str | None:
    """None for the ledger's own target: its control plane needs no copying."""
    value = (value or "").strip()
    return None if value in ("", LEDGER_TARGET) else value


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
    purge: LakehousePurge | None = None
    build_ok: bool | None = None


class Dbt:
    """dbt run from the project directory on this lake, catalog and subject-hash key; on
    `target` when given, else the profile's default. The environment is passed through
    (EVENTLAKE_SPARK_WAREHOUSE, DBT_TARGET_PATH, ...)."""

    def __init__(
        self, settings: Settings, project_dir: Path | None = None, target: str | None = None
    ) -> None:
        self.project_dir = project_dir
        self.target = target
        self.env = dict(settings.dbt_env(), EVENTLAKE_SUBJECT_HASH_KEY=settings.subject_hash_key)

    def __call__(self, *args: str, check: bool = True) -> bool:
        return self.run(*args, check=check).returncode == 0

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The finished invocation (its stdout for `dbt show`); raises on failure if check."""
        done = run_dbt(*args, cwd=self.project_dir, env=self.env, target=self.target)
        if done.returncode != 0 and check:
            raise ErasureError(
                f"dbt {' '.join(args[:2])} failed (exit {done.returncode}):\n"
                + (done.stdout[-3000:] + done.stderr[-1000:]).strip()
            )
        return done


class TargetControlPlane:
    """A dbt target with a control plane of its own (Spark): the pass records its requests
    there, since erase_subjects reads the subjects from it, and copies what that target
    confirms into the ledger, since `eventlake erasure status` and `audit` read the ledger
    only. Each copy takes the rows recorded since the previous one began, so no row is
    copied twice or missed; the two clocks are this machine's (a remote cluster's clock must
    agree with it to the read's precision)."""

    def __init__(self, dbt: Dbt, settings: Settings, since: datetime) -> None:
        self.dbt = dbt
        self.settings = settings
        self.since = since

    def record_requests(self, hashes: Mapping[str, str], window_days: int) -> None:
        """request_id -> subject hash into the target's requests and suppression list."""
        requests = [{"request_id": r, "subject_hash": h} for r, h in sorted(hashes.items())]
        arguments = {"requests": requests, "window_days": window_days}
        self.dbt("run-operation", "record_erasure_requests", "--args", json.dumps(arguments))

    def copy_confirmations(self) -> int:
        """The target's confirmations since the last copy, into the ledger; returns how many.
        Each keeps its pass id and the instant the target recorded it (the ledger's latest word
        per step is the latest recorded)."""
        began = datetime.now(UTC)
        rows = read_target_confirmations(self.dbt, self.since)
        by_instant: dict[datetime, list[Confirmation]] = {}
        for recorded_at, confirmation in rows:
            by_instant.setdefault(recorded_at, []).append(confirmation)
        with control.connect(self.settings) as connection:
            for recorded_at, confirmations in sorted(by_instant.items()):
                control.record_confirmations(connection, confirmations, recorded_at)
        self.since = began
        log.info("%d confirmation(s) copied from target %s", len(rows), self.dbt.target)
        return len(rows)


def read_target_confirmations(dbt: Dbt, since: datetime) -> list[tuple[datetime, Confirmation]]:
    """(recorded_at, confirmation) of the target's control.erasure_confirmations rows recorded
    at or after `since`, by the macro erasure_confirmations_since through `dbt show`."""
    instant = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    done = dbt.run(
        "show",
        "--inline",
        f"{{{{ erasure_confirmations_since('{instant}') }}}}",
        "--output",
        "json",
        "--limit",
        "-1",
        "--log-format",
        "json",
        "--log-format-file",
        "debug",  # the log file as every other invocation writes it
    )
    return [_target_confirmation(row) for row in shown_rows(done.stdout)]


def shown_rows(stdout: str) -> list[dict]:
    """The rows of `dbt show --output json --log-format json`: every stdout line is a JSON log
    event, and the ShowNode event carries the result as JSON text in data.preview."""
    for line in stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("info", {}).get("name") == "ShowNode":
            return json.loads(event["data"]["preview"])
    raise ErasureError(f"dbt show printed no result:\n{stdout[-3000:]}")


def _target_confirmation(row: Mapping) -> tuple[datetime, Confirmation]:
    return _instant(row["recorded_at"]), Confirmation(
        row["request_id"],
        row["store"],
        row["object"],
        row["status"],
        rows_deleted=None if row["rows_deleted"] is None else int(row["rows_deleted"]),
        files_rewritten=None if row["files_rewritten"] is None else int(row["files_rewritten"]),
        confirmed_at=None if row["confirmed_at"] is None else _instant(row["confirmed_at"]),
        detail=row["detail"] or "",
        pass_id=row["pass_id"] or "",
    )


def _instant(text: str) -> datetime:
    """erasure_instant_text's 'YYYY-MM-DD HH:MM:SS.ffffff', which is UTC."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


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
    began = datetime.now(UTC)  # the clock another target stamps its confirmations by
    now = now or began
    report = PassReport(f"pass-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", dry_run)
    dbt = Dbt(settings, project_dir, config.dbt_target)
    target = None
    topics.ensure_erasure_topics(settings)
    if config.dbt_target is not None:
        Dbt(settings, project_dir)("run-operation", "setup_control_plane")  # the ledger's
        target = TargetControlPlane(dbt, settings, began)
    dbt("run-operation", "setup_control_plane")
    with (
        topics.read_requests(settings) as (requests, commit_requests),
        topics.read_confirmations(settings) as (confirmations, commit_confirmations),
    ):
        report.requests_read = len(requests.items) + requests.rejected
        report.requests_rejected = requests.rejected
        report.confirmations_collected = len(confirmations.items)
        with maintenance_lock(settings.lake_dir, settings.catalog):
            subjects = _intake(
                settings, config, target, requests.items, confirmations.items, now, report
            )
            if subjects:
                _erase(settings, dbt, target, subjects, now, report)
            if not dry_run:
                _complete(settings, config, dbt, target, build, now, report)
        if not dry_run:
            commit_requests()
            commit_confirmations()
    return report


def _intake(
    settings: Settings,
    config: ErasureConfig,
    target: TargetControlPlane | None,
    requests: Sequence[ErasureRequest],
    confirmations: Sequence[Confirmation],
    now: datetime,
    report: PassReport,
) -> list[Subject]:
    """Record the requests and suppress their subjects; returns the subjects to erase."""
    key = settings.subject_hash_key
    latest = {r.request_id: r for r in requests}  # the same request sent twice counts once
    rows = [(r.request_id, subject_hash(r.user_id, key), r.requested_at) for r in latest.values()]
    with control.connect(settings) as connection:
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
    if hashes and target is not None:
        target.record_requests(hashes, config.window_days)
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
    settings: Settings,
    dbt: Dbt,
    target: TargetControlPlane | None,
    subjects: list[Subject],
    now: datetime,
    report: PassReport,
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
        steps = _lake_confirmations(lake, request_ids, now, report.pass_id)
        if target is None:
            steps += _lakehouse_steps(request_ids, report.pass_id)
        with control.connect(settings) as connection:
            control.record_confirmations(connection, steps, now)
    arguments = {
        "request_ids": request_ids,
        "dry_run": report.dry_run,
        "lake_partitions": curated,
        "recompute_requests": recompute,
        "pass_id": report.pass_id,
    }
    if target is not None and report.dry_run:
        # A dry run records nothing on the target, and erase_subjects reads the subjects from
        # the target's own control plane: only the lake's counts are taken.
        log.info("dry run: the models of target %s are not counted", target.dbt.target)
    else:
        dbt("run-operation", "erase_subjects", "--args", json.dumps(arguments))
        if target is not None:
            target.copy_confirmations()
    report.erased = request_ids


def _lakehouse_steps(request_ids: Sequence[str], pass_id: str) -> list[Confirmation]:
    """The lakehouse's files, pending until _complete has purged them. Only on the lakehouse
    target: on another one (Spark) the lakehouse holds the ledger alone (subject hashes, kept by
    design; its tables are only appended to), never a model's rows; the target's files are
    rewritten by erase_subjects (Spark's `insert overwrite` writes new Parquet files), which
    confirms each object."""
    return [
        Confirmation(
            request_id,
            LAKEHOUSE_STORE,
            CURATED,
            PENDING,
            detail="deleted rows stay in the data files of older DuckLake snapshots until the "
            "files are rewritten, the snapshots expired and the old files deleted",
            pass_id=pass_id,
        )
        for request_id in request_ids
    ]


def _build_exclusions(target: TargetControlPlane | None) -> tuple[str, ...]:
    """What the Spark target cannot build (README, "Not yet on Spark") beyond the unit tests
    that no production build runs (PRODUCTION_BUILD): the snapshot (dbt-spark snapshots need
    Delta, Iceberg or Hudi), with its data tests."""
    if target is None:
        return ()
    return ("--exclude", "resource_type:snapshot")


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
    target: TargetControlPlane | None,
    build: bool,
    now: datetime,
    report: PassReport,
) -> None:
    """Recompute the rollups, purge the lakehouse's old files, confirm what time has done."""
    if build:
        report.build_ok = dbt(*PRODUCTION_BUILD, *_build_exclusions(target), check=False)
        if not report.build_ok:
            log.warning("dbt build failed: the rollups' erasure steps stay pending")
    if target is not None:
        dbt("run-operation", "confirm_erasure_recomputes")
        target.copy_confirmations()
    with control.connect(settings) as connection:
        pending = sorted({r for r, _, _ in control.pending_steps(connection, LAKEHOUSE_STORE)})
    if pending:
        report.purge = lakehouse_purge.purge(
            settings,
            lambda: dbt("run-operation", "publish_erasure"),
            grace_seconds=config.cleanup_grace_seconds,
        )
    with control.connect(settings) as connection:
        steps = _purge_steps(report.purge, pending, report.pass_id)
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


def _purge_steps(
    purge: LakehousePurge | None, request_ids: Sequence[str], pass_id: str
) -> list[Confirmation]:
    """The pending requests' word on the lakehouse's files after a purge (none without one)."""
    if purge is None:
        return []
    if purge.done:
        status, confirmed_at = CONFIRMED, datetime.now(UTC)
        detail = (
            f"{purge.files_rewritten} data file(s) with deleted rows rewritten, "
            f"{purge.snapshots_expired} older snapshot(s) expired, {purge.files_removed} "
            f"old file(s) deleted; time travel starts at snapshot {purge.pinned_version}"
        )
    else:
        status, confirmed_at = PENDING, None
        detail = (
            f"waits until {', '.join(purge.lagging)} consumed the deletes (the next dbt "
            f"build); a later pass then rewrites the files and expires the snapshots"
        )
    return [
        Confirmation(
            request_id,
            LAKEHOUSE_STORE,
            CURATED,
            status,
            files_rewritten=purge.files_rewritten if purge.done else None,
            confirmed_at=confirmed_at,
            detail=detail,
            pass_id=pass_id,
        )
        for request_id in request_ids
    ]
