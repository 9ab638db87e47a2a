"""Erasure requests: what is accepted, what is refused and why, and the hash that names them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import pytest

from eventlake.erasure.control import Confirmation
from eventlake.erasure.report import render
from eventlake.erasure.subjects import ErasureRequest, subject_hash
from eventlake.erasure.topics import parse_confirmation
from eventlake.exceptions import ErasureError

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_a_request_round_trips_through_its_message():
    request = ErasureRequest("req-1", "u000000042", NOW)
    assert ErasureRequest.from_json(request.to_json()) == request


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"request_id": "r1", "user_id": "u1"}', "missing requested_at"),
        (b'{"request_id": "r1", "user_id": "u1", "requested_at": "yesterday"}', "ISO"),
        (b'{"request_id": "r1", "user_id": "u1", "requested_at": "2026-03-01T00:00:00"}', "zone"),
        (b'{"request_id": "r1", "user_id": 42, "requested_at": "2026-03-01T00:00:00Z"}', "user_id"),
    ],
)
def test_a_malformed_request_is_refused_with_the_reason(value, reason):
    with pytest.raises(ErasureError, match=reason):
        ErasureRequest.from_json(value)


@pytest.mark.parametrize(
    "payload",
    ["u1' or '1'='1", "u1; drop table control.erasure_requests; --", "../../etc", "", "u" * 129],
)
def test_an_injection_payload_as_user_id_is_refused_without_echoing_it(payload):
    with pytest.raises(ErasureError, match="invalid user_id") as refused:
        ErasureRequest("req-1", payload, NOW)
    assert payload not in str(refused.value) or payload == ""


@pytest.mark.parametrize("request_id", ["r1'; delete from x; --", "-leading-dash", "a b", ""])
def test_an_invalid_request_id_is_refused(request_id):
    with pytest.raises(ErasureError, match="invalid request_id"):
        ErasureRequest(request_id, "u000000042", NOW)


def test_the_subject_hash_equals_the_dbt_macro_on_duckdb():
    # macros/privacy/subject_hash.sql renders sha256(key || id) on DuckDB.
    (expected,) = duckdb.execute("select sha256('k-1' || 'u000000042')").fetchone()
    assert subject_hash("u000000042", "k-1") == expected
    assert subject_hash("u000000042", "k-2") != expected


def test_a_confirmation_from_a_streaming_store_is_validated():
    good = json.dumps(
        {
            "request_id": "r1",
            "store": "online",
            "object": "features",
            "status": "confirmed",
            "rows_deleted": 3,
            "confirmed_at": NOW.isoformat(),
        }
    ).encode()
    assert parse_confirmation(good) == Confirmation(
        "r1", "online", "features", "confirmed", rows_deleted=3, confirmed_at=NOW
    )
    for bad, reason in [
        (good.replace(b'"confirmed"', b'"done"'), "status"),
        (good.replace(b'"online"', b'"on line"'), "store"),
        (good.replace(b"3", b"-3"), "rows_deleted"),
    ]:
        with pytest.raises(ErasureError, match=reason):
            parse_confirmation(bad)


def test_reports_render_as_table_json_and_csv():
    rows = [{"request_id": "r1", "state": "open", "due_at": NOW}]
    columns = ("request_id", "state", "due_at")
    table = render(rows, columns, "table").splitlines()
    assert table[0].split() == list(columns)
    assert table[1].split() == ["r1", "open", "2026-03-01T12:00:00+00:00"]
    assert json.loads(render(rows, columns, "json"))[0]["due_at"] == "2026-03-01T12:00:00+00:00"
    assert render(rows, columns, "csv").splitlines() == [
        "request_id,state,due_at",
        "r1,open,2026-03-01T12:00:00+00:00",
    ]
