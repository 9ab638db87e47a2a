"""The newest event time each consumer can see, read from that consumer's own store.

Freshness is measured where the consumer reads, not where the pipeline writes: a loader that
keeps up says nothing about a build that stopped publishing. Each reader opens its store
read-only and returns Unix seconds, or None when the store holds no event (or does not exist).

- online: the online store's newest `last_event_at` (SQLite). The Redis backend keeps no index
  of time across users, so its freshness comes from the running consumer only (its metrics).
- fraud: the fraud store's newest minute bucket (the start of the minute: up to a minute older
  than the newest event, never younger).
- analytics: the newest `event_at` of the published `events` view (the facts the rollups count).
- training: the newest `event_at` of the published `fct_training_events`.
The lakehouse reads go through the published views, pinned to the last build whose tests passed:
a failed build shows as staleness, as it does to the consumers.

Event times after `now` are ignored: the contract accepts events up to a day ahead of the clock
(EVENTLAKE_MAX_FUTURE_SECONDS), and one such event would otherwise hide a stale store for a day.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from eventlake.streaming.config import FraudConfig, OnlineConfig

log = logging.getLogger(__name__)

PUBLISHED_SCHEMA = "main"
"""Where publish_build puts the views readers query."""

LAKEHOUSE_VIEWS = {"analytics": "events", "training": "fct_training_events"}
"""consumer -> the published relation its freshness is read from."""


def _sqlite_scalar(path: Path, sql: str, parameters: tuple = ()) -> float | None:
    if not Path(path).exists():
        return None
    connection = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=5)
    try:
        value = connection.execute(sql, parameters).fetchone()[0]
    except sqlite3.OperationalError as error:  # no table yet: nothing folded
        log.debug("%s: %s", path, error)
        return None
    finally:
        connection.close()
    return None if value is None else float(value)


def newest_online(config: OnlineConfig, now: float) -> float | None:
    if config.backend != "sqlite":
        return None
    micros = _sqlite_scalar(
        config.sqlite_path,
        "select max(last_event_at) from times where last_event_at <= ?",
        (int(now * 1e6),),
    )
    return None if micros is None else micros / 1e6


def newest_fraud(config: FraudConfig, now: float) -> float | None:
    return _sqlite_scalar(
        config.sqlite_path, "select max(minute) from fraud_minutes where minute <= ?", (int(now),)
    )


def newest_lakehouse(connection, now: float) -> dict[str, float | None]:
    """consumer -> newest event_at of its published view (a read-only lakehouse connection).

    Two pruned reads a view: the newest event_date up to today, then the newest event_at up to
    now on that date and the day before, so the cost does not grow with two years of history."""
    newest: dict[str, float | None] = {}
    for consumer, view in LAKEHOUSE_VIEWS.items():
        relation = f"{PUBLISHED_SCHEMA}.{view}"
        try:
            (value,) = connection.execute(
                f"""
                with newest_date as (
                    select max(event_date) as event_date
                    from {relation}
                    where event_date <= cast(to_timestamp($now) as date)
                )
                select epoch(max(event_at)) from {relation}
                where event_date between
                    (select event_date - 1 from newest_date)
                    and (select event_date from newest_date)
                    and event_at <= to_timestamp($now)
                """,
                {"now": now},
            ).fetchone()
        except Exception as error:  # noqa: BLE001 - duckdb.CatalogException: not published yet
            log.debug("%s: %s", relation, error)
            value = None
        newest[consumer] = None if value is None else float(value)
    return newest
