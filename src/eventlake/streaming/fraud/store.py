"""The fraud store: per-user velocity windows and rule flags in one SQLite file (WAL mode).

State, all in event time. Every timestamp is stored as INTEGER epoch seconds (UTC); the read
API (flags(), velocity()) returns them as ISO-8601 strings.

    fraud_minutes           user_id, minute -> events, purchases             (minute buckets)
    fraud_minute_purchases  user_id, minute, currency ("" = none) -> value   (purchase value)
    fraud_minute_seen       user_id, kind, value, minute                     (distinct sessions,
                                                                              devices, countries)
    fraud_velocity          user_id, window_name -> the window's measures at the user's latest
                            event minute
    fraud_flags             user_id, rule, window_end -> window_start, value, threshold, flagged_at
    offsets                 topic, partition -> next_offset
    suppressed              subject_hash -> erased_at

A window of W minutes ends with the user's latest event minute L: it holds the buckets L-W+1..L,
i.e. the events with window_start <= event_time < window_end, where window_end is the end of
minute L and window_end - window_start = window_seconds. (The dbt twin, agg_fraud_user_velocity,
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

How it stays fast (each touched user's buckets are read once per table, set-based):
- one grouped scan per bucket table measures all windows of every touched user at once
  (aggregates with FILTER clauses), plus each rule's envelope: its measure over the buckets from
  the window at the batch's first minute to the latest one, which bounds every window the walk
  would evaluate (rule measures only grow when a window covers more buckets);
- distinct counts come from each value's last minute (fraud_minute_seen is keyed by user, kind,
  value, minute, so that grouping streams in key order): a value is in a window ending with the
  latest minute when its last minute is in it;
- only users whose envelope exceeds a threshold (and who could still get a flag) have their
  windows at every minute measured one by one; everybody else is done with the wide scans;
- buckets are pruned only for users who have some behind the horizon.
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
from eventlake.streaming.sqlite import connect_wal
from eventlake.streaming.store import Offsets

WINDOWS = (("1m", 60), ("10m", 600), ("1h", 3600))
"""(window_name, window_seconds) of every velocity window."""
PRUNE_AFTER = 3600 + 60
"""Buckets this many seconds older than the user's latest minute are deleted."""
COUNTED = ("events", "purchases")
"""Measures summed from fraud_minutes."""
DISTINCT = {"sessions": "session", "devices": "device", "countries": "country"}
"""Measures counted as distinct values of fraud_minute_seen: measure -> kind."""
RULE_MEASURES = (*COUNTED, *DISTINCT)
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

for _rule in RULES:  # names are put into SQL: only known measures, windows and rules may appear
    if (
        _rule.measure not in RULE_MEASURES
        or _rule.window_name not in dict(WINDOWS)
        or not _rule.name.isidentifier()
    ):
        raise ValueError(f"rule {_rule.name}: unknown measure or window, or not an identifier")

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
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    minute INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind, value, minute)
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


def _start(window_seconds: int, minute: str) -> str:
    """SQL: the first minute of the window of that length ending with the `minute` expression."""
    return f"{minute} + {60 - window_seconds}"


def _seconds(rule: Rule) -> int:
    return dict(WINDOWS)[rule.window_name]


