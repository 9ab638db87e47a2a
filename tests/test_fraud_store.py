"""The fraud store on real SQLite files: windows, rules and flags, offsets, erasure, readers."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from eventlake.streaming.config import FraudConfig
from eventlake.streaming.events import SCHEMA
from eventlake.streaming.fraud import RULES, FraudStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOPIC = "events"


def event(user: str, minute: float, event_type: str = "view", **fields: object) -> dict:
    """An event `minute` minutes after T0 (plus 30 s, so it sits inside its minute)."""
    row = {
        "user_id": user,
        "event_time": T0 + timedelta(minutes=minute, seconds=30),
        "event_type": event_type,
        "session_id": "s1",
        "country": "DE",
        "device": "mobile",
        "_partition": 0,
        "_offset": 0,
    }
    row.update(fields)
    return row


def batch(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)


@pytest.fixture
def config(tmp_path: Path) -> FraudConfig:
    return FraudConfig(sqlite_path=tmp_path / "fraud.sqlite")


@pytest.fixture
def store(config: FraudConfig) -> FraudStore:
    opened = FraudStore(config)
    yield opened
    opened.close()


def windows(store: FraudStore, user: str) -> dict[str, dict]:
    return {row["window_name"]: row for row in store.velocity(user)}


def flag_keys(store: FraudStore) -> list[tuple]:
    """Flags without flagged_at (wall time), the part that follows from the events."""
    return sorted(
        (f["user_id"], f["rule"], f["window_start"], f["window_end"], f["value"], f["threshold"])
        for f in store.flags()
    )


def test_window_boundaries_follow_the_latest_minute(store: FraudStore) -> None:
    store.apply(
        batch([event("u", m) for m in (0, 1, 50, 51, 58, 59, 60)] + [event("v", 0)]),
        {(TOPIC, 0): 8},
    )
    got = windows(store, "u")
    # latest minute 60: 1h covers minutes 1..60, 10m covers 51..60, 1m covers 60.
    assert got["1h"]["events"] == 6
    assert got["10m"]["events"] == 4
    assert got["1m"]["events"] == 1
    assert got["1h"]["window_start"] == (T0 + timedelta(minutes=1)).isoformat()
    assert got["1h"]["window_end"] == (T0 + timedelta(minutes=61)).isoformat()
    assert got["10m"]["window_start"] == (T0 + timedelta(minutes=51)).isoformat()
    assert [row["window_seconds"] for row in store.velocity("u")] == [60, 600, 3600]
    assert windows(store, "v")["1h"]["events"] == 1
    assert store.velocity("nobody") == []


def test_windows_move_with_later_batches(store: FraudStore) -> None:
    store.apply(batch([event("u", 0), event("u", 5)]), {(TOPIC, 0): 2})
    assert windows(store, "u")["10m"]["events"] == 2
    store.apply(batch([event("u", 15)]), {(TOPIC, 0): 3})
    got = windows(store, "u")
    assert got["10m"]["events"] == 1  # minute 5 is 10 minutes behind minute 15: out
    assert got["1h"]["events"] == 3


def test_distinct_values_across_buckets(store: FraudStore) -> None:
    store.apply(
        batch(
            [
                event("u", 0, session_id="a", device="mobile", country="DE"),
                event("u", 1, session_id="a", device="desktop", country="DE"),
                event("u", 2, session_id="b", device="mobile", country="FR"),
                event("u", 2, session_id="b", device="mobile", country=None),
                event("u", 55, session_id="c", device="tablet", country="PL"),
            ]
        ),
        {(TOPIC, 0): 5},
    )
    got = windows(store, "u")
    assert (got["1h"]["sessions"], got["1h"]["devices"], got["1h"]["countries"]) == (3, 3, 3)
    assert (got["10m"]["sessions"], got["10m"]["devices"], got["10m"]["countries"]) == (1, 1, 1)


def test_purchase_value_single_and_mixed_currencies(store: FraudStore) -> None:
    store.apply(
        batch(
            [
                event("one", 0, "purchase", price=10.5, currency="EUR"),
                event("one", 1, "purchase", price=2.25, currency="EUR"),
                event("mixed", 0, "purchase", price=10.0, currency="EUR"),
                event("mixed", 1, "purchase", price=3.0, currency="USD"),
                event("none", 0),
            ]
        ),
        {(TOPIC, 0): 5},
    )
    one = windows(store, "one")["1h"]
    assert (one["purchases"], one["purchase_value"], one["purchase_currency_code"]) == (
        2,
        12.75,
        "EUR",
    )
    mixed = windows(store, "mixed")["1h"]
    assert (mixed["purchases"], mixed["purchase_value"], mixed["purchase_currency_code"]) == (
        2,
        None,
        None,
    )
    assert windows(store, "mixed")["1m"]["purchase_currency_code"] == "USD"
    none = windows(store, "none")["1h"]
    assert (none["purchases"], none["purchase_value"], none["purchase_currency_code"]) == (
        0,
        0,
        None,
    )


def test_purchase_burst_raises_one_flag(store: FraudStore) -> None:
    purchases = [event("u", m, "purchase", price=1.0, currency="EUR") for m in range(6)]
    store.apply(batch(purchases), {(TOPIC, 0): 6})
    flags = store.flags()
    assert [(f["user_id"], f["rule"], f["value"], f["threshold"]) for f in flags] == [
        ("u", "purchases_10m", 6, 5)
    ]
    assert flags[0]["window_end"] == (T0 + timedelta(minutes=6)).isoformat()
    store.apply(batch([event("u", 6, "purchase", price=1.0, currency="EUR")]), {(TOPIC, 0): 7})
    assert len(store.flags()) == 1


def test_five_purchases_do_not_flag(store: FraudStore) -> None:
    store.apply(batch([event("u", m, "purchase") for m in range(5)]), {(TOPIC, 0): 5})
    assert store.flags() == []


def test_a_later_burst_flags_again(store: FraudStore) -> None:
    store.apply(batch([event("u", m, "purchase") for m in range(6)]), {(TOPIC, 0): 6})
    store.apply(batch([event("u", 30 + m, "purchase") for m in range(6)]), {(TOPIC, 0): 12})
    ends = [f["window_end"] for f in store.flags()]
    assert ends == [(T0 + timedelta(minutes=m)).isoformat() for m in (36, 6)]


def test_burst_inside_a_batch_is_flagged(store: FraudStore) -> None:
    # The burst is over by the batch's latest minute; its window is still evaluated.
    rows = [event("u", m, "purchase") for m in range(6)] + [event("u", 40)]
    store.apply(batch(rows), {(TOPIC, 0): 7})
    assert [f["rule"] for f in store.flags()] == ["purchases_10m"]
    assert windows(store, "u")["10m"]["purchases"] == 0


def test_countries_rule_and_its_threshold(config: FraudConfig, tmp_path: Path) -> None:
    rows = [event("u", m, country=c) for m, c in ((0, "DE"), (20, "FR"), (40, "PL"))]
    strict = FraudStore(config)
    strict.apply(batch(rows), {(TOPIC, 0): 3})
    assert [(f["rule"], f["value"]) for f in strict.flags()] == [("countries_1h", 3)]
    strict.close()
    lenient = FraudStore(replace(config, sqlite_path=tmp_path / "b.sqlite", max_countries_1h=3))
    lenient.apply(batch(rows), {(TOPIC, 0): 3})
    assert lenient.flags() == []
    lenient.close()


def test_devices_and_events_rules(config: FraudConfig) -> None:
    store = FraudStore(replace(config, max_devices_1h=1, max_events_1m=3))
    store.apply(
        batch([event("u", 0, device="mobile"), event("u", 5, device="desktop")]),
        {(TOPIC, 0): 2},
    )
    store.apply(batch([event("w", 10)] * 4), {(TOPIC, 0): 6})
    assert sorted((f["user_id"], f["rule"], f["value"]) for f in store.flags()) == [
        ("u", "devices_1h", 2),
        ("w", "events_1m", 4),
    ]
    store.close()


def test_rules_are_data() -> None:
    assert [rule.name for rule in RULES] == [
        "purchases_10m",
        "countries_1h",
        "devices_1h",
        "events_1m",
    ]
    assert all(hasattr(FraudConfig(), rule.threshold) for rule in RULES)


def test_replay_in_other_batches_raises_the_same_flags(tmp_path: Path) -> None:
    rows = (
        [event("a", m, "purchase", price=2.0, currency="EUR") for m in (0, 0, 1, 2, 3, 3, 4, 9)]
        + [event("a", 30 + m, "purchase") for m in range(7)]
        + [event("b", m, country=c) for m, c in ((0, "DE"), (10, "FR"), (20, "PL"), (25, "IT"))]
        + [event("b", 90 + m, country=c) for m, c in ((0, "DE"), (1, "FR"), (2, "PL"))]
    )
    rows.sort(key=lambda row: row["event_time"])
    whole = FraudStore(FraudConfig(sqlite_path=tmp_path / "whole.sqlite"))
    whole.apply(batch(rows), {(TOPIC, 0): len(rows)})
    one_by_one = FraudStore(FraudConfig(sqlite_path=tmp_path / "single.sqlite"))
    for offset, row in enumerate(rows):
        one_by_one.apply(batch([row]), {(TOPIC, 0): offset + 1})
    assert len(flag_keys(whole)) == 4
    assert flag_keys(one_by_one) == flag_keys(whole)
    for user in ("a", "b"):
        assert [
            {k: v for k, v in row.items() if k != "updated_at"} for row in whole.velocity(user)
        ] == [
            {k: v for k, v in row.items() if k != "updated_at"} for row in one_by_one.velocity(user)
        ]
    whole.close()
    one_by_one.close()


def test_offsets_persist_with_the_state(config: FraudConfig) -> None:
    store = FraudStore(config)
    store.apply(batch([event("u", 0)]), {(TOPIC, 0): 10, (TOPIC, 1): 4})
    store.apply(batch([]), {(TOPIC, 1): 9})
    store.close()
    reopened = FraudStore(config)
    assert reopened.offsets() == {(TOPIC, 0): 10, (TOPIC, 1): 9}
    assert windows(reopened, "u")["1m"]["events"] == 1
    reopened.close()


def test_a_failed_apply_changes_nothing(store: FraudStore) -> None:
    store.apply(batch([event("u", 0)]), {(TOPIC, 0): 1})
    with pytest.raises(sqlite3.ProgrammingError):
        store.apply(batch([event("u", 1)]), {(TOPIC, 0): object()})
    assert store.offsets() == {(TOPIC, 0): 1}
    assert windows(store, "u")["1h"]["events"] == 1


def test_old_buckets_are_pruned(store: FraudStore, config: FraudConfig) -> None:
    store.apply(batch([event("u", 0), event("u", 61), event("u", 62)]), {(TOPIC, 0): 3})
    with sqlite3.connect(config.sqlite_path) as conn:
        minutes = [m for (m,) in conn.execute("SELECT minute FROM fraud_minutes ORDER BY 1")]
        seen = conn.execute("SELECT count(*) FROM fraud_minute_seen").fetchone()[0]
    conn.close()
    start = int(T0.timestamp())
    assert minutes == [start + 61 * 60, start + 62 * 60]
    assert seen == 2 * 3


def test_erase_removes_the_user_only(config: FraudConfig) -> None:
    store = FraudStore(config)
    burst = [event("u", m, "purchase", price=1.0, currency="EUR") for m in range(6)]
    store.apply(batch(burst + [event("v", 0)]), {(TOPIC, 0): 7})
    assert store.flags()
    now = datetime(2026, 3, 2, tzinfo=UTC)
    deleted = store.erase({"u": "hash-u", "x": "hash-x"}, {("erasure", 0): 3}, now)
    # u: 6 minute buckets, 6 purchase buckets, 3 seen rows per minute, 3 windows, 1 flag
    assert deleted == {"u": 6 + 6 + 18 + 3 + 1, "x": 0}
    assert store.velocity("u") == [] and store.flags() == []
    assert windows(store, "v")["1h"]["events"] == 1
    store.close()
    reopened = FraudStore(config)
    assert reopened.suppressed() == frozenset({"hash-u", "hash-x"})
    assert reopened.offsets() == {(TOPIC, 0): 7, ("erasure", 0): 3}
    assert reopened.erase({"u": "hash-u"}, {("erasure", 0): 4}, now) == {"u": 0}
    assert reopened.offsets()[("erasure", 0)] == 4
    reopened.close()


def test_reader_sees_committed_rows_while_the_writer_works(config: FraudConfig) -> None:
    writer = FraudStore(config)
    writer.apply(batch([event("u", m, "purchase") for m in range(6)]), {(TOPIC, 0): 6})
    # Another connection holds the write lock, as a consumer in the middle of apply() does.
    blocker = sqlite3.connect(config.sqlite_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    blocker.execute("DELETE FROM fraud_flags")
    reader = FraudStore(config)
    assert [f["rule"] for f in reader.flags()] == ["purchases_10m"]
    assert windows(reader, "u")["10m"]["purchases"] == 6
    blocker.execute("COMMIT")
    assert reader.flags() == []
    blocker.close()
    reader.close()
    writer.close()


def test_flags_since_and_limit(store: FraudStore) -> None:
    rows = [event(f"u{i}", 10 * i + m, "purchase") for i in range(3) for m in range(6)]
    store.apply(batch(rows), {(TOPIC, 0): len(rows)})
    assert [f["user_id"] for f in store.flags()] == ["u2", "u1", "u0"]
    assert [f["user_id"] for f in store.flags(limit=2)] == ["u2", "u1"]
    since = T0 + timedelta(minutes=16)
    assert [f["user_id"] for f in store.flags(since=since)] == ["u2", "u1"]
    assert [f["user_id"] for f in store.flags(since=since.replace(tzinfo=None))] == ["u2", "u1"]
