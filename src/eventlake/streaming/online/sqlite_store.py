"""The online store in one SQLite file (WAL mode): readers in other processes call get() while
the consumer writes. Every write is one `BEGIN IMMEDIATE` transaction; every table is WITHOUT
ROWID with the user first in its primary key, so get() is a handful of index lookups."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime

import orjson
import pyarrow as pa

from eventlake.streaming.config import OnlineConfig
from eventlake.streaming.online.features import (
    RESOLUTIONS,
    StoreError,
    aggregate,
    epoch_seconds,
    feature_view,
)
from eventlake.streaming.sqlite import connect_wal
from eventlake.streaming.store import Offsets

PRUNE_EVERY = 60.0
"""Wall-clock seconds between two prunes: expired buckets are deleted (a scan of the counts
tables: an index on bucket would cost every apply more than the scan costs once a minute) and
the recent views of the users touched since the last prune are trimmed to recent_items (reads
take the newest recent_items anyway; trimming per batch would cost each apply ~15 ms)."""

SCHEMA = [
    *(
        f"""create table if not exists counts_{r.name} (
            user_id text not null, bucket integer not null, event_type text not null,
            n integer not null, primary key (user_id, bucket, event_type)) without rowid"""
        for r in RESOLUTIONS
    ),
    """create table if not exists recent (
        user_id text not null, event_time integer not null, msg_offset integer not null,
        msg_partition integer not null, product_id text not null, product_family text,
        primary key (user_id, event_time, msg_offset, msg_partition)) without rowid""",
    """create table if not exists times (
        user_id text primary key, last_event_at integer not null, last_purchase_at integer
        ) without rowid""",
    """create table if not exists batch (user_id text primary key, features text not null
        ) without rowid""",
    """create table if not exists offsets (
        topic text not null, kafka_partition integer not null, next_offset integer not null,
        primary key (topic, kafka_partition)) without rowid""",
    """create table if not exists suppressed (subject_hash text primary key,
        erased_at text not null) without rowid""",
]

NEWEST_FIRST = "event_time desc, msg_offset desc, msg_partition desc"
TRIM_RECENT = f"""
    delete from recent where user_id = ?1
    and (event_time, msg_offset, msg_partition) <= (
        select event_time, msg_offset, msg_partition from recent where user_id = ?1
        order by {NEWEST_FIRST} limit 1 offset ?2)
"""
UPSERT_TIMES = """
    insert into times values (?, ?, ?) on conflict (user_id) do update set
        last_event_at = max(last_event_at, excluded.last_event_at),
        last_purchase_at = coalesce(
            max(last_purchase_at, excluded.last_purchase_at),
            last_purchase_at, excluded.last_purchase_at)
