"""The erasure suppression list: publish/read, filtering, the lock protocol, and the loader."""

from __future__ import annotations

import dataclasses
import shutil
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventlake.erasure import suppression
from eventlake.erasure.subjects import subject_hash
from eventlake.erasure.suppression import Suppressor, publish, read
from eventlake.exceptions import ErasureError
from eventlake.ingest.dlq import Reject
from eventlake.ingest.loader import Loader
from eventlake.lake.layout import CHECKPOINTS, QUARANTINE_EVENTS, RAW_EVENTS
from tests.support import event, produce

KEY = "test-key"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def hash_of(user_id: str, key: str = KEY) -> str:
    return subject_hash(user_id, key)


def clicks(user_ids: list[str]) -> pa.Table:
    return pa.table(
        {
            "event_id": [f"evt-{n}" for n in range(len(user_ids))],
            "user_id": pa.array(user_ids, pa.string()),
        }
    )


def reject(key: bytes | None, value: bytes | None) -> Reject:
    return Reject("events", 0, 0, key, value, [], "invalid_json: broken", NOW)


# -- the list ---------------------------------------------------------------------------------


def test_published_hashes_read_back_and_the_file_holds_only_hashes(tmp_path):
    hashes = [hash_of("user-1"), hash_of("user-2")]

    assert read(tmp_path) == frozenset()
    assert publish(tmp_path, hashes, NOW) == 2

    assert read(tmp_path) == frozenset(hashes)
    stored = pq.read_table(suppression.list_path(tmp_path))
    assert stored.schema == suppression.SCHEMA
    assert set(stored["suppressed_at"].to_pylist()) == {NOW}


def test_publishing_again_is_idempotent_and_keeps_the_first_suppressed_at(tmp_path):
    first, second = hash_of("user-1"), hash_of("user-2")
    publish(tmp_path, [first], NOW)

    assert publish(tmp_path, [first], NOW + timedelta(days=1)) == 0
    assert publish(tmp_path, [first, second, second], NOW + timedelta(days=2)) == 1

    stored = pq.read_table(suppression.list_path(tmp_path)).to_pylist()
    assert {row["subject_hash"]: row["suppressed_at"] for row in stored} == {
        first: NOW,
        second: NOW + timedelta(days=2),
    }


@pytest.mark.parametrize(
    "bad",
    ["user-1", hash_of("user-1").upper(), hash_of("user-1")[:63], hash_of("user-1") + "0", 7],
)
def test_a_malformed_hash_is_rejected_and_nothing_is_written(tmp_path, bad):
    publish(tmp_path, [hash_of("user-1")], NOW)
    before = suppression.list_path(tmp_path).read_bytes()

    with pytest.raises(ErasureError, match="64 lowercase hex") as raised:
        publish(tmp_path, [hash_of("user-2"), bad], NOW)

    assert "user-1" not in str(raised.value), "the error echoes what may be a raw id"
    assert suppression.list_path(tmp_path).read_bytes() == before
    assert read(tmp_path) == {hash_of("user-1")}


# -- filtering --------------------------------------------------------------------------------


def test_filter_drops_exactly_the_listed_subjects_rows(tmp_path):
    table = clicks(["user-1", "user-2", "user-1", "user-3", "user-22", "user-2"])
    publish(tmp_path, [hash_of("user-2"), hash_of("user-9")], NOW)
    suppressor = Suppressor(tmp_path, KEY)

    with suppressor.guard():
        kept, dropped = suppressor.filter(table)

    assert dropped == 2
    assert kept["user_id"].to_pylist() == ["user-1", "user-1", "user-3", "user-22"]
    assert kept["event_id"].to_pylist() == ["evt-0", "evt-2", "evt-3", "evt-4"]


def test_filter_hashes_with_the_configured_key(tmp_path):
    publish(tmp_path, [hash_of("user-2", key="another-key")], NOW)
    suppressor = Suppressor(tmp_path, KEY)

    with suppressor.guard():
        _, dropped = suppressor.filter(clicks(["user-1", "user-2"]))

    assert dropped == 0


def test_each_guard_sees_the_hashes_published_since_the_last_one(tmp_path):
    table = clicks(["user-1", "user-2", "user-3"])
    suppressor = Suppressor(tmp_path, KEY)
    publish(tmp_path, [hash_of("user-1")], NOW)
    with suppressor.guard():
        assert suppressor.filter(table)[1] == 1

    publish(tmp_path, [hash_of("user-2")], NOW)

    with suppressor.guard():
        kept, _ = suppressor.filter(table)
    assert kept["user_id"].to_pylist() == ["user-3"]


def test_filter_returns_the_table_untouched_when_the_list_is_empty(tmp_path):
    table = clicks(["user-1", "user-2"])
    suppressor = Suppressor(tmp_path, KEY)

    with suppressor.guard():
        kept, dropped = suppressor.filter(table)

    assert kept is table
    assert dropped == 0


