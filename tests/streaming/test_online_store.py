"""The personalization online store, on both backends: windowed counts, recent views and times,
offsets kept with the state, erasure, and the batch features loaded from the lakehouse."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import redis
import yaml

from eventlake.config import Settings
from eventlake.erasure.subjects import subject_hash
from eventlake.lake.lakehouse import connect
from eventlake.streaming.config import OnlineConfig
from eventlake.streaming.events import SCHEMA
from eventlake.streaming.online import OnlineStore, StoreError, open_online_store, sqlite_store
from eventlake.streaming.online.materialize import load_user_features

REDIS_URL = "redis://127.0.0.1:6379/0"
KEY = "test-key"
MODELS_YML = Path(__file__).parents[2] / "models/marts/personalization/_personalization__models.yml"


@dataclass(frozen=True)
class Clock:
    """The wall-clock time a test starts at: both backends drop buckets by wall time."""

    now: datetime

    def ago(self, **delta: float) -> datetime:
        return self.now - timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC).replace(microsecond=0))


def events(*rows: tuple) -> pa.Table:
    """(user_id, event_time, event_type, product_id, product_family, offset) rows."""
    records = [
        {
            "user_id": user_id,
            "event_time": at,
            "event_type": event_type,
            "product_id": product,
            "product_family": family,
            "_partition": 0,
            "_offset": offset,
        }
        for user_id, at, event_type, product, family, offset in rows
    ]
    return pa.Table.from_pylist(records, schema=SCHEMA)


OpenStore = Callable[[], OnlineStore]


@pytest.fixture(params=["sqlite", "redis"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens stores on one file (sqlite) or one key prefix (redis): a reopen sees the same."""
    prefix = f"eventlake-test-{uuid.uuid4().hex}:"
    config = OnlineConfig(
        backend=request.param,
        sqlite_path=tmp_path / "online.sqlite",
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        recent_items=3,
    )
    opened: list[OnlineStore] = []

    def opener() -> OnlineStore:
        opened.append(open_online_store(config))
        return opened[-1]

    yield opener
    for store in opened:
        store.close()
    if request.param == "redis":
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def test_windows_recent_views_and_times(clock: Clock, open_store: OpenStore) -> None:
    store = open_store()
    store.apply(
        events(
            ("u1", clock.ago(minutes=30), "view", "p1", "a", 0),
            ("u1", clock.ago(minutes=30), "cart", "p1", "a", 1),
            ("u1", clock.ago(hours=2), "view", "p2", "b", 2),
            ("u1", clock.ago(hours=25), "purchase", "p2", "b", 3),
            ("u1", clock.ago(minutes=10), "purchase", "p1", "a", 4),
            ("u2", clock.ago(minutes=5), "view", "p9", None, 0),
        ),
        {("events", 0): 5},
    )
    store.apply(
        events(
            ("u1", clock.ago(minutes=1), "view", "p3", "c", 5),
            ("u1", clock.ago(hours=3), "purchase", "p2", "b", 6),
            ("u1", clock.ago(minutes=20), "view", "p4", "d", 7),
            ("u1", clock.ago(hours=40), "view", "p5", "e", 8),
            ("u1", clock.ago(minutes=1), "view", "p6", "f", 9),
        ),
        {("events", 0): 10},
    )
    # Window edges: exactly 1 h old is out of the 1 h window, exactly 24 h old out of 24 h;
    # a batch of late events only moves no time back either.
    store.apply(
        events(
            ("u1", clock.ago(hours=1), "cart", None, None, 10),
            ("u1", clock.ago(hours=24), "remove_from_cart", None, None, 11),
            ("u1", clock.ago(hours=23), "remove_from_cart", None, None, 12),
            ("u1", clock.ago(hours=5), "purchase", None, None, 13),
        ),
        {("events", 0): 14},
    )
    user = store.get("u1", clock.now)
    assert user is not None
    stream = user["stream"]
    assert stream["events_1h"] == {"view": 4, "cart": 1, "purchase": 1}
    assert stream["events_24h"] == {"view": 5, "cart": 2, "purchase": 3, "remove_from_cart": 1}
    # Newest first by event time, then offset; the 2 h and 40 h old views fall off (N = 3).
    assert stream["recent_products"] == ["p6", "p3", "p4"]
    assert stream["recent_families"] == ["f", "c", "d"]
    # Late purchases (3 h, 5 h old) and views (40 h old) move no time back.
    assert stream["last_purchase_at"] == clock.ago(minutes=10).isoformat()
    assert stream["last_event_at"] == clock.ago(minutes=1).isoformat()
    assert user["last_purchase_at"] == clock.ago(minutes=10).isoformat()
    assert user["batch"] is None and user["as_of"] is None
    other = store.get("u2", clock.now)
    assert other is not None and other["stream"]["recent_families"] == [None]
    # An hour later the 1 h window is empty and the 24 h one still counts.
    later = store.get("u1", clock.now + timedelta(hours=1))
    assert later is not None and later["stream"]["events_1h"] == {}
    assert later["stream"]["events_24h"]["purchase"] == 3


