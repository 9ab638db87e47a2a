"""Malformed messages: every way a message breaks the event contract, each made from a valid
donor message.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import orjson

from eventlake.exceptions import ConfigError
from eventlake.simulate.seeding import hex16, mix

if TYPE_CHECKING:
    from eventlake.simulate.sessions import Run

MALFORMED_KINDS = (
    "invalid_json",
    "non_utf8",
    "not_an_object",
    "missing_required",
    "wrong_type",
    "bad_timestamp",
    "far_future",
    "empty_value",
    "null_value",
    "null_key",
    "key_mismatch",
    "bad_country",
    "too_many_decimals",
    "negative_price",
    "bad_event_type",
    "bad_currency",
    "bad_category_code",
    "empty_required",
    "bad_schema_version",
    "bad_field_name",
    "reserved_field",
)
"""Every way a message breaks the contract; each malformed message's kind is one of these."""

REQUIRED_FIELDS = ("event_id", "event_time", "event_type", "user_id")
MALFORMED_ID_BASE = 1 << 62
"""Malformed messages number their event ids from here, so they never reuse a valid one."""


def malformed_message(
    kind: str, rng: np.random.Generator, key: bytes, value: bytes, number: int, run: Run
) -> tuple[bytes | None, bytes | None]:
    """A message of ``kind`` made from a valid donor message; it gets an event id of its own."""
    event = orjson.loads(value)
    raw_id = (MALFORMED_ID_BASE + number + run.id_salt) % 2**64
    event["event_id"] = hex16(mix(np.array([raw_id], dtype=np.uint64)))[0]
    fresh = orjson.dumps(event)

    def pick(options: tuple) -> object:
        return options[int(rng.integers(len(options)))]

    def mutated(**changes: object) -> bytes:
        return orjson.dumps({**event, **changes})

    if kind == "invalid_json":
        return key, fresh[: int(rng.integers(1, len(fresh) - 1))]
    if kind == "non_utf8":
        bad = pick((b"\xff\xfe", b"\xc3\x28", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80"))
        field_name = pick((b'"brand":"', b'"category_code":"', b'"device":"'))
        return key, fresh.replace(field_name, field_name + bad, 1)
    if kind == "not_an_object":
        return key, pick((orjson.dumps([event]), b"42", b'"view"', b"null", b"true"))
    if kind == "missing_required":
        dropped = pick(REQUIRED_FIELDS)
        return key, orjson.dumps({k: v for k, v in event.items() if k != dropped})
    if kind == "wrong_type":
        variant = int(rng.integers(5))
        if variant == 0:
            return key, mutated(price=f"{event['price']:.2f}")
        if variant == 1:
            return key, mutated(user_id=int(event["user_id"][1:]))
        if variant == 2:
            return key, mutated(schema_version=str(event["schema_version"]))
        if variant == 3:
            moment = dt.datetime.fromisoformat(event["event_time"])
            return key, mutated(event_time=int(moment.timestamp() * 1000))
        return key, mutated(event_id=number)
    if kind == "bad_timestamp":
        text = pick(
            (
                "yesterday",
                "2026-13-45T99:00:00Z",
                "2025-02-30T10:00:00Z",
                "",
                "now",
                "12/03/2025 10:15",
                "2025-06-01 25:61:00",
            )
        )
        return key, mutated(event_time=text)
    if kind == "far_future":
        moment = dt.datetime.fromisoformat(event["event_time"])
        end = run.clock.first_day + dt.timedelta(days=run.clock.days)
        year = end.year + int(rng.integers(30, 80))
        ahead = moment.replace(year=year, day=min(moment.day, 28))
        return key, mutated(event_time=ahead.isoformat(timespec="milliseconds")[:-6] + "Z")
    if kind == "empty_value":
        return key, b""
    if kind == "null_value":
        return key, None
    if kind == "null_key":
        return None, fresh
    if kind == "key_mismatch":
        other = int(run.users.number[int(rng.integers(len(run.users)))])
        mismatch = f"u{(other + 1) % 10**9:09d}".encode()
        return pick((mismatch, key.upper(), key + b" ", b"")), fresh
    if kind == "bad_country":
        return key, mutated(country=pick(("germany", "de", "DEU", "U.S.", "Deutschland", "")))
    if kind == "too_many_decimals":
        cents = max(int(round(event["price"] * 100)), 1)
        return key, mutated(price=(cents * 10 + int(rng.integers(1, 10))) / 1000)
    if kind == "negative_price":
        return key, mutated(price=-event["price"] if event["price"] else -1.0)
    if kind == "bad_event_type":
        return key, mutated(event_type=pick(("View", "add to cart", "PURCHASE", "3d_view", "")))
    if kind == "bad_currency":
        return key, mutated(currency=pick(("eur", "EURO", "$", "US")))
    if kind == "bad_category_code":
        text = pick(("Electronics/Smartphone", "electronics..tv", ".kids", "sport.Bicycle"))
        return key, mutated(category_code=text)
    if kind == "empty_required":
        name = pick(("event_id", "user_id"))
        return (b"" if name == "user_id" else key), mutated(**{name: ""})
    if kind == "bad_schema_version":
        return key, mutated(schema_version=pick((0, -1)))
    if kind == "bad_field_name":
        return key, mutated(**{pick(("Coupon-Code", "1st_visit", "utm source", "ÜBER")): "x"})
    if kind == "reserved_field":
        return key, mutated(**{pick(("event_date", "_offset", "_topic")): "2020-01-01"})
    raise ConfigError(f"unknown malformed kind {kind!r}; expected one of {MALFORMED_KINDS}")
