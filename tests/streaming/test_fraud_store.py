"""The fraud store on real SQLite files: windows, rules and flags, offsets, erasure, readers."""

from __future__ import annotations

import itertools
import random
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from eventlake.streaming.config import FraudConfig
from eventlake.streaming.events import SCHEMA
from eventlake.streaming.fraud import RULES, FraudStore
from eventlake.streaming.fraud.store import WINDOWS

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


def test_envelope_above_threshold_without_a_window_above_it(store: FraudStore) -> None:
    # 7 purchases, 3 minutes apart, in one batch: the batch's span holds more than 5, but no
    # 10-minute window does, so the windows walked one by one raise nothing.
    rows = [event("u", 3 * m, "purchase") for m in range(7)]
    store.apply(batch(rows), {(TOPIC, 0): 7})
    assert store.flags() == []
    assert windows(store, "u")["1h"]["purchases"] == 7


def test_distinct_rule_fires_on_an_earlier_window_of_the_batch(store: FraudStore) -> None:
    rows = [event("u", m, country=c) for m, c in ((0, "DE"), (20, "FR"), (40, "PL"), (130, "DE"))]
    store.apply(batch(rows), {(TOPIC, 0): 4})
    assert [(f["rule"], f["value"], f["window_end"]) for f in store.flags()] == [
        ("countries_1h", 3, (T0 + timedelta(minutes=41)).isoformat())
    ]
    assert windows(store, "u")["1h"]["countries"] == 1


def brute_force(rows: list[dict], config: FraudConfig) -> tuple[dict, list[tuple]]:
    """The windows at each user's latest minute and the flags, computed from the events alone."""
    by_user: dict[str, list[dict]] = {}
    for row in rows:
        by_user.setdefault(row["user_id"], []).append(row)
    velocity, flags = {}, []
    for user, own in by_user.items():

        def measures(end: datetime, seconds: int, own: list[dict] = own) -> dict:
            inside = [r for r in own if end - timedelta(seconds=seconds) <= r["event_time"] < end]
            bought = [r for r in inside if r["event_type"] == "purchase"]
            currencies = {r["currency"] for r in bought if r["currency"] is not None}
            value = round(sum(r["price"] for r in bought), 2) if len(currencies) == 1 else None
            return {
                "events": len(inside),
                "purchases": len(bought),
                "purchase_value": 0 if not currencies else value,
                "purchase_currency_code": next(iter(currencies)) if len(currencies) == 1 else None,
                **{
                    measure: len({r[column] for r in inside if r[column] is not None})
                    for measure, column in (
                        ("sessions", "session_id"),
                        ("devices", "device"),
                        ("countries", "country"),
                    )
                },
            }

        minutes = sorted({r["event_time"].replace(second=0, microsecond=0) for r in own})
        end = minutes[-1] + timedelta(minutes=1)
        velocity[user] = {name: measures(end, seconds) for name, seconds in WINDOWS}
        for rule in RULES:
            threshold, last = getattr(config, rule.threshold), None
            for minute in minutes:
                end = minute + timedelta(minutes=1)
                start = end - timedelta(seconds=dict(WINDOWS)[rule.window_name])
                value = measures(end, dict(WINDOWS)[rule.window_name])[rule.measure]
                if value > threshold and (last is None or last <= start):
                    flags.append((user, rule.name, start.isoformat(), end.isoformat(), value))
                    last = end
    return velocity, sorted(flags)


def test_random_stream_matches_a_brute_force_model(tmp_path: Path) -> None:
    """Every measure of every window and every flag, for a random stream in event-time order
    cut into uneven batches (late buckets pruned on the way), against a direct computation."""
    config = FraudConfig(
        sqlite_path=tmp_path / "f.sqlite",
        max_purchases_10m=3,
        max_countries_1h=2,
        max_devices_1h=2,
        max_events_1m=1,
    )
    rng = random.Random(7)
    rows = [
        event(
            f"u{rng.randrange(25)}",
            rng.uniform(0, 150),
            rng.choice(("view", "view", "cart", "purchase")),
            session_id=rng.choice(("a", "b", "c", None)),
            device=rng.choice(("mobile", "desktop", "tablet")),
            country=rng.choice(("DE", "DE", "DE", "FR", "PL", None)),
            price=rng.randrange(1, 400) / 4,
            currency=rng.choice(("EUR", "EUR", "EUR", "USD", None)),
        )
        for _ in range(1500)
    ]
    rows.sort(key=lambda row: row["event_time"])
    store = FraudStore(config)
    cuts = [0, 1, 7, 200, 201, 650, 1100, 1500]
    for start, end in itertools.pairwise(cuts):
        store.apply(batch(rows[start:end]), {(TOPIC, 0): end})
    velocity, flags = brute_force(rows, config)
    assert flags and len({f[1] for f in flags}) == len(RULES)  # every rule fires at least once
    assert sorted(key[:5] for key in flag_keys(store)) == flags
    measures = list(next(iter(velocity.values()))["1m"])
    for user, expected in velocity.items():
        assert {
            row["window_name"]: {m: row[m] for m in measures} for row in store.velocity(user)
        } == expected
    store.close()
