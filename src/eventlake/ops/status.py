"""`eventlake status`: one screen for on-call, read from the stores, the catalog and the topics.

It needs no metrics server: every figure is read where it lives, so a cron job or a probe can
run it on any host that sees the lake, the catalog and the broker.

- Freshness per consumer against its budget: OK, WARN past WARN_FRACTION of it, ERROR past it
  (or nothing visible at all).
- Lag per consumer group on the events topic (eventlake.ops.lag: from a fetch, not from the
  broker's watermark query).
- Dead letters of the last hour, on the events DLQ and the erasure requests' DLQ.
- The last build's publication decision (control.build_publications).
- Erasure requests open and overdue (control.erasure_status).

The exit code is 1 when a budget is breached, a request is overdue, or a check could not be
made (a store, the catalog or the broker did not answer): silence is not health.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, TopicPartition

from eventlake.config import Settings
from eventlake.erasure.topics import dlq_topic
from eventlake.exceptions import EventlakeError, LakeError
from eventlake.lake.maintenance import lakehouse_exists
from eventlake.ops import freshness
from eventlake.ops.config import CONSUMERS, WARN_FRACTION, OpsConfig
from eventlake.ops.lag import group_lag
from eventlake.streaming.config import FraudConfig, OnlineConfig

log = logging.getLogger(__name__)

FORMATS = ("table", "json")
DLQ_WINDOW_SECONDS = 3600
DLQ_SCAN_LIMIT = 1_000_000
"""Dead letters read at most per topic; past it the count is reported as a lower bound."""
OK, WARN, ERROR = "OK", "WARN", "ERROR"


@dataclass(frozen=True)
class Freshness:
    consumer: str
    newest_event_at: datetime | None
    age_seconds: float | None
    budget_seconds: int
    level: str


@dataclass(frozen=True)
class GroupLag:
    group: str
    topic: str
    messages: int | None
    seconds: float | None
    error: str | None = None


@dataclass(frozen=True)
class DeadLetters:
    topic: str
    last_hour: int | None
    at_least: bool = False
    error: str | None = None


@dataclass(frozen=True)
class Build:
    invocation_id: str | None
    decided_at: datetime | None
    published: bool | None
    failed_nodes: str
    error: str | None = None


@dataclass(frozen=True)
class Erasure:
    open: int | None
    overdue: int | None
    oldest_open_age_seconds: float | None
    error: str | None = None


@dataclass
class Status:
    checked_at: datetime
    freshness: list[Freshness]
    lag: list[GroupLag]
    dead_letters: list[DeadLetters]
    build: Build
    erasure: Erasure
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0


def level(age: float | None, budget: float) -> str:
    """OK / WARN / ERROR for a freshness age against its budget (no data is ERROR)."""
    if age is None or math.isnan(age):
        return ERROR
    if age > budget:
        return ERROR
    return WARN if age > WARN_FRACTION * budget else OK


def _instant(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def freshness_of(newest: dict[str, float | None], budgets: dict[str, int], now: float):
    rows = []
    for consumer in CONSUMERS:
        seconds = newest.get(consumer)
        age = None if seconds is None else max(now - seconds, 0.0)
        budget = budgets[consumer]
        rows.append(Freshness(consumer, _instant(seconds), age, budget, level(age, budget)))
    return rows


def lakehouse_state(settings: Settings, now: float) -> tuple[dict, Build, Erasure]:
    """The analytics and training freshness, the last build and the erasure requests: one
    read-only attach of the catalog (none when it does not exist: attaching would create it)."""
    if not lakehouse_exists(settings.catalog):
        raise LakeError(f"no catalog at {settings.catalog} yet (dbt build creates it)")
    with settings.connect(read_only=True) as connection:
        newest = freshness.newest_lakehouse(connection, now)
        return newest, _last_build(connection), _erasure(connection, now)


def _last_build(connection) -> Build:
    try:
        row = connection.execute(
            """
            select invocation_id, decided_at, published, coalesce(failed_nodes, '')
            from control.build_publications
            order by decided_at desc
            limit 1
            """
        ).fetchone()
    except Exception as error:  # noqa: BLE001 - duckdb.CatalogException: no build yet
        return Build(None, None, None, "", f"no build recorded ({_first_line(error)})")
    if row is None:
        return Build(None, None, None, "", "no build recorded")
    return Build(row[0], row[1], bool(row[2]), row[3])


def _erasure(connection, now: float) -> Erasure:
    try:
        row = connection.execute(
            """
            select
                count(*),
                count(*) filter (where due_at < to_timestamp($now)),
                $now - epoch(min(received_at))
            from control.erasure_status
            where state <> 'complete'
            """,
            {"now": now},
        ).fetchone()
    except Exception as error:  # noqa: BLE001 - duckdb.CatalogException: no control plane
        return Erasure(0, 0, None, f"no erasure control plane ({_first_line(error)})")
    return Erasure(int(row[0]), int(row[1]), None if row[2] is None else float(row[2]))


def dead_letters_since(bootstrap_servers: str, topic: str, since: float, timeout: float = 10.0):
    """Messages of `topic` with a timestamp at or after `since` (Unix seconds).

    The scan starts where the broker says `since` begins (offsets_for_times; the local broker
    may answer an earlier offset, which only costs reading more) and counts by timestamp up to
    each partition's end (its EOF event)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": "eventlake-status",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
        if topic not in metadata.topics or metadata.topics[topic].error is not None:
            return DeadLetters(topic, 0)  # never created: nothing was dead-lettered
        partitions = sorted(metadata.topics[topic].partitions)
        stamp = int(since * 1000)
        starts = consumer.offsets_for_times(
            [TopicPartition(topic, p, stamp) for p in partitions], timeout=timeout
        )
        consumer.assign(
            [
                TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else -2)
                for tp in starts
            ]
        )
        count = read = 0
        at_end: set[int] = set()
        deadline = time.monotonic() + timeout
        while at_end < set(partitions):
            if time.monotonic() > deadline or read >= DLQ_SCAN_LIMIT:
                return DeadLetters(topic, count, at_least=True)
            for message in consumer.consume(10_000, 0.2):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        at_end.add(message.partition())
                    continue
                read += 1
                at_end.discard(message.partition())
                if message.timestamp()[1] >= stamp:
                    count += 1
        return DeadLetters(topic, count)
    finally:
        consumer.close()


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _guarded(what: str, problems: list[str], read: Callable, fallback):
    try:
        return read()
    except (EventlakeError, Exception) as error:  # noqa: BLE001 - reported, never raised
        problems.append(f"{what}: {_first_line(error)}")
        return fallback(_first_line(error))


