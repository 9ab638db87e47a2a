"""The suppression list: subjects erased once never land in the lake again.

    <lake>/_control/erasure_suppressions.parquet   subject_hash (unique), suppressed_at
    <lake>/_control/erasure_suppressions.lock      flock: exclusive to publish, shared to write

An erasure deletes what the lake holds today; late arrivals, a replay of the topic from offset 0
or a backfill would bring the person back. So the orchestrator publishes the subject's hash here
first and every writer drops the listed subjects' events (and rejects: the quarantine and the
DLQ hold personal data too). The list holds keyed hashes only, never user ids.

The lock protocol that makes "nothing slips between" true:
- a writer filters AND writes its files inside Suppressor.guard(), which holds a SHARED flock
  and, on entry, reloads the list if the file changed (one stat when it did not);
- publish() rewrites the list under the EXCLUSIVE flock, so it waits for every guard that was
  open when it started: when publish() returns, every write that could have missed the new
  hashes has finished, and every guard entered later reads them;
- the orchestrator scans the lake for the subject only after publish() returns, so it finds
  whatever landed before, and nothing lands after.

On a bucket (EVENTLAKE_LAKE_DIR=s3://...) there is no flock: publish() is one PUT of the whole
list (atomic), and a guard re-reads the list's metadata (one HEAD) on entry and again when the
writer asks `changed()` before it commits; a loader flush that overlapped a publish is undone
and redone against the new list (its files are still uncommitted, so no reader saw them). What
stays open is the instant between that last HEAD and the checkpoint's PUT: see docs/erasure.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from eventlake.erasure.subjects import subject_hash
from eventlake.exceptions import ErasureError
from eventlake.ingest.dlq import Reject
from eventlake.lake import layout
from eventlake.lake.storage import is_remote, lake_storage

CONTROL = Path("_control")
LIST_NAME = "erasure_suppressions.parquet"
LOCK_NAME = "erasure_suppressions.lock"
SCHEMA = pa.schema(
    [
        pa.field("subject_hash", pa.string(), nullable=False),
        pa.field("suppressed_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
HASH_PATTERN = re.compile(r"[0-9a-f]{64}")
CACHE_LIMIT = 1_000_000
"""Ids whose verdict a Suppressor remembers; past this the cache starts over (bounded memory)."""
_ROW_GROUP_SIZE = 1 << 20


def list_path(lake_dir: Path | str) -> Path:
    return Path(lake_dir) / CONTROL / LIST_NAME


def _lock_path(lake_dir: Path | str) -> Path:
    return Path(lake_dir) / CONTROL / LOCK_NAME


def _key() -> str:
    return f"{CONTROL.as_posix()}/{LIST_NAME}"


@contextlib.contextmanager
def _locked(lake_dir: Path | str, operation: int) -> Iterator[None]:
    if is_remote(lake_dir):  # a bucket has no locks: see the module's docstring
        yield
        return
    path = _lock_path(lake_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, operation)
        yield
    finally:
        os.close(fd)  # releases the lock


def _read_table(lake_dir: Path | str) -> pa.Table:
    data = lake_storage(lake_dir).get_bytes(_key())
    if data is None:
        return SCHEMA.empty_table()
    return pq.read_table(pa.BufferReader(data), schema=SCHEMA)


def read(lake_dir: Path | str) -> frozenset[str]:
    """The listed subject hashes (empty when nothing was ever published).

    Safe without the lock: publish() replaces the file atomically.
    """
    return frozenset(_read_table(lake_dir)["subject_hash"].to_pylist())


def publish(lake_dir: Path | str, hashes: Iterable[str], now: datetime) -> int:
    """Add subject hashes to the list; returns how many were not listed yet.

    Idempotent: a hash already listed keeps its first suppressed_at. Every hash is validated
    before anything is written. Returns once no writer can still be writing without them.
    """
    if now.tzinfo is None:
        raise ErasureError("publish: now needs a time zone (suppressed_at is UTC)")
    wanted = list(dict.fromkeys(hashes))
    for value in wanted:
        if not isinstance(value, str) or not HASH_PATTERN.fullmatch(value):
            # A malformed "hash" may be a raw id passed by mistake: do not echo it.
            raise ErasureError(
                f"publish: expected subject hashes of 64 lowercase hex characters, got a "
                f"{type(value).__name__} of length {len(value) if isinstance(value, str) else '?'}"
            )
    with _locked(lake_dir, fcntl.LOCK_EX):
        current = _read_table(lake_dir)
        listed = set(current["subject_hash"].to_pylist())
        new = [value for value in wanted if value not in listed]
        if not new:
            return 0
        added = pa.table({"subject_hash": new, "suppressed_at": [now] * len(new)}, schema=SCHEMA)
        layout.publish_parquet(
            pa.concat_tables([current, added]),
            lake_dir,
            _key(),
            row_group_size=_ROW_GROUP_SIZE,
            sort_by=[("subject_hash", "ascending")],
        )
        lake_storage(lake_dir).sync_dir(CONTROL.as_posix())
    return len(new)


class Suppressor:
    """A writer's view of the list: guard() around each write, filter() what it writes."""

    def __init__(self, lake_dir: Path | str, key: str) -> None:
        self.lake_dir = lake_dir
        self.key = key
        self._storage = lake_storage(lake_dir)
        self._signature: tuple[int, int] | None = None
        self._hashes: frozenset[str] = frozenset()
        self._local: frozenset[str] = frozenset()
        self._verdicts: dict[str, bool] = {}

    def also_suppress(self, hashes: Iterable[str]) -> None:
        """Add hashes a store erased itself, before the orchestrator lists them in the lake."""
        local = self._local | frozenset(hashes)
        if local != self._local:
            self._local = local
            self._verdicts.clear()

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Hold the shared lock for one write; the list is current for its whole duration."""
        with _locked(self.lake_dir, fcntl.LOCK_SH):
            self._refresh()
            yield

    def _current_signature(self) -> tuple[int, int] | None:
        """The list's size and modification time (a stat, or a HEAD on a bucket); None when
        it does not exist. publish() only ever grows the file, so a change changes the size."""
        info = self._storage.fs.get_file_info(_key())
        if info.type == pafs.FileType.NotFound:
            return None
        return (info.size, info.mtime_ns or 0)

    def changed(self) -> bool:
        """Whether the list changed since the guard was entered (one HEAD on a bucket)."""
        return self._current_signature() != self._signature

    def refresh(self) -> None:
        """Reload the list if it changed (guard() does it on entry)."""
        self._refresh()

    def _refresh(self) -> None:
        signature = self._current_signature()
        if signature != self._signature:
            self._hashes = read(self.lake_dir) if signature is not None else frozenset()
            self._verdicts.clear()  # verdicts were made against the old list
            self._signature = signature

    def is_listed(self, user_id: str) -> bool:
        verdict = self._verdicts.get(user_id)
        if verdict is None:
            if len(self._verdicts) >= CACHE_LIMIT:
                self._verdicts.clear()
            hashed = subject_hash(user_id, self.key)
            verdict = self._verdicts[user_id] = hashed in self._hashes or hashed in self._local
        return verdict

    def filter(self, table: pa.Table, column: str = "user_id") -> tuple[pa.Table, int]:
        """Drop the rows of listed subjects; returns the kept rows and how many were dropped.

        With an empty list the table comes back as it is; otherwise only the batch's distinct
        ids are hashed (and their verdicts cached), then one vectorised membership test.
        """
        if not (self._hashes or self._local) or table.num_rows == 0:
            return table, 0
        ids = table[column]
        listed = [
            user_id
            for user_id in pc.unique(ids).to_pylist()
            if user_id is not None and self.is_listed(user_id)
        ]
        if not listed:
            return table, 0
        kept = table.filter(pc.invert(pc.is_in(ids, value_set=pa.array(listed, ids.type))))
        return kept, table.num_rows - kept.num_rows

    def filter_rejects(self, rejects: list[Reject]) -> tuple[list[Reject], int]:
        """Drop rejects naming a listed subject, by their Kafka key or their value's user_id."""
        if not (self._hashes or self._local) or not rejects:
            return rejects, 0
        kept = [reject for reject in rejects if not self._names_listed(reject)]
        return kept, len(rejects) - len(kept)

    def _names_listed(self, reject: Reject) -> bool:
        return any(self.is_listed(user_id) for user_id in _named_user_ids(reject))


def _named_user_ids(reject: Reject) -> Iterator[str]:
    """The ids a malformed message names: its key, and its value's user_id if that parses.

    A key that is not UTF-8 cannot be an id (ids are text), so it names nobody.
    """
    if reject.key is not None:
        with contextlib.suppress(UnicodeDecodeError):
            yield reject.key.decode("utf-8")
    if reject.value:
        try:
            document = orjson.loads(reject.value)
        except orjson.JSONDecodeError:
            return
        if isinstance(document, dict) and isinstance(document.get("user_id"), str):
            yield document["user_id"]
