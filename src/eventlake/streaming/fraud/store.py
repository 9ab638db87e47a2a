"""The fraud store: per-user velocity windows and rule flags in one SQLite file (WAL mode).

State, all in event time. Every timestamp is stored as INTEGER epoch seconds (UTC); the read
API (flags(), velocity()) returns them as ISO-8601 strings.

    fraud_minutes           user_id, minute -> events, purchases             (minute buckets)
    fraud_minute_purchases  user_id, minute, currency ("" = none) -> value   (purchase value)
    fraud_minute_seen       user_id, minute, kind, value                     (distinct sessions,
                                                                              devices, countries)
    fraud_velocity          user_id, window_name -> the window's measures at the user's latest
                            event minute
    fraud_flags             user_id, rule, window_end -> window_start, value, threshold, flagged_at
    offsets                 topic, partition -> next_offset
    suppressed              subject_hash -> erased_at

A window of W minutes ends with the user's latest event minute L: it holds the buckets L-W+1..L,
i.e. the events with window_start <= event_time < window_end, where window_end is the end of
minute L and window_end - window_start = window_seconds. (The dbt twin, fraud_user_velocity,
cuts at an exact as_of instead of whole minutes.)

apply() folds a batch, then, for the users it touched only and in the same transaction:
- evaluates the windows ending at every minute of theirs the batch reached (from the earliest
  minute it touched up to the latest), so the flags raised do not depend on how the stream was
  cut into batches: a replay raises the same flags;
- rewrites their fraud_velocity rows (the windows ending at their latest minute);
- raises flags: a rule fires when its measure is ABOVE its threshold, walking the windows in
  event-time order, and only if the user has no flag for that rule whose window_end is after the
  new window_start (one flag per burst). A window that already has its flag (same window_end)
  only raises the flag's value, so a minute split across two batches ends with the same flag as
  one batch would give;
- prunes their buckets more than PRUNE_AFTER seconds behind their latest minute.
Late events are folded into their minutes and re-evaluate the windows from there, over what is
left of the older buckets: a window reaching behind the pruning horizon of an earlier batch is
undercounted, so flags are replay-stable for streams that are in event-time order per user.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import NamedTuple

import pyarrow as pa

from eventlake.streaming.config import FraudConfig
from eventlake.streaming.fraud.velocity import delta
from eventlake.streaming.store import Offsets

WINDOWS = (("1m", 60), ("10m", 600), ("1h", 3600))
"""(window_name, window_seconds) of every velocity window."""
PRUNE_AFTER = 3600 + 60
"""Buckets this many seconds older than the user's latest minute are deleted."""
RULE_MEASURES = ("events", "purchases", "sessions", "devices", "countries")
"""The measures a rule may test: counts, which never shrink when a window covers more buckets
(purchase_value does not qualify)."""


class Rule(NamedTuple):
    name: str
    window_name: str
    measure: str
    threshold: str
    """The FraudConfig attribute holding the threshold."""


RULES = (
    Rule("purchases_10m", "10m", "purchases", "max_purchases_10m"),
    Rule("countries_1h", "1h", "countries", "max_countries_1h"),
    Rule("devices_1h", "1h", "devices", "max_devices_1h"),
    Rule("events_1m", "1m", "events", "max_events_1m"),
)
"""A flag is raised when the rule's measure over its window is above the threshold."""

