"""record_erasure_requests: the control-plane intake for engines Python cannot write (Spark),
run here on DuckDB: it records requests and suppressions once, keeps a recorded receipt, and
refuses a malformed or conflicting request before writing anything."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from eventlake.erasure.subjects import subject_hash
from tests.dbt_support import dbt, query

pytestmark = pytest.mark.slow

KEY = "eventlake-dev-key"


def record(lake, warehouse, requests, check: bool = True) -> str:
    arguments = json.dumps({"requests": requests})
    return dbt(
        lake,
        warehouse,
        "run-operation",
        "record_erasure_requests",
        "--args",
        arguments,
        check=check,
    )


def test_requests_are_recorded_once_and_bad_ones_write_nothing(tmp_path):
    lake, warehouse = tmp_path / "lake", tmp_path / "warehouse.duckdb"
    dbt(lake, warehouse, "run-operation", "setup_control_plane")
    alice, bob = subject_hash("alice", KEY), subject_hash("bob", KEY)
    record(
        lake,
        warehouse,
        [
            {"request_id": "r1", "subject_hash": alice},
            {"request_id": "r2", "subject_hash": bob},
        ],
    )
    first = query(
        warehouse,
        "select request_id, subject_hash, received_at, due_at - received_at"
        " from control.erasure_requests order by 1",
    )
    assert [(r[0], r[1]) for r in first] == [("r1", alice), ("r2", bob)]
    assert {r[3] for r in first} == {timedelta(days=30)}

    # Sent again (and a new one): the recorded receipts stand, nothing is doubled.
    carol = subject_hash("carol", KEY)
    record(
        lake,
        warehouse,
        [
            {"request_id": "r1", "subject_hash": alice},
            {"request_id": "r3", "subject_hash": carol},
        ],
    )
    again = query(warehouse, "select request_id, received_at from control.erasure_requests")
    assert sorted(again)[:2] == [(r[0], r[2]) for r in first]
    assert len(again) == 3
    assert sorted(query(warehouse, "select subject_hash from control.erasure_suppressions")) == (
        sorted([(alice,), (bob,), (carol,)])
    )

    # An id already recorded for another subject, a malformed hash, an injected id: refused.
    bad = [
        [{"request_id": "r4", "subject_hash": alice}, {"request_id": "r2", "subject_hash": carol}],
        [{"request_id": "r5", "subject_hash": "ALICE"}],
        [{"request_id": "r6'; drop table control.erasure_requests; --", "subject_hash": alice}],
    ]
    for requests in bad:
        output = record(lake, warehouse, requests, check=False)
        assert "nothing was recorded" in output, output[-2000:]
    assert len(query(warehouse, "select * from control.erasure_requests")) == 3
    assert len(query(warehouse, "select * from control.erasure_suppressions")) == 3