# Scratch tables of one apply(), private to the connection, one row per touched user (t).
# Their columns: (name, aggregate over the user's rows of the source table).
_COUNTS = [
    ("first_minute", "t.first_minute"),
    ("latest", "t.latest"),
    ("oldest", "min(b.minute)"),
    *(
        (f"{measure}_{name}", f"sum(b.{measure}) FILTER (WHERE b.minute >= {since})")
        for name, seconds in WINDOWS
        for since in [_start(seconds, "t.latest")]
        for measure in COUNTED
    ),
    *(
        (f"envelope_{rule.name}", f"sum(b.{rule.measure}) FILTER (WHERE b.minute >= {since})")
        for rule in RULES
        if rule.measure in COUNTED
        for since in [_start(_seconds(rule), "t.first_minute")]
    ),
]
"""Over b = the user's fraud_minutes. Every window holds the latest bucket and every envelope
the first one, so no sum is over nothing."""
_DISTINCT = [
    *(
        (f"{measure}_{name}", f"count(*) FILTER (WHERE l.kind = '{kind}' AND l.last >= {since})")
        for name, seconds in WINDOWS
        for since in [_start(seconds, "t.latest")]
        for measure, kind in DISTINCT.items()
    ),
    *(
        (
            f"envelope_{rule.name}",
            f"count(*) FILTER (WHERE l.kind = '{DISTINCT[rule.measure]}' AND l.last >= {since})",
        )
        for rule in RULES
        if rule.measure in DISTINCT
        for since in [_start(_seconds(rule), "t.first_minute")]
    ),
]
"""Over l = temp.last_seen, the user's values with the last minute each was seen in."""
_MONEY = [
    (f"{column}_{name}", f"{aggregate} FILTER (WHERE p.minute >= {_start(seconds, 't.latest')})")
    for name, seconds in WINDOWS
    for column, aggregate in (
        ("currencies", "count(DISTINCT nullif(p.currency, ''))"),
        ("currency", "min(nullif(p.currency, ''))"),
        ("amount", "sum(p.value)"),
    )
]
"""Over p = the user's fraud_minute_purchases (users without purchases have no row)."""
_MEASURED = (
    ("counts", "fraud_minutes AS b ON b.user_id = t.user_id", _COUNTS),
    ("distinct_counts", "temp.last_seen AS l ON l.user_id = t.user_id", _DISTINCT),
    ("money", "fraud_minute_purchases AS p ON p.user_id = t.user_id", _MONEY),
)
"""(scratch table, what the touched users t are joined to, columns)."""

_TEMP = "\n".join(
    [
        "CREATE TEMP TABLE IF NOT EXISTS touched ("
        " user_id TEXT PRIMARY KEY, first_minute INTEGER, latest INTEGER) WITHOUT ROWID;",
        "CREATE TEMP TABLE IF NOT EXISTS last_seen ("
        " user_id TEXT, kind TEXT, value TEXT, last INTEGER,"
        " PRIMARY KEY (user_id, kind, value)) WITHOUT ROWID;",
        "CREATE TEMP TABLE IF NOT EXISTS suspects ("
        " rule TEXT, user_id TEXT, last_end INTEGER, PRIMARY KEY (rule, user_id)) WITHOUT ROWID;",
        *(
            f"CREATE TEMP TABLE IF NOT EXISTS {table} (user_id TEXT PRIMARY KEY,"
            f" {', '.join(name for name, _ in columns)}) WITHOUT ROWID;"
            for table, _, columns in _MEASURED
        ),
    ]
)
_SCRATCH = ("touched", "last_seen", "suspects", *(table for table, _, _ in _MEASURED))

# Grouping in key order streams: no sort, no temporary index.
_LAST_SEEN = """
INSERT INTO temp.last_seen
SELECT user_id, kind, value, max(minute) FROM fraud_minute_seen
WHERE user_id IN (SELECT user_id FROM temp.touched)
GROUP BY user_id, kind, value
"""

_MEASURE = [
    f"INSERT INTO temp.{table}"
    f" SELECT t.user_id, {', '.join(aggregate for _, aggregate in columns)}"
    f" FROM temp.touched AS t CROSS JOIN {joined} GROUP BY t.user_id"
    for table, joined, columns in _MEASURED
]
"""One grouped scan per bucket table; CROSS JOIN keeps touched the outer loop."""

_VELOCITY = [
    f"""
INSERT OR REPLACE INTO fraud_velocity
SELECT c.user_id, '{name}', {seconds}, {_start(seconds, "c.latest")}, c.latest + 60,
       {", ".join(f"c.{measure}_{name}" for measure in COUNTED)},
       CASE coalesce(m.currencies_{name}, 0)
            WHEN 0 THEN 0 WHEN 1 THEN round(m.amount_{name}, 2) END,
       CASE WHEN m.currencies_{name} = 1 THEN m.currency_{name} END,
       {", ".join(f"coalesce(d.{measure}_{name}, 0)" for measure in DISTINCT)}, ?
FROM temp.counts AS c
LEFT JOIN temp.distinct_counts AS d ON d.user_id = c.user_id
LEFT JOIN temp.money AS m ON m.user_id = c.user_id
"""
    for name, seconds in WINDOWS
]
"""The windows at the latest minute, one statement per window."""