def test_unknown_user_is_none(clock: Clock, open_store: OpenStore) -> None:
    store = open_store()
    store.apply(events(("u1", clock.ago(minutes=1), "view", "p1", "a", 0)), {("events", 0): 1})
    assert store.get("nobody", clock.now) is None
    with pytest.raises(StoreError):
        store.get("u1", clock.now.replace(tzinfo=None))


def test_offsets_are_kept_with_the_state(clock: Clock, open_store: OpenStore) -> None:
    store = open_store()
    assert store.offsets() == {}
    store.apply(
        events(("u1", clock.ago(minutes=1), "view", "p1", "a", 9)),
        {("events", 0): 10, ("events", 1): 5},
    )
    store.apply(events(), {("events", 0): 12})
    reopened = open_store()
    assert reopened.offsets() == {("events", 0): 12, ("events", 1): 5}
    assert reopened.get("u1", clock.now)["stream"]["recent_products"] == ["p1"]


def test_erase_removes_every_trace_and_suppresses(clock: Clock, open_store: OpenStore) -> None:
    store = open_store()
    store.apply(
        events(
            ("u1", clock.ago(minutes=1), "view", "p1", "a", 0),
            ("u1", clock.ago(hours=2), "purchase", "p1", "a", 1),
            ("u2", clock.ago(minutes=1), "cart", "p2", "b", 2),
        ),
        {("events", 0): 3},
    )
    hashed = subject_hash("u1", KEY)
    deleted = store.erase({"u1": hashed}, {("erasure", 0): 1}, clock.now)
    assert deleted["u1"] > 0
    assert store.get("u1", clock.now) is None
    assert store.get("u2", clock.now)["stream"]["events_1h"] == {"cart": 1}
    reopened = open_store()
    assert reopened.suppressed() == {hashed}
    assert reopened.offsets() == {("events", 0): 3, ("erasure", 0): 1}
    assert reopened.erase({"u1": hashed}, {("erasure", 0): 2}, clock.now) == {"u1": 0}
    assert reopened.offsets()[("erasure", 0)] == 2


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "online.sqlite"
    open_online_store(OnlineConfig(sqlite_path=path)).close()
    assert sqlite3.connect(path).execute("pragma journal_mode").fetchone() == ("wal",)