for _rule in RULES:  # measure names are put into SQL: only known columns may appear
    if _rule.measure not in RULE_MEASURES or _rule.window_name not in dict(WINDOWS):
        raise ValueError(f"rule {_rule.name}: unknown measure or window")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fraud_minutes (
    user_id TEXT NOT NULL,
    minute INTEGER NOT NULL,
    events INTEGER NOT NULL,
    purchases INTEGER NOT NULL,
    PRIMARY KEY (user_id, minute)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fraud_minute_purchases (
    user_id TEXT NOT NULL,
    minute INTEGER NOT NULL,
    currency TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (user_id, minute, currency)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fraud_minute_seen (
    user_id TEXT NOT NULL,
    minute INTEGER NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (user_id, minute, kind, value)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fraud_velocity (
    user_id TEXT NOT NULL,
    window_name TEXT NOT NULL,
    window_seconds INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    window_end INTEGER NOT NULL,
    events INTEGER NOT NULL,
    purchases INTEGER NOT NULL,
    purchase_value REAL,
    purchase_currency_code TEXT,
    sessions INTEGER NOT NULL,
    devices INTEGER NOT NULL,
    countries INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, window_name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fraud_flags (
    user_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    window_end INTEGER NOT NULL,
    value NUMERIC NOT NULL,
    threshold NUMERIC NOT NULL,
    flagged_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, rule, window_end)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS fraud_flags_by_window_end ON fraud_flags (window_end);
CREATE TABLE IF NOT EXISTS offsets (
    topic TEXT NOT NULL,
    "partition" INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, "partition")
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS suppressed (
    subject_hash TEXT PRIMARY KEY,
    erased_at INTEGER NOT NULL
) WITHOUT ROWID;
"""

# Scratch tables of one apply(), private to the connection. A frame is one window of one user,
# the buckets window_start <= minute < window_end, measured together with its envelope, the
# buckets envelope_start <= minute < window_end (envelope_* columns: the rule measures over it).
_TEMP = """
CREATE TEMP TABLE IF NOT EXISTS windows (window_name TEXT PRIMARY KEY, window_seconds INTEGER);
CREATE TEMP TABLE IF NOT EXISTS touched (
    user_id TEXT PRIMARY KEY, first_minute INTEGER, latest INTEGER
) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS suspects (
    user_id TEXT, window_name TEXT, PRIMARY KEY (user_id, window_name)
) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS frames (
    user_id TEXT, window_name TEXT, window_seconds INTEGER, window_start INTEGER,
    window_end INTEGER, envelope_start INTEGER,
    PRIMARY KEY (user_id, window_name, window_end)
) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS measured (
    user_id TEXT, window_name TEXT, window_seconds INTEGER, window_start INTEGER,
    window_end INTEGER, events INTEGER, purchases INTEGER, purchase_value REAL,
    purchase_currency_code TEXT, sessions INTEGER, devices INTEGER, countries INTEGER,
    envelope_events INTEGER, envelope_purchases INTEGER, envelope_sessions INTEGER,
    envelope_devices INTEGER, envelope_countries INTEGER,
    PRIMARY KEY (user_id, window_name, window_end)
) WITHOUT ROWID;
"""
_SCRATCH = ("touched", "suspects", "frames", "measured")

# Per touched user and window: the window at the latest minute; its envelope starts with the
# window at the first minute the batch touched, so it covers every window ending in between.
_LATEST_FRAMES = """
INSERT INTO temp.frames
SELECT t.user_id, w.window_name, w.window_seconds, t.latest + 60 - w.window_seconds,
       t.latest + 60, t.first_minute + 60 - w.window_seconds
FROM temp.touched AS t CROSS JOIN temp.windows AS w
"""

# The window ending at every minute of a suspect from the first minute the batch touched on.
_SUSPECT_FRAMES = """
INSERT INTO temp.frames
SELECT m.user_id, w.window_name, w.window_seconds, m.minute + 60 - w.window_seconds,
       m.minute + 60, m.minute + 60 - w.window_seconds
FROM temp.suspects AS s
JOIN temp.touched AS t ON t.user_id = s.user_id
JOIN temp.windows AS w ON w.window_name = s.window_name
JOIN fraud_minutes AS m ON m.user_id = s.user_id AND m.minute >= t.first_minute
"""

# Every measure of every frame, one primary-key range scan of each bucket table per frame.
_MEASURE = """
INSERT INTO temp.measured
WITH counts AS (
    SELECT f.user_id, f.window_name, f.window_end,
           sum(CASE WHEN b.minute >= f.window_start THEN b.events ELSE 0 END) AS events,
           sum(CASE WHEN b.minute >= f.window_start THEN b.purchases ELSE 0 END) AS purchases,
           sum(b.events) AS envelope_events, sum(b.purchases) AS envelope_purchases
    FROM temp.frames AS f
    JOIN fraud_minutes AS b
      ON b.user_id = f.user_id AND b.minute >= f.envelope_start AND b.minute < f.window_end
    GROUP BY f.user_id, f.window_name, f.window_end
),
seen AS (
    SELECT f.user_id, f.window_name, f.window_end,
           count(DISTINCT CASE WHEN s.kind = 'session' AND s.minute >= f.window_start
                 THEN s.value END) AS sessions,
           count(DISTINCT CASE WHEN s.kind = 'device' AND s.minute >= f.window_start
                 THEN s.value END) AS devices,
           count(DISTINCT CASE WHEN s.kind = 'country' AND s.minute >= f.window_start
                 THEN s.value END) AS countries,
           count(DISTINCT CASE WHEN s.kind = 'session' THEN s.value END) AS envelope_sessions,
           count(DISTINCT CASE WHEN s.kind = 'device' THEN s.value END) AS envelope_devices,
           count(DISTINCT CASE WHEN s.kind = 'country' THEN s.value END) AS envelope_countries
    FROM temp.frames AS f
    JOIN fraud_minute_seen AS s
      ON s.user_id = f.user_id AND s.minute >= f.envelope_start AND s.minute < f.window_end
    GROUP BY f.user_id, f.window_name, f.window_end
),
money AS (
    SELECT f.user_id, f.window_name, f.window_end,
           count(DISTINCT nullif(p.currency, '')) AS currencies,
           min(nullif(p.currency, '')) AS currency,
           sum(p.value) AS amount
    FROM temp.frames AS f
    JOIN fraud_minute_purchases AS p
      ON p.user_id = f.user_id AND p.minute >= f.window_start AND p.minute < f.window_end
    GROUP BY f.user_id, f.window_name, f.window_end
)
SELECT f.user_id, f.window_name, f.window_seconds, f.window_start, f.window_end,
       c.events, c.purchases,
       CASE coalesce(m.currencies, 0) WHEN 0 THEN 0 WHEN 1 THEN round(m.amount, 2) END,
       CASE WHEN m.currencies = 1 THEN m.currency END,
       coalesce(s.sessions, 0), coalesce(s.devices, 0), coalesce(s.countries, 0),
       c.envelope_events, c.envelope_purchases, coalesce(s.envelope_sessions, 0),
       coalesce(s.envelope_devices, 0), coalesce(s.envelope_countries, 0)
FROM temp.frames AS f
JOIN counts AS c USING (user_id, window_name, window_end)
LEFT JOIN seen AS s USING (user_id, window_name, window_end)
LEFT JOIN money AS m USING (user_id, window_name, window_end)
"""

# Users whose envelope exceeds a rule's threshold and who could get a flag (or a flag's value
# raised) in this batch: their last flag for the rule ends at or before the start of their
# latest window, or inside the batch's minutes.
_SUSPECTS = """
INSERT OR IGNORE INTO temp.suspects
SELECT m.user_id, m.window_name
FROM temp.measured AS m
JOIN temp.touched AS t ON t.user_id = m.user_id
LEFT JOIN (
    SELECT g.user_id, max(g.window_end) AS last_end
    FROM fraud_flags AS g JOIN temp.touched AS t ON t.user_id = g.user_id
    WHERE g.rule = ?1
    GROUP BY g.user_id
) AS f ON f.user_id = m.user_id
WHERE m.window_name = ?2 AND m.envelope_{measure} > ?3
  AND (f.last_end IS NULL OR f.last_end <= m.window_start OR f.last_end >= t.first_minute + 60)
"""

_VELOCITY = """
INSERT OR REPLACE INTO fraud_velocity
SELECT user_id, window_name, window_seconds, window_start, window_end, events, purchases,
       purchase_value, purchase_currency_code, sessions, devices, countries, ?
FROM temp.measured
"""

_FLAG = """
INSERT INTO fraud_flags (user_id, rule, window_start, window_end, value, threshold, flagged_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (user_id, rule, window_end) DO UPDATE SET value = max(value, excluded.value)
"""

_SET_OFFSET = """
INSERT INTO offsets (topic, "partition", next_offset) VALUES (?, ?, ?)
ON CONFLICT (topic, "partition") DO UPDATE SET next_offset = excluded.next_offset
"""

_BUCKET_TABLES = ("fraud_minutes", "fraud_minute_purchases", "fraud_minute_seen")
_USER_TABLES = (*_BUCKET_TABLES, "fraud_velocity", "fraud_flags")


def _rows(table: pa.Table) -> list[tuple]:
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


class FraudStore:
    """The fraud store on config.sqlite_path; several objects (and processes) may open one file:
    one writer at a time, readers alongside (WAL). An object may be shared between threads."""

    name = "fraud"

    def __init__(self, config: FraudConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            config.sqlite_path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA temp_store=MEMORY")
        self._conn.execute("PRAGMA cache_size=-65536")
        self._conn.executescript(_SCHEMA + _TEMP)
        self._conn.executemany("INSERT OR IGNORE INTO temp.windows VALUES (?, ?)", WINDOWS)

    # -- StreamStore -------------------------------------------------------------------------

    def offsets(self) -> dict[tuple[str, int], int]:
        with self._lock:
            rows = self._conn.execute('SELECT topic, "partition", next_offset FROM offsets')
            return {(topic, partition): offset for topic, partition, offset in rows}

    def apply(self, events: pa.Table, offsets: Offsets) -> None:
        with self._lock, _immediate(self._conn):
            if events.num_rows:
                self._fold(events, int(time.time()))
            self._set_offsets(offsets)

    def erase(self, subjects: Mapping[str, str], offsets: Offsets, now: datetime) -> dict[str, int]:
        conn = self._conn
        deleted: dict[str, int] = {}
        with self._lock, _immediate(conn):
            for user_id, subject_hash in subjects.items():
                deleted[user_id] = sum(
                    conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,)).rowcount
                    for table in _USER_TABLES
                )
                conn.execute(
                    "INSERT OR IGNORE INTO suppressed VALUES (?, ?)",
                    (subject_hash, _epoch(now)),
                )
            self._set_offsets(offsets)
        return deleted

    def suppressed(self) -> frozenset[str]:
        with self._lock:
            rows = self._conn.execute("SELECT subject_hash FROM suppressed")
            return frozenset(subject_hash for (subject_hash,) in rows)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- read API ----------------------------------------------------------------------------

    def flags(self, since: datetime | None = None, limit: int = 1000) -> list[dict]:
        """Flags whose window ends at or after `since` (event time; naive means UTC), newest
        window first."""
        where, parameters = "", [limit]
        if since is not None:
            where, parameters = "WHERE window_end >= ?", [_epoch(since), limit]
        with self._lock:
            cursor = self._conn.execute(
                "SELECT user_id, rule, window_start, window_end, value, threshold, flagged_at"
                f" FROM fraud_flags {where} ORDER BY window_end DESC, user_id, rule LIMIT ?",
                parameters,
            )
            return _records(cursor)

    def velocity(self, user_id: str) -> list[dict]:
        """The user's windows (1m, 10m, 1h) at their latest event minute; [] if unknown."""
        with self._lock:
            cursor = self._conn.execute(
                "SELECT * FROM fraud_velocity WHERE user_id = ? ORDER BY window_seconds",
                (user_id,),
            )
            return _records(cursor)

    # -- internals ---------------------------------------------------------------------------

    def _set_offsets(self, offsets: Offsets) -> None:
        self._conn.executemany(
            _SET_OFFSET, [(topic, partition, n) for (topic, partition), n in offsets.items()]
        )

    def _fold(self, events: pa.Table, now: int) -> None:
        conn = self._conn
        change = delta(events)
        conn.executemany(
            "INSERT INTO fraud_minutes VALUES (?, ?, ?, ?) ON CONFLICT (user_id, minute)"
            " DO UPDATE SET events = events + excluded.events,"
            " purchases = purchases + excluded.purchases",
            _rows(change.minutes.select(["user_id", "minute", "events", "purchases"])),
        )
        conn.executemany(
            "INSERT INTO fraud_minute_purchases VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id, minute, currency)"
            " DO UPDATE SET value = coalesce(value + excluded.value, value, excluded.value)",
            _rows(change.purchases.select(["user_id", "minute", "currency", "value"])),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO fraud_minute_seen VALUES (?, ?, ?, ?)",
            _rows(change.seen.select(["user_id", "minute", "kind", "value"])),
        )
        for table in _SCRATCH:
            conn.execute(f"DELETE FROM temp.{table}")
        conn.executemany(
            "INSERT INTO temp.touched (user_id, first_minute) VALUES (?, ?)",
            _rows(change.users.select(["user_id", "first_minute"])),
        )
        conn.execute(
            "UPDATE temp.touched SET latest ="
            " (SELECT max(minute) FROM fraud_minutes AS m WHERE m.user_id = touched.user_id)"
        )
        conn.execute(_LATEST_FRAMES)
        conn.execute(_MEASURE)
        conn.execute(_VELOCITY, (now,))
        self._raise_flags(now)
        horizons = conn.execute(
            "SELECT user_id, latest - ? FROM temp.touched", (PRUNE_AFTER,)
        ).fetchall()
        for table in _BUCKET_TABLES:
            conn.executemany(f"DELETE FROM {table} WHERE user_id = ? AND minute < ?", horizons)

    def _raise_flags(self, now: int) -> None:
        """Flags of the touched users. A window inside a user's envelope can only exceed a
        threshold if the envelope does (rule measures grow with the buckets they cover), so
        the windows at every minute are measured for the users whose envelope does only."""
        conn = self._conn
        for rule in RULES:
            conn.execute(
                _SUSPECTS.format(measure=rule.measure),
                (rule.name, rule.window_name, self._threshold(rule)),
            )
        for table in ("frames", "measured"):
            conn.execute(f"DELETE FROM temp.{table}")
        conn.execute(_SUSPECT_FRAMES)
        conn.execute(_MEASURE)
        for rule in RULES:
            threshold = self._threshold(rule)
            candidates = conn.execute(
                f"SELECT user_id, window_start, window_end, {rule.measure} FROM temp.measured"
                f" WHERE window_name = ? AND {rule.measure} > ? ORDER BY user_id, window_end",
                (rule.window_name, threshold),
            ).fetchall()
            last_end: dict[str, int | None] = {}
            raised = []
            for user_id, start, end, value in candidates:
                if user_id not in last_end:
                    last_end[user_id] = conn.execute(
                        "SELECT max(window_end) FROM fraud_flags WHERE user_id = ? AND rule = ?",
                        (user_id, rule.name),
                    ).fetchone()[0]
                last = last_end[user_id]
                if last is None or last <= start or last == end:
                    raised.append((user_id, rule.name, start, end, value, threshold, now))
                    last_end[user_id] = end
            conn.executemany(_FLAG, raised)

    def _threshold(self, rule: Rule) -> int:
        return getattr(self._config, rule.threshold)


@contextlib.contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _epoch(moment: datetime) -> int:
    """Epoch seconds of a datetime; a naive one is taken as UTC."""
    return int((moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp())


_TIME_COLUMNS = frozenset({"window_start", "window_end", "updated_at", "flagged_at"})


def _records(cursor: sqlite3.Cursor) -> list[dict]:
    names = [column[0] for column in cursor.description]
    return [
        {
            name: _iso(value) if name in _TIME_COLUMNS else value
            for name, value in zip(names, row, strict=True)
        }
        for row in cursor.fetchall()
    ]