def _suspects_sql(rule: Rule) -> str:
    """Users whose envelope exceeds the rule's threshold (?1) and who could get a flag (or a
    flag's value raised) in this batch: their last flag for the rule (kept as last_end) ends at
    or before the start of their latest window, or inside the batch's minutes."""
    table = "counts" if rule.measure in COUNTED else "distinct_counts"
    return f"""
INSERT INTO temp.suspects
SELECT '{rule.name}', user_id, last_end FROM (
    SELECT c.user_id, c.first_minute, c.latest,
           (SELECT max(g.window_end) FROM fraud_flags AS g
            WHERE g.user_id = c.user_id AND g.rule = '{rule.name}') AS last_end
    FROM temp.{table} AS e JOIN temp.counts AS c ON c.user_id = e.user_id
    WHERE e.envelope_{rule.name} > ?1
)
WHERE last_end IS NULL OR last_end <= {_start(_seconds(rule), "latest")}
   OR last_end >= first_minute + 60
"""


def _walk_sql(rule: Rule) -> str:
    """The suspects' windows ending at every minute with a bucket from the batch's first minute
    on, in event-time order per user: user_id, window_start, window_end, last_end, measure."""
    since = _start(_seconds(rule), "b.minute")
    if rule.measure in COUNTED:
        measure = f"""(SELECT sum(x.{rule.measure}) FROM fraud_minutes AS x
            WHERE x.user_id = s.user_id AND x.minute >= {since} AND x.minute <= b.minute)"""
    else:
        measure = f"""(SELECT count(DISTINCT x.value) FROM fraud_minute_seen AS x
            WHERE x.user_id = s.user_id AND x.kind = '{DISTINCT[rule.measure]}'
              AND x.minute >= {since} AND x.minute <= b.minute)"""
    return f"""
SELECT s.user_id, {since}, b.minute + 60, s.last_end, {measure}
FROM temp.suspects AS s
JOIN temp.counts AS c ON c.user_id = s.user_id
JOIN fraud_minutes AS b ON b.user_id = s.user_id AND b.minute >= c.first_minute
WHERE s.rule = '{rule.name}'
ORDER BY s.user_id, b.minute
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
        self._conn = connect_wal(config.sqlite_path)
        self._conn.executescript(_SCHEMA + _TEMP)

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
            # Named columns: a file made before the key order changed keeps its own order.
            "INSERT OR IGNORE INTO fraud_minute_seen (user_id, kind, value, minute)"
            " VALUES (?, ?, ?, ?)",
            _rows(change.seen.select(["user_id", "kind", "value", "minute"])),
        )
        for table in _SCRATCH:
            conn.execute(f"DELETE FROM temp.{table}")
        conn.executemany(
            "INSERT INTO temp.touched VALUES"
            " (?1, ?2, (SELECT max(minute) FROM fraud_minutes WHERE user_id = ?1))",
            _rows(change.users.select(["user_id", "first_minute"])),
        )
        conn.execute(_LAST_SEEN)
        for statement in _MEASURE:
            conn.execute(statement)
        for statement in _VELOCITY:
            conn.execute(statement, (now,))
        self._raise_flags(now)
        horizons = conn.execute(
            "SELECT user_id, latest - ?1 FROM temp.counts WHERE oldest < latest - ?1",
            (PRUNE_AFTER,),
        ).fetchall()
        for table in _BUCKET_TABLES:
            conn.executemany(f"DELETE FROM {table} WHERE user_id = ? AND minute < ?", horizons)

    def _raise_flags(self, now: int) -> None:
        """Flags of the touched users. A window inside a user's envelope can only exceed a
        threshold if the envelope does, so only the users whose envelope does have the windows
        at every minute measured, and walked in event-time order."""
        conn = self._conn
        for rule in RULES:
            threshold = self._threshold(rule)
            conn.execute(_suspects_sql(rule), (threshold,))
            last_end: dict[str, int | None] = {}
            raised = []
            for user_id, start, end, last, value in conn.execute(_walk_sql(rule)):
                last = last_end.setdefault(user_id, last)
                if value > threshold and (last is None or last <= start or last == end):
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
