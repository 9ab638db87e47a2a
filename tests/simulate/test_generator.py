"""The synthetic clickstream: contract-true, deterministic, realistic, with an exact truth."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import numpy as np
import orjson
import pytest

from eventlake.exceptions import ConfigError, EventlakeError
from eventlake.ingest.contract import RESERVED_NAMES, load_contract
from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.malformed import MALFORMED_KINDS
from eventlake.simulate.sessions import Message, generate, generate_with_truth, ground_truth
from eventlake.simulate.truth import GroundTruth
from eventlake.simulate.vocabulary import EVENT_TYPES

START = date(2025, 3, 1)
CONTRACT = load_contract()
PROPERTIES = CONTRACT.document["properties"]
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
JSON_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


def violations(key: bytes | None, value: bytes | None, now: datetime) -> list[str]:
    """Every way a message breaks the contract (an independent reading of the schema file)."""
    if value is None:
        return ["value is null"]
    if value == b"":
        return ["value is empty"]
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return ["value is not UTF-8"]
    if b"\n" in value:
        return ["value spans lines"]
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return ["value is not JSON"]
    if not isinstance(event, dict):
        return ["value is not a JSON object"]
    found = []
    for name in CONTRACT.required:
        if name not in event or event[name] is None or event[name] == "":
            found.append(f"{name} missing")
    for name, field_value in event.items():
        if not re.fullmatch(CONTRACT.name_pattern, name) or name in RESERVED_NAMES:
            found.append(f"field name {name!r} not allowed")
        spec = PROPERTIES.get(name)
        if spec is None or field_value is None:
            continue
        if not JSON_TYPES[spec["type"]](field_value):
            found.append(f"{name} has the wrong JSON type")
            continue
        if "pattern" in spec and not re.fullmatch(spec["pattern"], field_value):
            found.append(f"{name} does not match its pattern")
        if "minimum" in spec and field_value < spec["minimum"]:
            found.append(f"{name} below its minimum")
        if "multipleOf" in spec and round(field_value, 2) != field_value:
            found.append(f"{name} has more than 2 decimals")
    event_time = event.get("event_time")
    if isinstance(event_time, str) and event_time:
        try:
            if not RFC3339.fullmatch(event_time):
                raise ValueError(event_time)
            moment = datetime.fromisoformat(event_time)
            if moment > now + timedelta(days=1):
                found.append("event_time in the future")
        except ValueError:
            found.append("event_time is not an RFC 3339 timestamp")
    user_id = event.get("user_id")
    if key is None:
        found.append("key is null")
    elif not isinstance(user_id, str) or key != user_id.encode():
        found.append("key differs from user_id")
    return found


def flatten(chunks) -> list[Message]:
    return [message for chunk in chunks for message in chunk]


def event_ms(message: Message) -> int:
    moment = datetime.fromisoformat(orjson.loads(message.value)["event_time"])
    return int(moment.timestamp() * 1000)


@pytest.fixture(scope="module")
def stream() -> tuple[GeneratorConfig, list[Message], GroundTruth]:
    """Several chunks of a version-1 stream with plenty of every kind of trouble."""
    cfg = GeneratorConfig(
        events=40_000,
        days=4,
        start_date=START,
        chunk_size=6_000,
        late_fraction=0.05,
        duplicate_fraction=0.02,
        malformed_fraction=0.01,
        max_late_days=2,
    )
    chunks, truth = generate_with_truth(cfg)
    return cfg, flatten(chunks), truth


@pytest.fixture(scope="module")
def valid_events(stream) -> list[dict]:
    return [orjson.loads(m.value) for m in stream[1] if m.kind == "valid"]


def test_same_config_gives_the_same_bytes_and_another_seed_does_not():
    cfg = GeneratorConfig(
        events=12_000,
        days=2,
        start_date=START,
        chunk_size=2_500,
        malformed_fraction=0.01,
        schema_version=2,
    )
    first = [(m.key, m.value, m.kind) for m in flatten(generate(cfg))]
    again = [(m.key, m.value, m.kind) for m in flatten(generate(cfg))]
    other = [
        (m.key, m.value, m.kind)
        for m in flatten(
            generate(
                GeneratorConfig(
                    events=12_000,
                    days=2,
                    start_date=START,
                    chunk_size=2_500,
                    malformed_fraction=0.01,
                    schema_version=2,
                    seed=7,
                )
            )
        )
    ]
    assert first == again
    assert len(first) == len(other)
    assert sum(a != b for a, b in zip(first, other, strict=True)) > len(first) * 0.99


def test_ground_truth_adds_up_to_the_events_asked_for(stream):
    cfg, messages, truth = stream
    kinds = Counter(m.kind for m in messages)
    assert truth.events == cfg.events == kinds["valid"]
    assert truth.duplicates == kinds["duplicate"] == round(cfg.events * cfg.duplicate_fraction)
    assert truth.malformed == sum(truth.malformed_by_kind.values())
    assert truth.malformed == round(cfg.events * cfg.malformed_fraction)
    assert truth.malformed_by_kind == {
        kind.removeprefix("malformed:"): n for kind, n in kinds.items() if ":" in kind
    }
    assert truth.late == round(cfg.events * cfg.late_fraction)
    for breakdown in (
        truth.by_day,
        truth.by_type,
        truth.by_country,
        truth.by_day_type_country,
        truth.by_schema_version,
    ):
        assert sum(breakdown.values()) == cfg.events
    assert len(messages) == cfg.events + truth.duplicates + truth.malformed


def test_ground_truth_matches_a_recount_of_the_landed_events(stream, valid_events):
    _, _, truth = stream
    recount = Counter((e["event_time"][:10], e["event_type"], e["country"]) for e in valid_events)
    assert dict(recount) == truth.by_day_type_country
    assert set(truth.by_day) == {(START + timedelta(days=d)).isoformat() for d in range(4)}


def test_ground_truth_without_rendering_equals_the_truth_of_the_stream(stream):
    cfg, _, truth = stream
    assert ground_truth(cfg) == truth


def test_ground_truth_survives_json():
    truth = ground_truth(GeneratorConfig(events=3_000, days=2, start_date=START))
    document = json.loads(json.dumps(truth.to_json()))
    assert "|" in next(iter(document["by_day_type_country"]))
    assert GroundTruth.from_json(document) == truth


def test_every_valid_message_follows_the_contract(stream, valid_events):
    _, messages, _ = stream
    now = datetime.now(UTC)
    valid = [m for m in messages if m.kind == "valid"]
    for message, event in zip(valid, valid_events, strict=True):
        assert violations(message.key, message.value, now) == [], message
        assert message.event_id == event["event_id"]
        assert message.value == orjson.dumps(event)  # one compact line
        assert message.key == event["user_id"].encode()
        assert event["event_type"] in EVENT_TYPES
        assert event["event_time"].endswith("Z")
        assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", event["category_code"])
        assert event["device"] in {"mobile", "desktop", "tablet"}
        assert event["schema_version"] == 1
        assert isinstance(event["price"], float) and event["price"] > 0
        for name in ("session_id", "product_id", "category_id", "brand", "currency"):
            assert isinstance(event[name], str) and event[name]
    assert len({e["event_id"] for e in valid_events}) == len(valid_events)


def test_event_times_fall_inside_the_days_asked_for(stream, valid_events):
    cfg, _, _ = stream
    days = {e["event_time"][:10] for e in valid_events}
    assert min(days) == START.isoformat()
    assert max(days) == (START + timedelta(days=cfg.days - 1)).isoformat()


def test_default_start_makes_yesterday_the_last_day():
    cfg = GeneratorConfig(events=500, days=3)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert cfg.first_day == yesterday - timedelta(days=2)


def test_duplicates_repeat_the_exact_bytes_of_an_earlier_valid_message(stream):
    _, messages, _ = stream
    seen: dict[str, tuple[bytes | None, bytes | None]] = {}
    duplicates = 0
    for message in messages:
        if message.kind == "valid":
            seen[message.event_id] = (message.key, message.value)
        elif message.kind == "duplicate":
            duplicates += 1
            assert seen[message.event_id] == (message.key, message.value)
    assert duplicates > 0


def test_every_malformed_kind_appears_and_breaks_the_contract(stream):
    _, messages, _ = stream
    now = datetime.now(UTC)
    valid_ids = {m.event_id for m in messages if m.kind == "valid"}
    by_kind: dict[str, list[Message]] = {}
    for message in messages:
        if message.kind.startswith("malformed:"):
            by_kind.setdefault(message.kind.removeprefix("malformed:"), []).append(message)
            assert message.event_id is None
            assert violations(message.key, message.value, now), message
            if message.value and message.value[:1] == b"{":
                try:
                    event = orjson.loads(message.value)
                except orjson.JSONDecodeError:
                    continue
                assert event.get("event_id") not in valid_ids
    assert set(by_kind) == set(MALFORMED_KINDS)

    def parsed(kind: str) -> list[dict]:
        return [orjson.loads(m.value) for m in by_kind[kind]]

    for message in by_kind["non_utf8"]:
        with pytest.raises(UnicodeDecodeError):
            message.value.decode("utf-8")
    for message in by_kind["invalid_json"]:
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(message.value)
    assert all(not isinstance(e, dict) for e in parsed("not_an_object"))
    assert all(set(CONTRACT.required) - set(e) for e in parsed("missing_required"))
    assert all(m.value == b"" for m in by_kind["empty_value"])
    assert all(m.value is None for m in by_kind["null_value"])
    assert all(m.key is None and m.value for m in by_kind["null_key"])
    for message in by_kind["key_mismatch"]:
        assert message.key != orjson.loads(message.value)["user_id"].encode()
    assert all(not re.fullmatch("[A-Z]{2}", e["country"]) for e in parsed("bad_country"))
    assert all(round(e["price"], 2) != e["price"] for e in parsed("too_many_decimals"))
    assert all(e["price"] < 0 for e in parsed("negative_price"))
    for event in parsed("far_future"):
        assert datetime.fromisoformat(event["event_time"]).year >= now.year + 5


def test_malformed_kinds_can_be_narrowed():
    cfg = GeneratorConfig(
        events=5_000,
        days=1,
        start_date=START,
        malformed_fraction=0.01,
        malformed_kinds=("empty_value", "null_key"),
    )
    kinds = Counter(m.kind for m in flatten(generate(cfg)) if m.kind.startswith("malformed"))
    assert kinds == {"malformed:empty_value": 25, "malformed:null_key": 25}


def test_late_events_have_the_asked_share_and_stay_within_the_bound(stream):
    cfg, messages, truth = stream
    times = np.array([event_ms(m) for m in messages if m.kind == "valid"])
    newest_before = np.maximum.accumulate(times)[:-1]
    lag = np.concatenate([[0], newest_before - times[1:]])
    late = int((lag > 3_600_000).sum())
    assert truth.late == 2_000
    # Late events held back past the end of the stream are emitted at its end, a little less late.
    assert 0.9 * truth.late <= late <= 1.02 * truth.late
    assert lag.max() <= cfg.max_late_days * 86_400_000
    assert lag.max() > (cfg.max_late_days - 0.5) * 86_400_000


def test_without_late_events_the_stream_is_nearly_chronological():
    cfg = GeneratorConfig(
        events=20_000, days=3, start_date=START, chunk_size=4_000, late_fraction=0.0
    )
    messages = flatten(generate(cfg))
    times = np.array([event_ms(m) for m in messages if m.kind in ("valid", "duplicate")])
    lag = np.maximum.accumulate(times) - times
    assert lag.max() < 3_600_000  # sessions spill a little over chunk boundaries
    assert (np.diff(times) >= 0).mean() > 0.98


def test_funnel_converts_like_a_shop(stream):
    _, _, truth = stream
    views, carts = truth.by_type["view"], truth.by_type["cart"]
    purchases, removals = truth.by_type["purchase"], truth.by_type["remove_from_cart"]
    assert purchases < carts < views
    assert 0.04 < carts / views < 0.11
    assert 0.28 < purchases / carts < 0.45
    assert 0.1 < removals / carts < 0.3


def test_traffic_looks_real(valid_events):
    by_user = Counter(e["user_id"] for e in valid_events)
    counts = np.sort(np.array(list(by_user.values())))[::-1]
    top = counts[: max(1, len(counts) // 10)].sum() / counts.sum()
    assert top > 0.3  # heavy users: the top tenth makes a third of the traffic
    assert len(by_user) > 200
    countries = Counter(e["country"] for e in valid_events)
    assert countries.most_common(1)[0][0] == "US"
    assert len(countries) >= 10
    user_countries = {}
    for event in valid_events:
        assert user_countries.setdefault(event["user_id"], event["country"]) == event["country"]
    hours = Counter(int(e["event_time"][11:13]) for e in valid_events)
    assert max(hours.values()) > 2.5 * min(hours.values())  # day and night
    families = {e["category_code"].split(".")[0] for e in valid_events}
    assert len(families) >= 8
    usd = [e["price"] for e in valid_events if e["currency"] == "USD"]
    by_family: dict[str, list[float]] = {}
    for event in valid_events:
        if event["currency"] == "USD":
            by_family.setdefault(event["category_code"].split(".")[0], []).append(event["price"])
    assert np.median(by_family["computers"]) > 3 * np.median(by_family["beauty"])
    assert min(usd) > 0
    sessions = Counter(e["session_id"] for e in valid_events)
    assert 3 < len(valid_events) / len(sessions) < 9


def test_schema_version_2_adds_coupon_and_referrer_to_some_events():
    cfg = GeneratorConfig(events=20_000, days=2, start_date=START, schema_version=2)
    chunks, truth = generate_with_truth(cfg)
    events = [orjson.loads(m.value) for m in flatten(chunks) if m.kind == "valid"]
    versions = Counter(e["schema_version"] for e in events)
    assert versions[2] > 0.4 * len(events) and versions[1] > 0.2 * len(events)
    assert truth.by_schema_version == {str(v): n for v, n in versions.items()}
    coupons = [e for e in events if "coupon_code" in e]
    referred = [e for e in events if "referrer" in e]
    assert coupons and referred
    assert len(coupons) < 0.1 * len(events) and len(referred) < versions[2]
    assert all(e["schema_version"] == 2 for e in coupons + referred)
    assert all(e["event_type"] in ("cart", "purchase") for e in coupons)
    assert all(isinstance(e["coupon_code"], str) for e in coupons)
    assert {e["referrer"] for e in referred} >= {"google", "direct", "newsletter"}
    now = datetime.now(UTC)
    assert all(not violations(e["user_id"].encode(), orjson.dumps(e), now) for e in events)


def test_schema_version_1_never_carries_version_2_fields(valid_events):
    assert not any("coupon_code" in e or "referrer" in e for e in valid_events)
    assert {e["schema_version"] for e in valid_events} == {1}


def test_chunks_are_bounded_by_the_chunk_size():
    cfg = GeneratorConfig(events=10_000, days=1, start_date=START, chunk_size=3_000)
    sizes = [sum(m.kind == "valid" for m in chunk) for chunk in generate(cfg)]
    assert len(sizes) == 4 and sum(sizes) == 10_000
    assert max(sizes) < 3_000 * 1.2


def test_no_events_means_no_messages():
    chunks, truth = generate_with_truth(GeneratorConfig(events=0))
    assert list(chunks) == []
    assert truth.events == 0 and truth.by_day == {}


@pytest.mark.parametrize(
    "bad",
    [
        {"events": -1},
        {"days": 0},
        {"late_fraction": 1.5},
        {"schema_version": 3},
        {"malformed_kinds": ("nonsense",)},
        {"seed": -3},
    ],
)
def test_nonsense_configuration_is_refused(bad):
    with pytest.raises(ConfigError) as error:
        GeneratorConfig(**{"events": 10, **bad})
    assert isinstance(error.value, EventlakeError)