def test_rejects_naming_a_listed_subject_by_key_or_value_are_dropped(tmp_path):
    publish(tmp_path, [hash_of("user-2")], NOW)
    suppressor = Suppressor(tmp_path, KEY)
    named_by_key = reject(b"user-2", b'{"event_id": ')
    named_by_value = reject(b"user-1", orjson.dumps({"event_id": "e", "user_id": "user-2"}))
    others = [
        reject(b"user-1", b'{"event_id": '),
        reject(b"\xff\xfe", b"\xff"),  # a key that is not UTF-8 names nobody
        reject(None, b""),
        reject(b"user-3", b"[1, 2]"),
    ]

    with suppressor.guard():
        kept, dropped = suppressor.filter_rejects([named_by_key, *others, named_by_value])

    assert dropped == 2
    assert kept == others


# -- the lock protocol ------------------------------------------------------------------------


def test_publish_waits_for_an_open_guard_and_a_later_guard_sees_the_hash(tmp_path):
    suppressor = Suppressor(tmp_path, KEY)
    guard_open, release_guard, published = threading.Event(), threading.Event(), threading.Event()

    def write() -> None:
        with suppressor.guard():
            guard_open.set()
            release_guard.wait(10)

    def erase() -> None:
        publish(tmp_path, [hash_of("user-2")], NOW)
        published.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert guard_open.wait(5)
    publisher = threading.Thread(target=erase)
    publisher.start()

    assert not published.wait(0.5), "publish() returned while a write was still under way"
    release_guard.set()
    writer.join(5)
    publisher.join(5)
    assert published.is_set()

    with suppressor.guard():
        _, dropped = suppressor.filter(clicks(["user-1", "user-2"]))
    assert dropped == 1


# -- the loader -------------------------------------------------------------------------------


def lake_mentions(lake_dir: Path, user_id: str) -> list[str]:
    """Every Parquet file under the lake that holds user_id in any column, as a value or key
    or inside a message's JSON."""
    as_bytes = user_id.encode()
    quoted = orjson.dumps(user_id)
    found = []
    for path in sorted(lake_dir.rglob("*.parquet")):
        for column in pq.read_table(path).columns:
            for value in column.to_pylist():
                if value in (user_id, as_bytes) or (isinstance(value, bytes) and quoted in value):
                    found.append(str(path.relative_to(lake_dir)))
    return found


def raw_user_ids(lake_dir: Path) -> list[str]:
    return [
        user_id
        for path in (lake_dir / RAW_EVENTS).rglob("*.parquet")
        for user_id in pq.read_table(path, columns=["user_id"])["user_id"].to_pylist()
    ]


def quarantine_keys(lake_dir: Path) -> list[bytes]:
    return [
        key
        for path in (lake_dir / QUARANTINE_EVENTS).glob("*.parquet")
        for key in pq.read_table(path, columns=["key"])["key"].to_pylist()
    ]


@pytest.mark.broker
def test_loader_never_lands_a_suppressed_subject_not_even_on_a_replay(settings, loader_config):
    erased = "user-5"
    valid = [event(n) for n in range(2_000)]  # user-0 … user-996, about two events each
    alone = event(5 + 3 * 997, days_ago=10)  # the only event of its date is the erased one's
    valid.append(alone)
    expected = sorted(
        user_id for _, v in valid if (user_id := orjson.loads(v)["user_id"]) != erased
    )
    erased_date = orjson.loads(alone[1])["event_time"][:10]
    mismatched = orjson.loads(valid[7][1]) | {"user_id": erased}
    poison = [
        (erased.encode(), b'{"event_id": "broken'),  # the erased subject's key
        (b"user-7", orjson.dumps(mismatched)),  # the erased subject named in the value
        (b"user-6", b'{"event_id": "broken'),  # someone else's reject still lands
    ]
    produce(settings, valid + poison)
    publish(settings.lake_dir, [subject_hash(erased, settings.subject_hash_key)], NOW)

    progress = Loader(settings, loader_config).run(once=True)

    assert progress.suppressed == len(valid) - len(expected) + 2
    assert progress.events == len(expected)
    assert progress.rejected == 1
    assert lake_mentions(settings.lake_dir, erased) == []
    assert sorted(raw_user_ids(settings.lake_dir)) == expected
    assert quarantine_keys(settings.lake_dir) == [b"user-6"]
    assert not (settings.lake_dir / RAW_EVENTS / f"event_date={erased_date}").exists()

    # A replay from offset 0: the lake is rebuilt from the topic, the list stays.
    for folder in (RAW_EVENTS.parts[0], QUARANTINE_EVENTS.parts[0], CHECKPOINTS):
        shutil.rmtree(settings.lake_dir / folder)
    replay = dataclasses.replace(settings, group_id=f"replay-{uuid.uuid4().hex[:8]}")

    progress = Loader(replay, loader_config).run(once=True)

    assert progress.messages == len(valid) + len(poison)
    assert progress.suppressed == len(valid) - len(expected) + 2
    assert lake_mentions(settings.lake_dir, erased) == []
    assert sorted(raw_user_ids(settings.lake_dir)) == expected
    assert quarantine_keys(settings.lake_dir) == [b"user-6"]
