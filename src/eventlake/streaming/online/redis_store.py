"""The online store in Redis. Every write is ONE MULTI/EXEC pipeline; the per-row work runs in
small Lua scripts inside it (one call per concern, not one command per row).

Keys, all under config.redis_prefix (P); a user's keys share the hash tag {user_id}:
    P u:{U}:minute:<epoch s>  hash event_type -> n, EXPIREAT bucket + 1 h + 1 min
    P u:{U}:hour:<epoch s>    hash event_type -> n, EXPIREAT bucket + 24 h + 1 h
    P u:{U}:t                 hash event, purchase -> newest times (epoch us)
    P u:{U}:r                 zset of recent views, score event time (us), member
                              "<offset:020>:<partition:010>:<json [product_id, family]>"
    P u:{U}:b                 the user's batch features (JSON)
    P batch:users, P batch:next   users holding a batch row / being loaded
    P offsets                 hash "<topic>:<partition>" -> next offset
    P suppressed              hash subject_hash -> erased_at (ISO)
The scripts touch keys they compute, and offsets live beside the user keys in one
transaction: the store needs a standalone Redis (or one cluster slot), not a cluster.

A server that does not answer raises StoreUnreachableError (exit 1); a caller that waits for
it (the stream consumer) reports to the store's `dependency` (eventlake.ops.health).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import redis

from eventlake.exceptions import StoreUnreachableError
from eventlake.ops.health import Dependency
from eventlake.streaming.config import OnlineConfig
from eventlake.streaming.online.features import (
    RESOLUTIONS,
    StoreError,
    aggregate,
    epoch_seconds,
    feature_view,
)
from eventlake.streaming.store import Offsets

FUTURE_HORIZON = 86_400
"""Buckets starting later than this after the clock are not written: erase() derives a user's
bucket keys from the window and this horizon instead of indexing them (an index cost every
write three more commands). It equals the loader's default EVENTLAKE_MAX_FUTURE_SECONDS, so
with the defaults no accepted event is left out."""

LOAD_CHUNK = 2_000
"""Batch-feature rows written per script call, so a load never blocks readers for long."""

ADD_COUNTS = """
local previous = nil
for i = 1, #ARGV, 4 do
  local key = ARGV[i]
  redis.call('HINCRBY', key, ARGV[i + 2], ARGV[i + 3])
  if key ~= previous then
    redis.call('EXPIREAT', key, ARGV[i + 1])
    previous = key
  end
end
"""

ADD_RECENT = """
local keep, keys = tonumber(ARGV[1]), {}
for i = 2, #ARGV, 3 do
  redis.call('ZADD', ARGV[i], ARGV[i + 1], ARGV[i + 2])
  keys[ARGV[i]] = true
end
for key in pairs(keys) do redis.call('ZREMRANGEBYRANK', key, 0, -keep - 1) end
"""

MAX_TIMES = """
for i = 1, #ARGV, 3 do
  local key = ARGV[i]
  local current = redis.call('HMGET', key, 'event', 'purchase')
  if not current[1] or tonumber(current[1]) < tonumber(ARGV[i + 1]) then
    redis.call('HSET', key, 'event', ARGV[i + 1])
  end
  if ARGV[i + 2] ~= '' and (not current[2] or tonumber(current[2]) < tonumber(ARGV[i + 2])) then
    redis.call('HSET', key, 'purchase', ARGV[i + 2])
  end
end
"""

ERASE_USER = """
local deleted = redis.call('DEL', unpack(KEYS))
redis.call('SREM', ARGV[1], ARGV[3])
redis.call('SREM', ARGV[2], ARGV[3])
return deleted
"""

LOAD_BATCH = """
local loaded = 0
for i = 3, #ARGV, 4 do
  if redis.call('HEXISTS', ARGV[1], ARGV[i + 2]) == 0 then
    redis.call('SET', ARGV[i], ARGV[i + 3])
    redis.call('SADD', ARGV[2], ARGV[i + 1])
    loaded = loaded + 1
  end
end
return loaded
"""

SWAP_BATCH = """
for _, user in ipairs(redis.call('SDIFF', ARGV[1], ARGV[2])) do
  redis.call('DEL', ARGV[3] .. 'u:{' .. user .. '}:b')
end
if redis.call('EXISTS', ARGV[2]) == 1 then
  redis.call('RENAME', ARGV[2], ARGV[1])
else
  redis.call('DEL', ARGV[1])