"""
USER_TABLES = [f"counts_{r.name}" for r in RESOLUTIONS] + ["recent", "times", "batch"]


class SqliteOnlineStore:
    """OnlineStore on a SQLite file; one connection, guarded by a lock across threads."""

    name = "online"

    def __init__(self, config: OnlineConfig) -> None:
        self.recent_items = config.recent_items
        try:
            self._db = connect_wal(config.sqlite_path)
            # Checkpoints every ~40 MB of WAL rather than 4 MB, so hot pages rewritten by
            # consecutive batches reach the file once (a 15k event batch writes about 4 MB of
            # pages: the default checkpointed on every commit).
            self._db.execute("pragma wal_autocheckpoint=10000")
            for statement in SCHEMA:
                self._db.execute(statement)
        except sqlite3.Error as error:
            raise StoreError(
                f"cannot open the online store {config.sqlite_path}: {error}"
            ) from None
        self._lock = threading.Lock()
        self._pruned_at = float("-inf")
        self._untrimmed: set[str] = set()

    @contextmanager
    def _transaction(self, mode: str = "immediate") -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute(f"begin {mode}")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("rollback")
                    raise
                self._db.execute("commit")
            except sqlite3.Error as error:
                raise StoreError(f"online store (sqlite): {error}") from None

    def offsets(self) -> dict[tuple[str, int], int]:
        with self._transaction("deferred") as db:
            rows = db.execute("select topic, kafka_partition, next_offset from offsets")
            return {(topic, partition): offset for topic, partition, offset in rows}

    def apply(self, events: pa.Table, offsets: Offsets) -> None:
        delta = aggregate(events, self.recent_items)
        with self._transaction() as db:
            for resolution in RESOLUTIONS:
                counts = delta.counts[resolution.name]
                db.executemany(
                    f"""insert into counts_{resolution.name} values (?, ?, ?, ?)
                    on conflict do update set n = n + excluded.n""",
                    zip(*(counts[c].to_pylist() for c in counts.column_names), strict=True),
                )
            db.executemany(
                UPSERT_TIMES,
                zip(*(delta.times[c].to_pylist() for c in delta.times.column_names), strict=True),
            )
            recent = delta.recent
            db.executemany(
                "insert or ignore into recent values (?, ?, ?, ?, ?, ?)",
                zip(*(recent[c].to_pylist() for c in recent.column_names), strict=True),
            )
            self._untrimmed.update(recent["user_id"].to_pylist())
            self._write_offsets(db, offsets)
            if time.monotonic() - self._pruned_at >= PRUNE_EVERY:
                self._prune(db, int(time.time()))

    def _prune(self, db: sqlite3.Connection, now: int) -> None:
        """Drop the buckets no window can count any more (bucket + window + bucket <= now) and
        the views beyond the newest recent_items of the users touched since the last prune."""
        for resolution in RESOLUTIONS:
            db.execute(
                f"delete from counts_{resolution.name} where bucket <= ?",
                (now - resolution.window - resolution.seconds,),
            )
        db.executemany(TRIM_RECENT, ((user, self.recent_items) for user in self._untrimmed))
        self._untrimmed.clear()
        self._pruned_at = time.monotonic()

    @staticmethod
    def _write_offsets(db: sqlite3.Connection, offsets: Offsets) -> None:
        db.executemany(
            """insert into offsets values (?, ?, ?)
            on conflict do update set next_offset = excluded.next_offset""",
            ((topic, partition, offset) for (topic, partition), offset in offsets.items()),
        )

    def erase(self, subjects: Mapping[str, str], offsets: Offsets, now: datetime) -> dict[str, int]:
        deleted = {}
        with self._transaction() as db:
            for user_id, subject_hash in subjects.items():
                deleted[user_id] = sum(
                    db.execute(f"delete from {table} where user_id = ?", (user_id,)).rowcount
                    for table in USER_TABLES
                )
                db.execute(
                    "insert or ignore into suppressed values (?, ?)",
                    (subject_hash, now.astimezone(UTC).isoformat()),
                )
            self._write_offsets(db, offsets)
        return deleted

    def suppressed(self) -> frozenset[str]:
        with self._transaction("deferred") as db:
            return frozenset(row[0] for row in db.execute("select subject_hash from suppressed"))

    def replace_batch(self, rows: pa.Table) -> int:
        with self._transaction() as db:
            suppressed = {row[0] for row in db.execute("select subject_hash from suppressed")}
            kept = [
                (user_id, features)
                for user_id, subject_hash, features in zip(
                    rows["user_id"].to_pylist(),
                    rows["subject_hash"].to_pylist(),
                    rows["features"].to_pylist(),
                    strict=True,
                )
                if subject_hash not in suppressed
            ]
            db.execute("delete from batch")
            db.executemany("insert into batch values (?, ?)", kept)
        return len(kept)

    def get(self, user_id: str, now: datetime | None = None) -> dict | None:
        at = epoch_seconds(now)
        with self._transaction("deferred") as db:
            batch = db.execute("select features from batch where user_id = ?", (user_id,))
            batch_row = batch.fetchone()
            times = db.execute(
                "select last_event_at, last_purchase_at from times where user_id = ?", (user_id,)
            ).fetchone()
            recent = db.execute(
                f"""select product_id, product_family from recent where user_id = ?
                order by {NEWEST_FIRST} limit ?""",
                (user_id, self.recent_items),
            ).fetchall()
            windows = {}
            for resolution in RESOLUTIONS:
                live = resolution.live_buckets(at)
                windows[resolution.name] = dict(
                    db.execute(
                        f"""select event_type, sum(n) from counts_{resolution.name}
                        where user_id = ? and bucket between ? and ? group by event_type""",
                        (user_id, live.start, live.stop - 1),
                    )
                )
        return feature_view(
            user_id,
            batch=orjson.loads(batch_row[0]) if batch_row else None,
            times=times,
            recent=recent,
            windows=windows,
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()