@pytest.mark.redis
def test_expired_buckets_are_dropped(clock: Clock, tmp_path: Path) -> None:
    """Buckets that no window can count are gone: SQLite prunes, Redis keys expire."""
    old, fresh = clock.ago(hours=25), clock.ago(minutes=30)
    batch = events(("u1", old, "cart", None, None, 0), ("u1", fresh, "cart", None, None, 1))
    old_hour = int(old.timestamp()) // 3600 * 3600
    fresh_minute = int(fresh.timestamp()) // 60 * 60

    path = tmp_path / "online.sqlite"
    store = open_online_store(OnlineConfig(sqlite_path=path))
    store.apply(batch, {})
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("select bucket from counts_hour").fetchall() == [
        (fresh_minute // 3600 * 3600,)
    ]
    assert db.execute("select bucket from counts_minute").fetchall() == [(fresh_minute,)]

    prefix = f"eventlake-test-{uuid.uuid4().hex}:"
    store = open_online_store(OnlineConfig(backend="redis", redis_prefix=prefix))
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        store.apply(batch, {})
        assert not client.exists(f"{prefix}u:{{u1}}:hour:{old_hour}")
        ttl = client.ttl(f"{prefix}u:{{u1}}:minute:{fresh_minute}")
        assert 0 < ttl <= fresh_minute + 3660 - int(clock.now.timestamp()) + 5
        assert all(key.startswith(f"{prefix}u:{{u1}}:") for key in client.scan_iter(f"{prefix}*"))
    finally:
        store.close()
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.mark.redis
def test_redis_erase_finds_every_bucket_key_without_an_index(clock: Clock) -> None:
    """Bucket keys are derived from the clock on erase: past, present and future-dated ones
    all go, and nothing is written beyond the horizon erase() covers."""
    batch = events(
        ("u1", clock.ago(hours=20), "view", "p1", "f", 0),
        ("u1", clock.ago(minutes=5), "cart", None, None, 1),
        ("u1", clock.now + timedelta(hours=3), "cart", None, None, 2),  # a skewed producer
        ("u1", clock.now + timedelta(hours=30), "cart", None, None, 3),  # beyond the horizon
        ("u2", clock.ago(minutes=5), "cart", None, None, 4),
    )
    prefix = f"eventlake-test-{uuid.uuid4().hex}:"
    store = open_online_store(OnlineConfig(backend="redis", redis_prefix=prefix))
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        store.apply(batch, {})
        written = set(client.scan_iter(match=f"{prefix}u:{{u1}}:*"))
        beyond = int((clock.now + timedelta(hours=30)).timestamp()) // 60 * 60
        assert f"{prefix}u:{{u1}}:minute:{beyond}" not in written
        assert len([key for key in written if ":minute:" in key]) == 2  # 5 min ago, in 3 h

        deleted = store.erase({"u1": subject_hash("u1", KEY)}, {}, clock.now)

        assert deleted["u1"] == len(written)
        assert not list(client.scan_iter(match=f"{prefix}u:{{u1}}:*"))
        assert list(client.scan_iter(match=f"{prefix}u:{{u2}}:*"))
    finally:
        store.close()
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_sqlite_prune_trims_recent_views(
    clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "PRUNE_EVERY", 0)
    path = tmp_path / "online.sqlite"
    store = open_online_store(OnlineConfig(sqlite_path=path, recent_items=2))
    for offset in (0, 2):
        store.apply(
            events(
                ("u1", clock.ago(minutes=9 - offset), "view", f"p{offset}", None, offset),
                ("u1", clock.ago(minutes=8 - offset), "view", f"p{offset + 1}", None, offset + 1),
            ),
            {},
        )
    assert store.get("u1", clock.now)["stream"]["recent_products"] == ["p3", "p2"]
    store.close()
    assert sqlite3.connect(path).execute("select count(*) from recent").fetchone() == (2,)


def feature_columns() -> list[tuple[str, str]]:
    """dim_user_features' (name, data_type) as its contract in the models' yml declares them."""
    models = yaml.safe_load(MODELS_YML.read_text())["models"]
    model = next(m for m in models if m["name"] == "dim_user_features")
    return [(column["name"], column["data_type"]) for column in model["columns"]]


@pytest.fixture
def lakehouse(tmp_path: Path) -> Settings:
    """Settings naming a lakehouse of the test's own (created on first write) and KEY."""
    return Settings(
        lake_dir=tmp_path / "lake",
        catalog=f"sqlite:{tmp_path / 'lakehouse.sqlite'}",
        subject_hash_key=KEY,
    )


def publish_user_features(
    settings: Settings, as_of: datetime, users: dict[str, tuple[datetime, datetime | None]]
) -> None:
    """The lakehouse's published dim_user_features (schema main) holds `users` (last_event_at,
    last_purchase_at), in one DuckLake commit."""
    columns = feature_columns()
    with connect(settings.catalog, settings.lake_dir) as db:
        db.execute("begin")
        db.execute(
            "create or replace table main.dim_user_features ("
            + ", ".join(f"{name} {data_type}" for name, data_type in columns)
            + ")"
        )
        for user_id, (last_event, last_purchase) in users.items():
            values = {
                "user_id": user_id,
                "top_product_family": "electronics",
                "events_30d": 7,
                "revenue_30d": 15.5,
                "last_event_at": last_event,
                "last_purchase_at": last_purchase,
                "features_as_of": as_of,
            }
            names = [name for name, _ in columns if name in values]
            db.execute(
                f"insert into main.dim_user_features ({', '.join(names)}) "
                f"values ({', '.join('?' for _ in names)})",
                [values[name] for name in names],
            )
        db.execute("commit")


def test_materialize_merges_replaces_and_skips_suppressed(
    clock: Clock, open_store: OpenStore, lakehouse: Settings
) -> None:
    store = open_store()
    store.apply(
        events(
            ("u1", clock.ago(hours=30), "view", "p1", "a", 0),
            ("u1", clock.ago(hours=2), "purchase", "p1", "a", 1),
        ),
        {("events", 0): 2},
    )
    publish_user_features(
        lakehouse,
        clock.ago(hours=6),
        {"u1": (clock.ago(hours=1), clock.ago(days=3)), "u2": (clock.ago(days=2), None)},
    )
    assert load_user_features(store, lakehouse) == 2

    user = store.get("u1", clock.now)
    assert user["as_of"] == clock.ago(hours=6).isoformat()
    assert user["batch"]["events_30d"] == 7 and user["batch"]["revenue_30d"] == 15.5
    assert user["batch"]["top_product_family"] == "electronics"
    assert {name for name, _ in feature_columns()} <= user["batch"].keys()
    assert user["stream"]["events_24h"] == {"purchase": 1}
    assert user["last_event_at"] == clock.ago(hours=1).isoformat()  # batch is newer
    assert user["last_purchase_at"] == clock.ago(hours=2).isoformat()  # stream is newer
    assert store.get("u2", clock.now)["stream"]["events_24h"] == {}

    # u2 has batch features only: erasing removes them.
    assert store.erase({"u2": subject_hash("u2", KEY)}, {}, clock.now)["u2"] >= 1
    assert store.get("u2", clock.now) is None
    store.erase({"u3": subject_hash("u3", KEY)}, {}, clock.now)
    publish_user_features(
        lakehouse,
        clock.ago(hours=6),
        {
            "u3": (clock.ago(days=1), None),
            "u4": (clock.ago(days=1), None),
            "u5": (clock.ago(days=1), None),
        },
    )
    assert load_user_features(store, lakehouse) == 2

    user = store.get("u1", clock.now)
    assert user["batch"] is None and user["as_of"] is None
    assert user["stream"]["last_purchase_at"] == clock.ago(hours=2).isoformat()
    assert store.get("u4", clock.now)["batch"]["last_event_at"] == clock.ago(days=1).isoformat()
    assert store.get("u2", clock.now) is None and store.get("u3", clock.now) is None


def test_materialize_without_the_table_raises(open_store: OpenStore, lakehouse: Settings) -> None:
    with pytest.raises(StoreError, match="expected a lakehouse"):
        load_user_features(open_store(), lakehouse)
    assert not Path(lakehouse.catalog.removeprefix("sqlite:")).exists()

    connect(lakehouse.catalog, lakehouse.lake_dir).close()  # an empty lakehouse
    with pytest.raises(StoreError, match="dim_user_features"):
        load_user_features(open_store(), lakehouse)