end
"""


UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)
"""What redis-py raises when the server does not answer (its own errors are answers)."""


@functools.cache
def redis_dependency(url: str) -> Dependency:
    """The redis Dependency of a server in this process, named without its password."""
    try:
        kwargs = redis.connection.parse_url(url)
        address = (
            kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
        )
        if kwargs.get("db"):
            address += f"/{kwargs['db']}"
    except ValueError:
        address = url.rpartition("@")[2]
    return Dependency("redis", address, hint="EVENTLAKE_REDIS_URL")


def _interleave(*columns: pa.Array | pa.ChunkedArray | np.ndarray | list) -> list:
    """Row-major flattening of equal-length columns: a script's ARGV records."""
    arrays = [
        c.to_numpy(zero_copy_only=False) if isinstance(c, pa.Array | pa.ChunkedArray) else c
        for c in columns
    ]
    if not len(arrays[0]):
        return []
    return np.column_stack([np.asarray(a, dtype=object) for a in arrays]).ravel().tolist()


class RedisOnlineStore:
    """OnlineStore on a Redis server."""

    name = "online"

    def __init__(self, config: OnlineConfig) -> None:
        self.recent_items = config.recent_items
        self.prefix = config.redis_prefix
        self._offsets = f"{self.prefix}offsets"
        self._suppressed = f"{self.prefix}suppressed"
        self._batch_users = f"{self.prefix}batch:users"
        self._batch_next = f"{self.prefix}batch:next"
        self.dependency = redis_dependency(config.redis_url)
        """The server's Dependency, for a caller that waits for it to answer."""
        try:
            self._redis = redis.Redis.from_url(config.redis_url, decode_responses=True)
        except ValueError as error:
            raise StoreError(f"EVENTLAKE_REDIS_URL is not a Redis URL: {error}") from None
        with self._errors():
            self._redis.ping()
        scripts = (ADD_COUNTS, ADD_RECENT, MAX_TIMES, ERASE_USER, LOAD_BATCH, SWAP_BATCH)
        (
            self._add_counts,
            self._add_recent,
            self._max_times,
            self._erase_user,
            self._load_batch,
            self._swap_batch,
        ) = (self._redis.register_script(script) for script in scripts)

    def _key(self, user_id: str, what: str) -> str:
        return f"{self.prefix}u:{{{user_id}}}:{what}"

    def _keys(
        self, users: pa.ChunkedArray, what: str, suffix: pa.ChunkedArray | None = None
    ) -> pa.ChunkedArray:
        """The `what` key of each user (followed by `suffix`, if given), vectorised."""
        parts = [f"{self.prefix}u:{{", users, f"}}:{what}"]
        if suffix is not None:
            parts.append(pc.cast(suffix, pa.string()))
        return pc.binary_join_element_wise(*parts, "")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except UNREACHABLE as error:
            raise StoreUnreachableError(
                f"online store: redis unreachable at {self.dependency.address} ({error})",
                reason=str(error),
            ) from None
        except redis.RedisError as error:
            raise StoreError(f"online store (redis): {error}") from None

    def offsets(self) -> dict[tuple[str, int], int]:
        with self._errors():
            stored = self._redis.hgetall(self._offsets)
        result = {}
        for field, offset in stored.items():
            topic, partition = field.rsplit(":", 1)
            result[topic, int(partition)] = int(offset)
        return result

    def _write_offsets(self, pipe: redis.client.Pipeline, offsets: Offsets) -> None:
        if offsets:
            mapping = {f"{topic}:{partition}": o for (topic, partition), o in offsets.items()}
            pipe.hset(self._offsets, mapping=mapping)

    def apply(self, events: pa.Table, offsets: Offsets) -> None:
        delta = aggregate(events, self.recent_items)
        now = int(time.time())
        count_args: list = []
        for resolution in RESOLUTIONS:
            counts = delta.counts[resolution.name]
            buckets = counts["bucket"].to_numpy()
            # A bucket past its window would expire at once; one beyond the horizon could not
            # be found by erase(): neither is written.
            counts = counts.filter(
                (resolution.expires_at(buckets) > now) & (buckets <= now + FUTURE_HORIZON)
            )
            count_args += _interleave(
                self._keys(counts["user_id"], f"{resolution.name}:", counts["bucket"]),
                resolution.expires_at(counts["bucket"].to_numpy()),
                counts["event_type"],
                counts["n"],
            )
        times = delta.times
        purchases = pc.fill_null(pc.cast(times["last_purchase_at"], pa.string()), "")
        time_args = _interleave(
            self._keys(times["user_id"], "t"), times["last_event_at"], purchases
        )
        recent = delta.recent
        members = [
            f"{offset:020d}:{partition:010d}:" + orjson.dumps([product, family]).decode()
            for offset, partition, product, family in zip(
                recent["offset"].to_pylist(),
                recent["partition"].to_pylist(),
                recent["product_id"].to_pylist(),
                recent["product_family"].to_pylist(),
                strict=True,
            )
        ]
        recent_args = _interleave(self._keys(recent["user_id"], "r"), recent["event_time"], members)
        with self._errors():
            pipe = self._redis.pipeline(transaction=True)
            if count_args:
                self._add_counts(args=count_args, client=pipe)
            if recent_args:
                self._add_recent(args=[self.recent_items, *recent_args], client=pipe)
            if time_args:
                self._max_times(args=time_args, client=pipe)
            self._write_offsets(pipe, offsets)
            pipe.execute()

    def erase(self, subjects: Mapping[str, str], offsets: Offsets, now: datetime) -> dict[str, int]:
        erased_at = now.astimezone(UTC).isoformat()
        wall = int(time.time())
        earliest, latest = min(epoch_seconds(now), wall), max(epoch_seconds(now), wall)
        with self._errors():
            pipe = self._redis.pipeline(transaction=True)
            for user_id, subject_hash in subjects.items():
                self._erase_user(
                    keys=[
                        *(self._key(user_id, what) for what in ("t", "r", "b")),
                        *self._bucket_keys(user_id, earliest, latest),
                    ],
                    args=[self._batch_users, self._batch_next, user_id],
                    client=pipe,
                )
                pipe.hsetnx(self._suppressed, subject_hash, erased_at)
            self._write_offsets(pipe, offsets)
            results = pipe.execute()
        return {user_id: results[2 * i] for i, user_id in enumerate(subjects)}

    def _bucket_keys(self, user_id: str, earliest: int, latest: int) -> Iterator[str]:
        """Every bucket key of the user that can exist between those two moments: buckets
        still inside their window, up to the horizon (apply() writes no other)."""
        for resolution in RESOLUTIONS:
            first = earliest - resolution.window - resolution.seconds
            first -= first % resolution.seconds
            for bucket in range(first, latest + FUTURE_HORIZON + 1, resolution.seconds):
                yield self._key(user_id, f"{resolution.name}:{bucket}")

    def suppressed(self) -> frozenset[str]:
        with self._errors():
            return frozenset(self._redis.hkeys(self._suppressed))

    def replace_batch(self, rows: pa.Table) -> int:
        loaded = 0
        with self._errors():
            self._redis.delete(self._batch_next)
            for start in range(0, rows.num_rows, LOAD_CHUNK):
                chunk = rows.slice(start, LOAD_CHUNK)
                args = _interleave(
                    self._keys(chunk["user_id"], "b"),
                    chunk["user_id"],
                    chunk["subject_hash"],
                    chunk["features"],
                )
                loaded += self._load_batch(args=[self._suppressed, self._batch_next, *args])
            self._swap_batch(args=[self._batch_users, self._batch_next, self.prefix])
        return loaded

    def get(self, user_id: str, now: datetime | None = None) -> dict | None:
        at = epoch_seconds(now)
        live = {resolution.name: resolution.live_buckets(at) for resolution in RESOLUTIONS}
        with self._errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.get(self._key(user_id, "b"))
            pipe.hmget(self._key(user_id, "t"), "event", "purchase")
            pipe.zrange(self._key(user_id, "r"), 0, self.recent_items - 1, desc=True)
            for name, buckets in live.items():
                for bucket in buckets:
                    pipe.hgetall(self._key(user_id, f"{name}:{bucket}"))
            batch, (event, purchase), recent, *hashes = pipe.execute()
        windows = {}
        for name, buckets in live.items():
            totals: dict[str, int] = {}
            for counts in hashes[: len(buckets)]:
                for event_type, n in counts.items():
                    totals[event_type] = totals.get(event_type, 0) + int(n)
            windows[name] = totals
            hashes = hashes[len(buckets) :]
        return feature_view(
            user_id,
            batch=orjson.loads(batch) if batch else None,
            times=None
            if event is None
            else (int(event), None if purchase is None else int(purchase)),
            recent=[tuple(orjson.loads(member.split(":", 2)[2])) for member in recent],
            windows=windows,
        )

    def close(self) -> None:
        self._redis.close()
