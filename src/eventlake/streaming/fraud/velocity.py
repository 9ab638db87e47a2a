"""A batch of events (streaming.events.SCHEMA) -> what the fraud store adds to its minute buckets.

Pure pyarrow, no store: the batch is grouped by user and event-time minute into
- `minutes`: user_id, minute, events, purchases (counts to add to the bucket);
- `purchases`: user_id, minute, currency, value (purchase value to add, by currency; a null
  currency is carried as "" and a null price adds nothing, as sum() ignores nulls);
- `seen`: user_id, kind, value, minute (kind is "session", "device" or "country"), one row per
  distinct value of a user in a minute;
- `users`: user_id, first_minute (the earliest minute the batch touches for the user).

Minutes are epoch seconds (UTC) of the bucket start, a multiple of 60.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

PURCHASE = "purchase"
SEEN_KINDS = (("session", "session_id"), ("device", "device"), ("country", "country"))
"""(kind stored in the bucket table, column of the event batch)."""


@dataclass(frozen=True)
class Delta:
    minutes: pa.Table
    purchases: pa.Table
    seen: pa.Table
    users: pa.Table


def minute_of(event_time: pa.ChunkedArray) -> pa.ChunkedArray:
    """Event times -> epoch seconds of their minute (int64)."""
    floored = pc.floor_temporal(event_time, unit="minute")
    return pc.cast(pc.cast(floored, pa.timestamp("s", tz="UTC")), pa.int64())


def delta(events: pa.Table) -> Delta:
    """Aggregate one batch into per-(user, minute) rows and distinct (user, minute, kind, value).

    Every table comes sorted by its key (the store's primary-key order, so inserts stay local).
    Grouping runs single-threaded: on batches of this size threads cost more than they save.
    """
    minute = minute_of(events["event_time"])
    is_purchase = pc.equal(events["event_type"], PURCHASE)
    base = pa.table(
        {
            "user_id": events["user_id"],
            "minute": minute,
            "purchase": pc.cast(is_purchase, pa.int64()),
        }
    )
    minutes = _grouped(base, ["user_id", "minute"], [([], "count_all"), ("purchase", "sum")])
    minutes = minutes.rename_columns({"count_all": "events", "purchase_sum": "purchases"})
    bought = pa.table(
        {
            "user_id": events["user_id"],
            "minute": minute,
            "currency": pc.fill_null(events["currency"], ""),
            "price": events["price"],
        }
    ).filter(is_purchase)
    purchases = _grouped(bought, ["user_id", "minute", "currency"], [("price", "sum")])
    purchases = purchases.rename_columns({"price_sum": "value"})
    parts = []
    for kind, column in SEEN_KINDS:
        part = pa.table(
            {"user_id": events["user_id"], "minute": minute, "value": events[column]}
        ).filter(pc.is_valid(events[column]))
        part = part.group_by(["user_id", "minute", "value"], use_threads=False).aggregate([])
        parts.append(part.append_column("kind", pa.repeat(pa.scalar(kind), part.num_rows)))
    seen = pa.concat_tables(parts).sort_by(
        [(key, "ascending") for key in ("user_id", "kind", "value", "minute")]
    )
    users = _grouped(minutes, ["user_id"], [("minute", "min")])
    users = users.rename_columns({"minute_min": "first_minute"})
    return Delta(minutes=minutes, purchases=purchases, seen=seen, users=users)


def _grouped(table: pa.Table, keys: list[str], aggregations: list) -> pa.Table:
    grouped = table.group_by(keys, use_threads=False).aggregate(aggregations)
    return grouped.sort_by([(key, "ascending") for key in keys])
