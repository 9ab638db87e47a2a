"""The decoder without a broker: typed rows, a reason for every poison message, nothing lost."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import orjson
import pyarrow as pa
import pytest

from eventlake.ingest.decode import Decoded, Decoder, Limits, RawBatch
from tests.support import event

MAX_BYTES = 4_096
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
LIMITS = Limits(now=NOW, max_future=timedelta(hours=1), max_age=timedelta(days=90))
EVENT_TIME = "2026-03-14T09:30:00Z"
FIRST_OFFSET = 1_000

Pair = tuple[bytes | None, bytes | None]


def message(number: int, **fields: object) -> Pair:
    """A valid (key, value) pair whose event_time sits a day before the fixed clock."""
    fields.setdefault("event_time", EVENT_TIME)
    return event(number, **fields)


def without(pair: Pair, name: str) -> Pair:
    key, value = pair
    body = orjson.loads(value)
    del body[name]
    return key, orjson.dumps(body)


def raw_batch(pairs: list[Pair], partitions: list[int] | None = None) -> RawBatch:
    return RawBatch(
        topic="events",
        partitions=partitions or [0] * len(pairs),
        offsets=[FIRST_OFFSET + i for i in range(len(pairs))],
        keys=[key for key, _ in pairs],
        values=[value for _, value in pairs],
    )


def decode(pairs: list[Pair], limits: Limits = LIMITS, **batch: object) -> Decoded:
    return Decoder(MAX_BYTES).decode(raw_batch(pairs, **batch), limits)


def codes(decoded: Decoded) -> dict[int, str]:
    """Position -> reason code, checking every reason also carries a detail."""
    for reason in decoded.rejects.values():
        code, _, detail = reason.partition(": ")
        assert code and detail.strip(), f"reason without code or detail: {reason!r}"
    return {position: reason.split(": ", 1)[0] for position, reason in decoded.rejects.items()}


def assert_landed(decoded: Decoded, numbers_and_positions: list[tuple[int, int]]) -> None:
    """Exactly these events landed, in batch order, each with its own offset."""
    assert decoded.table is not None
    assert decoded.table["event_id"].to_pylist() == [
        f"evt-{number:09d}" for number, _ in numbers_and_positions
    ]
    assert decoded.table["_offset"].to_pylist() == [
        FIRST_OFFSET + position for _, position in numbers_and_positions
    ]


# -- valid events ----------------------------------------------------------------------------------


def test_valid_events_become_typed_rows_with_kafka_metadata():
    pairs = [message(1, price=12.3), message(2, price=0), message(3, price=1999.99)]

    decoded = decode(pairs, partitions=[3, 0, 3])

    assert decoded.rejects == {}
    table = decoded.table
    schema = table.schema
    assert schema.field("event_time").type == pa.timestamp("us", tz="UTC")
    assert schema.field("price").type == pa.decimal128(18, 2)
    assert schema.field("schema_version").type == pa.int32()
    assert schema.field("_topic").type == pa.string()
    assert schema.field("_partition").type == pa.int32()
    assert schema.field("_offset").type == pa.int64()
    assert schema.field("_ingested_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("event_date").type == pa.date32()
    assert table["price"].to_pylist() == [Decimal("12.30"), Decimal("0.00"), Decimal("1999.99")]
    assert table["schema_version"].to_pylist() == [1, 1, 1]
    assert table["user_id"].to_pylist() == ["user-1", "user-2", "user-3"]
    assert table["event_time"].to_pylist() == [datetime(2026, 3, 14, 9, 30, tzinfo=UTC)] * 3
    assert table["_topic"].to_pylist() == ["events"] * 3
    assert table["_partition"].to_pylist() == [3, 0, 3]
    assert table["_offset"].to_pylist() == [1_000, 1_001, 1_002]
    assert table["_ingested_at"].to_pylist() == [NOW] * 3
    assert table["event_date"].to_pylist() == [date(2026, 3, 14)] * 3


def test_event_time_with_a_zone_offset_is_stored_as_utc():
    pairs = [
        message(1, event_time="2026-03-14T12:00:00+02:00"),
        message(2, event_time="2026-03-14T04:15:30.250-05:30"),
    ]

    decoded = decode(pairs)

    assert decoded.rejects == {}
    assert decoded.table["event_time"].to_pylist() == [
        datetime(2026, 3, 14, 10, 0, tzinfo=UTC),
        datetime(2026, 3, 14, 9, 45, 30, 250_000, tzinfo=UTC),
    ]


def test_event_date_is_the_utc_date_so_a_late_evening_west_of_utc_lands_on_the_next_day():
    pairs = [
        message(1, event_time="2026-03-13T23:30:00-02:00"),
        message(2, event_time="2026-03-14T00:30:00+02:00"),
    ]

    decoded = decode(pairs)

    assert decoded.rejects == {}
    assert decoded.table["event_time"].to_pylist() == [
        datetime(2026, 3, 14, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 13, 22, 30, tzinfo=UTC),
    ]
    assert decoded.table["event_date"].to_pylist() == [date(2026, 3, 14), date(2026, 3, 13)]


def test_integer_price_is_a_valid_amount():
    decoded = decode([message(1, price=12)])

    assert decoded.rejects == {}
    assert decoded.table["price"].to_pylist() == [Decimal("12.00")]


def test_every_two_decimal_price_lands_exactly():
    cents = [*range(0, 10_000), *range(10**9, 10**9 + 1_000), 99_999_999_999_999]
    pairs = [message(n, price=float(f"{c // 100}.{c % 100:02d}")) for n, c in enumerate(cents)]

    decoded = decode(pairs)

    assert decoded.rejects == {}
    assert decoded.table["price"].to_pylist() == [Decimal(c) / 100 for c in cents]


@pytest.mark.parametrize(
    "event_time, expected",
    [
        # Go's time.RFC3339Nano and Java's Instant.toString() write nine fraction digits.
        ("2026-03-14T09:30:00.123456789Z", datetime(2026, 3, 14, 9, 30, 0, 123_456, tzinfo=UTC)),
        # RFC 3339 section 5.6: "T" and "Z" may be lower case.
        ("2026-03-14t09:30:00z", datetime(2026, 3, 14, 9, 30, tzinfo=UTC)),
    ],
    ids=["nanosecond-fraction", "lower-case-t-and-z"],
)
def test_valid_rfc3339_timestamps_the_contract_admits_are_accepted(event_time, expected):
    decoded = decode([message(1), message(2, event_time=event_time)])

    assert decoded.rejects == {}
    landed = decoded.table["event_time"].to_pylist()[1]
    assert abs(landed - expected) <= timedelta(microseconds=1)


# -- poison messages -------------------------------------------------------------------------------


def _huge() -> Pair:
    return message(9, brand="x" * (MAX_BYTES + 1))


def _invalid_utf8() -> Pair:
    key, value = message(9)
    return key, value.replace(b'"mobile"', b'"mob\xffile"')


def _duplicate_key() -> Pair:
    key, value = message(9)
    return key, value.replace(b'"event_id":', b'"event_id":"evt-dup","event_id":', 1)


POISON: dict[str, tuple[Callable[[], Pair], str]] = {
    "empty-value": (lambda: (b"user-9", b""), "empty_value"),
    "none-value": (lambda: (b"user-9", None), "empty_value"),
    "too-large": (_huge, "too_large"),
    "invalid-utf8": (_invalid_utf8, "invalid_utf8"),
    "invalid-json": (lambda: (b"user-9", b'{"event_id": "evt-9",'), "invalid_json"),
    "not-json": (lambda: (b"user-9", b"hello world"), "invalid_json"),
    "array": (lambda: (b"user-9", b'[{"event_id": "evt-9"}]'), "not_an_object"),
    "number": (lambda: (b"user-9", b"42"), "not_an_object"),
    "string": (lambda: (b"user-9", b'"an event"'), "not_an_object"),
    "boolean": (lambda: (b"user-9", b"true"), "not_an_object"),
    "empty-object": (lambda: (b"user-9", b"{}"), "missing_field"),
    "missing-event_id": (lambda: without(message(9), "event_id"), "missing_field"),
    "missing-event_time": (lambda: without(message(9), "event_time"), "missing_field"),
    "missing-event_type": (lambda: without(message(9), "event_type"), "missing_field"),
    "missing-user_id": (lambda: without(message(9), "user_id"), "missing_field"),
    "empty-event_id": (lambda: message(9, event_id=""), "missing_field"),
    "empty-event_time": (lambda: message(9, event_time=""), "missing_field"),
    "empty-event_type": (lambda: message(9, event_type=""), "missing_field"),
    "empty-user_id": (lambda: message(9, user_id=""), "missing_field"),
    "null-event_time": (lambda: message(9, event_time=None), "missing_field"),
    "price-as-string": (lambda: message(9, price="12.30"), "wrong_type"),
    "user_id-as-number": (lambda: message(9, user_id=9), "wrong_type"),
    "schema_version-as-string": (lambda: message(9, schema_version="1"), "wrong_type"),
    "schema_version-fraction": (lambda: message(9, schema_version=1.5), "wrong_type"),
    "event_type-as-object": (lambda: message(9, event_type={"name": "view"}), "wrong_type"),
    "duplicate-key": (_duplicate_key, "duplicate_field"),
    "unparseable-timestamp": (lambda: message(9, event_time="yesterday"), "invalid_timestamp"),
    "timestamp-without-zone": (
        lambda: message(9, event_time="2026-03-14T09:30:00"),
        "invalid_timestamp",
    ),
    "impossible-date": (lambda: message(9, event_time="2026-02-30T09:30:00Z"), "invalid_timestamp"),
    "far-future": (lambda: message(9, event_time="2026-03-15T13:00:01Z"), "future_timestamp"),
    "too-old": (lambda: message(9, event_time="2025-12-15T11:59:59Z"), "timestamp_too_old"),
    "missing-key": (lambda: (None, message(9)[1]), "missing_key"),
    "key-differs-from-user_id": (lambda: (b"user-10", message(9)[1]), "key_mismatch"),
    "bad-country": (lambda: message(9, country="de"), "invalid_value"),
    "bad-event_type": (lambda: message(9, event_type="Page View"), "invalid_value"),
    "price-three-decimals": (lambda: message(9, price=12.345), "invalid_value"),
    "negative-price": (lambda: message(9, price=-1.0), "invalid_value"),
    "schema_version-zero": (lambda: message(9, schema_version=0), "invalid_value"),
    "reserved-_offset": (lambda: message(9, _offset=5), "reserved_field"),
    "reserved-event_date": (lambda: message(9, event_date="2026-03-14"), "reserved_field"),
    "invalid-extra-name": (lambda: message(9, **{"Bad Name": 1}), "invalid_field_name"),
}


@pytest.mark.parametrize("where", [0, 2, 4], ids=["first", "middle", "last"])
@pytest.mark.parametrize("kind", POISON)
def test_poison_message_is_rejected_with_its_reason_and_every_other_row_lands(kind, where):
    make_poison, code = POISON[kind]
    pairs = [make_poison() if position == where else message(position) for position in range(5)]

    decoded = decode(pairs)

    assert codes(decoded) == {where: code}
    assert_landed(decoded, [(position, position) for position in range(5) if position != where])


CHILD_DECODE = """
import base64, json, sys
from datetime import datetime, timedelta
from eventlake.ingest.decode import Decoder, Limits, RawBatch
request = json.load(sys.stdin)
decode64 = lambda text: None if text is None else base64.b64decode(text)
pairs = request["pairs"]
batch = RawBatch(
    "events", [0] * len(pairs), [1000 + i for i in range(len(pairs))],
    [decode64(key) for key, _ in pairs], [decode64(value) for _, value in pairs],
)
limits = Limits(
    datetime.fromisoformat(request["now"]), timedelta(hours=1), timedelta(days=90),
)
decoded = Decoder(request["max_bytes"]).decode(batch, limits)
offsets = [] if decoded.table is None else decoded.table["_offset"].to_pylist()
print(json.dumps({"rejects": decoded.rejects, "offsets": offsets}))
"""


def decode_in_child(pairs: list[Pair]) -> tuple[dict[int, str], list[int]]:
    """Decode in a separate interpreter, so a crash of the process fails the test, not the run."""

    def encode(data: bytes | None) -> str | None:
        return None if data is None else base64.b64encode(data).decode()

    request = {
        "pairs": [[encode(key), encode(value)] for key, value in pairs],
        "max_bytes": MAX_BYTES,
        "now": NOW.isoformat(),
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD_DECODE],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, (
        f"decoding the batch killed the process (exit {child.returncode}): {child.stderr[-800:]}"
    )
    result = json.loads(child.stdout)
    rejects = {
        int(position): reason.split(": ", 1)[0] for position, reason in result["rejects"].items()
    }
    return rejects, result["offsets"]


@pytest.mark.parametrize(
    "batch, expected_rejects, expected_offsets",
    [
        ([b"null", 1, 2], {0: "not_an_object"}, [1_001, 1_002]),
        ([0, b"null", 2], {1: "not_an_object"}, [1_000, 1_002]),
        ([0, b"null", b"[1]", 3], {1: "not_an_object", 2: "not_an_object"}, [1_000, 1_003]),
    ],
    ids=["first", "middle", "next-to-another-poison"],
)
def test_json_null_value_is_rejected_as_not_an_object_without_killing_the_loader(
    batch, expected_rejects, expected_offsets
):
    pairs = [message(item) if isinstance(item, int) else (b"user-9", item) for item in batch]

    rejects, offsets = decode_in_child(pairs)

    assert rejects == expected_rejects
    assert offsets == expected_offsets


def test_known_field_of_another_json_type_is_rejected_never_cast():
    decoded = decode([message(1, price=12.3), message(2, price="12.30")])

    assert codes(decoded) == {1: "wrong_type"}
    assert decoded.table["price"].to_pylist() == [Decimal("12.30")]
    assert decoded.table["event_id"].to_pylist() == ["evt-000000001"]


def test_batch_of_only_poison_lands_no_row_and_gives_a_reason_for_each():
    decoded = decode([(b"user-1", b""), (b"user-2", b"[]"), without(message(3), "user_id")])

    assert decoded.table is None or decoded.table.num_rows == 0
    assert codes(decoded) == {0: "empty_value", 1: "not_an_object", 2: "missing_field"}


def test_whitespace_only_value_is_rejected_without_losing_the_batch():
    decoded = decode([message(1), (b"user-2", b"   "), message(3)])

    assert codes(decoded) == {1: "empty_value"} or codes(decoded) == {1: "invalid_json"}
    assert_landed(decoded, [(1, 0), (3, 2)])


def test_two_json_documents_in_one_message_are_rejected_without_losing_the_batch():
    _, first = message(2)
    _, second = message(4)
    decoded = decode([message(1), (b"user-2", first + b" " + second), message(3)])

    assert codes(decoded) == {1: "invalid_json"}
    assert_landed(decoded, [(1, 0), (3, 2)])


def test_rows_keep_their_own_offsets_when_a_two_document_message_meets_a_blank_one():
    _, first = message(1)
    _, second = message(3)
    pairs = [message(0), (b"user-1", first + b" " + second), (b"user-1", b" "), message(2)]

    decoded = decode(pairs)

    assert set(codes(decoded)) == {1, 2}
    assert_landed(decoded, [(0, 0), (2, 3)])


def test_price_beyond_decimal_18_2_is_rejected_without_losing_the_batch():
    decoded = decode([message(1), message(2, price=1e17), message(3)])

    assert codes(decoded) == {1: "invalid_value"}
    assert_landed(decoded, [(1, 0), (3, 2)])


# -- extra fields and layout -----------------------------------------------------------------------


def test_unknown_extra_fields_become_nullable_columns_with_their_json_type():
    pairs = [
        message(1, landing_page="/home", items=3, score=0.75),
        message(2),
        message(3, items=7),
    ]

    decoded = decode(pairs)

    assert decoded.rejects == {}
    table = decoded.table
    assert table.schema.field("landing_page").type == pa.string()
    assert table.schema.field("items").type == pa.int64()
    assert table.schema.field("score").type == pa.float64()
    assert all(table.schema.field(name).nullable for name in ("landing_page", "items", "score"))
    assert table["landing_page"].to_pylist() == ["/home", None, None]
    assert table["items"].to_pylist() == [3, None, 7]
    assert table["score"].to_pylist() == [0.75, None, None]


def test_extra_field_whose_type_differs_within_a_batch_keeps_both_messages_as_json_text():
    pairs = [message(1, campaign=42), message(2, campaign="spring"), message(3)]

    decoded = decode(pairs)

    assert decoded.rejects == {}
    assert_landed(decoded, [(1, 0), (2, 1), (3, 2)])
    assert decoded.table.schema.field("campaign").type == pa.string()
    assert decoded.table["campaign"].to_pylist() == ["42", '"spring"', None]


def test_extra_field_that_is_integer_then_fractional_becomes_double():
    decoded = decode([message(1, weight=2), message(2, weight=2.5)])

    assert decoded.rejects == {}
    assert decoded.table.schema.field("weight").type == pa.float64()
    assert decoded.table["weight"].to_pylist() == [2.0, 2.5]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_json_document_spread_over_several_lines_is_accepted(newline):
    key, value = message(2)
    pretty = orjson.dumps(orjson.loads(value), option=orjson.OPT_INDENT_2).replace(b"\n", newline)
    assert pretty.count(newline) > 5

    decoded = decode([message(1), (key, pretty), message(3)])

    assert decoded.rejects == {}
    assert_landed(decoded, [(1, 0), (2, 1), (3, 2)])


def test_many_malformed_messages_in_a_batch_still_return_every_valid_row():
    bad_kinds = [make_poison for make_poison, _ in POISON.values()]
    pairs: list[Pair] = []
    expected_rows: list[tuple[int, int]] = []
    bad_positions: list[int] = []
    for number in range(2_000):
        expected_rows.append((number, len(pairs)))
        pairs.append(message(number))
        if number % 10 == 5:
            bad_positions.append(len(pairs))
            pairs.append(bad_kinds[(number // 10) % len(bad_kinds)]())

    decoded = decode(pairs)

    assert len(bad_positions) == 200
    assert decoded.table.num_rows == 2_000
    assert sorted(codes(decoded)) == bad_positions
    assert_landed(decoded, expected_rows)


def test_clock_in_limits_decides_what_is_future_or_too_old():
    pairs = [message(1, event_time="2026-03-14T09:30:00Z")]

    def at(now: datetime) -> Decoded:
        return decode(pairs, Limits(now, timedelta(hours=1), timedelta(days=90)))

    in_range = at(NOW)
    just_ahead = at(datetime(2026, 3, 14, 8, 29, 59, tzinfo=UTC))
    far_behind = at(datetime(2026, 6, 12, 9, 30, 1, tzinfo=UTC))

    assert in_range.rejects == {}
    assert in_range.table["_ingested_at"].to_pylist() == [NOW]
    assert codes(just_ahead) == {0: "future_timestamp"}
    assert codes(far_behind) == {0: "timestamp_too_old"}
