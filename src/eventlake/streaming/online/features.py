"""The backend-independent half of the personalization online store.

Write side: aggregate() folds a batch of events (streaming.events.SCHEMA) into the small Delta
both backends write in one transaction: counts per user, bucket and event type at two
resolutions, the newest event and purchase times per user, and the newest views per user.
Read side: feature_view() merges what a backend read back into the dict get() returns.

Windows are by EVENT time. At read time `now`, a window of W seconds sums the buckets with
now - W < bucket_start <= now, so it may count events up to one bucket older than W (a bucket
that started inside the window holds events of its whole span) and misses events dated after
`now`. A bucket stops counting `window + bucket` seconds after it started; both backends drop
it from then on (so reads at a `now` in the past only see what has not been dropped yet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eventlake.exceptions import StoreError
from eventlake.streaming.store import StreamStore

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Resolution:
    """One bucket size and the window read from it."""

    name: str
    """minute or hour: the SQLite table suffix and the Redis key segment."""
    seconds: int
    window: int
    """Seconds of the window these buckets serve."""

    def expires_at(self, bucket: int) -> int:
        """Epoch second from which the bucket starting at `bucket` can no longer count."""
        return bucket + self.window + self.seconds

    def live_buckets(self, now: int) -> range:
        """Bucket starts b with now - window < b <= now (epoch seconds)."""
        last = now - now % self.seconds
        first = last - (self.window // self.seconds - 1) * self.seconds
        return range(first, last + 1, self.seconds)


MINUTE = Resolution("minute", 60, 3600)
HOUR = Resolution("hour", 3600, 86400)
RESOLUTIONS = (MINUTE, HOUR)
WINDOW_NAMES = {MINUTE.name: "events_1h", HOUR.name: "events_24h"}

BATCH_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("subject_hash", pa.string(), nullable=False),
        pa.field("features", pa.string(), nullable=False),
    ]
)
"""What OnlineStore.replace_batch() takes: one dim_user_features row per user as a JSON object."""


@dataclass(frozen=True)
class Delta:
    """A batch of events, aggregated: what a backend adds to its state."""

    counts: Mapping[str, pa.Table]
    """Resolution name -> user_id, bucket (epoch s), event_type, n; sorted by user and bucket."""
    times: pa.Table
    """user_id, last_event_at, last_purchase_at (epoch us; the latter null without purchase)."""
    recent: pa.Table
    """user_id, event_time (epoch us), offset, partition, product_id, product_family: the
    newest views of each user (at most recent_items), newest first."""


def aggregate(events: pa.Table, recent_items: int) -> Delta:
    """Fold a batch of events into its Delta, vectorised."""
    micros = pc.cast(events["event_time"], pa.int64())
    seconds = micros.to_numpy() // 1_000_000
    counts = {}
    for resolution in RESOLUTIONS:
        buckets = pa.table(
            {
                "user_id": events["user_id"],
                "bucket": seconds - seconds % resolution.seconds,
                "event_type": events["event_type"],
            }
        )
        grouped = buckets.group_by(["user_id", "bucket", "event_type"]).aggregate(
            [([], "count_all")]
        )
        counts[resolution.name] = grouped.rename_columns(
            ["user_id", "bucket", "event_type", "n"]
        ).sort_by([("user_id", "ascending"), ("bucket", "ascending")])

    purchases = pc.if_else(pc.equal(events["event_type"], "purchase"), micros, None)
    times = (
        pa.table({"user_id": events["user_id"], "event": micros, "purchase": purchases})
        .group_by("user_id")
        .aggregate([("event", "max"), ("purchase", "max")])
        .rename_columns(["user_id", "last_event_at", "last_purchase_at"])
    )
    return Delta(counts, times, _newest_views(events, micros, recent_items))


def _newest_views(events: pa.Table, micros: pa.ChunkedArray, limit: int) -> pa.Table:
    """The `limit` newest views with a product of each user, newest first."""
    views = pa.table(
        {
            "user_id": events["user_id"],
            "event_time": micros,
            "offset": events["_offset"],
            "partition": events["_partition"],
            "product_id": events["product_id"],
            "product_family": events["product_family"],
        }
    ).filter(pc.and_(pc.equal(events["event_type"], "view"), pc.is_valid(events["product_id"])))
    ordered = views.sort_by(
        [
            ("user_id", "ascending"),
            ("event_time", "descending"),
            ("offset", "descending"),
            ("partition", "descending"),
        ]
    ).combine_chunks()
    if ordered.num_rows == 0:
        return ordered
    users = ordered["user_id"].chunk(0)
    starts = np.ones(ordered.num_rows, dtype=bool)
    starts[1:] = pc.not_equal(users[1:], users[:-1]).to_numpy(zero_copy_only=False)
    start_of_row = np.flatnonzero(starts)[np.cumsum(starts) - 1]
    rank = np.arange(ordered.num_rows) - start_of_row
    return ordered.filter(pa.array(rank < limit))


def iso(micros: int | None) -> str | None:
    """Epoch microseconds -> ISO-8601 in UTC."""
    return None if micros is None else (EPOCH + timedelta(microseconds=micros)).isoformat()


def epoch_seconds(now: datetime | None) -> int:
    """A read time (default: now) as whole epoch seconds; naive datetimes are refused."""
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise StoreError("get(): `now` needs a time zone")
    return int(now.timestamp())


def _latest(batch_value: Any, stream_value: str | None) -> str | None:
    values = [datetime.fromisoformat(v) for v in (batch_value, stream_value) if v]
    return max(values).astimezone(UTC).isoformat() if values else None


def feature_view(
    user_id: str,
    *,
    batch: dict | None,
    times: tuple[int | None, int | None] | None,
    recent: Sequence[tuple[str, str | None]],
    windows: Mapping[str, Mapping[str, int]],
) -> dict | None:
    """Merge a user's stored state into get()'s answer; None when the store knows nothing.

    `times` is (last_event_at, last_purchase_at) in epoch us, None without streamed events;
    `recent` holds (product_id, product_family) newest first; `windows` maps a resolution name
    to event_type -> count inside its window.
    """
    if batch is None and times is None and not recent and not any(windows.values()):
        return None
    last_event, last_purchase = times or (None, None)
    stream = {
        **{WINDOW_NAMES[name]: dict(counts) for name, counts in windows.items()},
        "last_event_at": iso(last_event),
        "last_purchase_at": iso(last_purchase),
        "recent_products": [product for product, _ in recent],
        "recent_families": [family for _, family in recent],
    }
    batch = batch or {}
    return {
        "user_id": user_id,
        "as_of": batch.get("features_as_of"),
        "batch": batch or None,
        "stream": stream,
        "last_event_at": _latest(batch.get("last_event_at"), stream["last_event_at"]),
        "last_purchase_at": _latest(batch.get("last_purchase_at"), stream["last_purchase_at"]),
    }


class OnlineStore(StreamStore, Protocol):
    """A StreamStore that also serves features and holds the batch features."""

    def get(self, user_id: str, now: datetime | None = None) -> dict | None:
        """The user's features at `now` (default: the wall clock), None if unknown."""

    def replace_batch(self, rows: pa.Table) -> int:
        """Replace every batch-feature row with `rows` (BATCH_SCHEMA), skipping suppressed
        subject hashes; leaves the streaming state alone. Returns the rows stored."""