def collect(
    settings: Settings,
    ops: OpsConfig,
    online: OnlineConfig,
    fraud: FraudConfig,
    *,
    now: float | None = None,
    timeout: float = 10.0,
) -> Status:
    """Read every store, the catalog and the topics; never raises for what it cannot read (a
    problem is recorded instead)."""
    now = time.time() if now is None else now
    problems: list[str] = []
    newest, build, erasure = _guarded(
        "lakehouse",
        problems,
        lambda: lakehouse_state(settings, now),
        lambda e: (
            {"analytics": None, "training": None},
            Build(None, None, None, "", e),
            Erasure(None, None, None, e),
        ),
    )
    newest = {
        "online": _guarded(
            "online store", problems, lambda: freshness.newest_online(online, now), _none
        ),
        "fraud": _guarded(
            "fraud store", problems, lambda: freshness.newest_fraud(fraud, now), _none
        ),
        **newest,
    }
    fresh = freshness_of(newest, ops.budgets(), now)
    for row in fresh:
        if row.level == ERROR:
            problems.append(
                f"{row.consumer}: no event visible in its store (budget {row.budget_seconds} s)"
                if row.age_seconds is None
                else f"{row.consumer} freshness {row.age_seconds:.0f} s is over its budget of "
                f"{row.budget_seconds} s"
            )
    groups = (settings.group_id, online.group_id, fraud.group_id)
    dlq_topics = (settings.dlq_topic, dlq_topic(settings.erasure_topic))
    unreachable = _unreachable(settings.bootstrap_servers, timeout)
    if unreachable is not None:  # one problem, not one wait per group and topic
        problems.append(f"Kafka: {unreachable}")
        lags = [GroupLag(g, settings.topic, None, None, unreachable) for g in groups]
        dead = [DeadLetters(t, None, error=unreachable) for t in dlq_topics]
        return _finish(settings, fresh, lags, dead, build, erasure, problems, now)
    lags = []
    for group in groups:
        lags.append(
            _guarded(
                f"lag of {group}",
                problems,
                lambda group=group: _group_lag(settings, group, timeout),
                lambda e, group=group: GroupLag(group, settings.topic, None, None, e),
            )
        )
    dead = [
        _guarded(
            f"dead letters of {topic}",
            problems,
            lambda topic=topic: dead_letters_since(
                settings.bootstrap_servers, topic, now - DLQ_WINDOW_SECONDS, timeout
            ),
            lambda e, topic=topic: DeadLetters(topic, None, error=e),
        )
        for topic in dlq_topics
    ]
    return _finish(settings, fresh, lags, dead, build, erasure, problems, now)


def _unreachable(bootstrap_servers: str, timeout: float) -> str | None:
    """None when a broker answers at bootstrap_servers, else what went wrong."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout)
    except Exception as error:  # noqa: BLE001 - KafkaException: reported
        return f"no broker answered at {bootstrap_servers} in {timeout:.0f} s ({error})"
    return None


def _finish(settings, fresh, lags, dead, build, erasure, problems, now) -> Status:
    if erasure.overdue:
        problems.append(f"{erasure.overdue} erasure requests are overdue")
    if build.published is False:
        problems.append(f"the last build was not published: {build.failed_nodes}")
    return Status(_instant(now), fresh, lags, dead, build, erasure, problems)


def _none(_error: str) -> None:
    return None


def _group_lag(settings: Settings, group: str, timeout: float) -> GroupLag:
    partitions = group_lag(settings.bootstrap_servers, group, settings.topic, timeout=timeout)
    return GroupLag(
        group,
        settings.topic,
        sum(p.messages for p in partitions),
        max((p.seconds for p in partitions), default=0.0),
    )


# -- rendering ----------------------------------------------------------------------------------


def render(status: Status, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({**asdict(status), "exit_code": status.exit_code}, indent=2, default=str)
    lines = [f"eventlake status at {_iso(status.checked_at)}", ""]
    lines += _table(
        ("consumer", "newest event", "age", "budget", "status"),
        [
            (
                f.consumer,
                _iso(f.newest_event_at) or "none",
                _duration(f.age_seconds),
                _duration(f.budget_seconds),
                f.level,
            )
            for f in status.freshness
        ],
    )
    lines.append("")
    lines += _table(
        ("group", "topic", "lag (messages)", "lag (age)"),
        [
            (
                g.group,
                g.topic,
                "?" if g.messages is None else str(g.messages),
                _duration(g.seconds),
            )
            for g in status.lag
        ],
    )
    lines.append("")
    dead = ", ".join(
        f"{d.topic} {'?' if d.last_hour is None else d.last_hour}{'+' if d.at_least else ''}"
        for d in status.dead_letters
    )
    lines.append(f"dead letters, last hour: {dead}")
    build = status.build
    if build.published is None:
        lines.append(f"last build: {build.error or 'none'}")
    else:
        outcome = "published" if build.published else f"FAILED ({build.failed_nodes})"
        lines.append(
            f"last build: {outcome} at {_iso(build.decided_at)} (invocation {build.invocation_id})"
        )
    erasure = status.erasure
    if erasure.open is None:
        lines.append(f"erasure requests: {erasure.error}")
    else:
        oldest = (
            f", oldest open {_duration(erasure.oldest_open_age_seconds)}"
            if erasure.oldest_open_age_seconds is not None
            else ""
        )
        lines.append(f"erasure requests: {erasure.open} open, {erasure.overdue} overdue{oldest}")
    lines.append("")
    if status.problems:
        lines += ["PROBLEMS:", *(f"- {p}" for p in status.problems)]
    else:
        lines.append("all consumers within budget, no request overdue")
    return "\n".join(lines)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def _duration(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "?"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"
