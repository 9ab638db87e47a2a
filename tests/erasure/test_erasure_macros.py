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


def record(lake, catalog, requests, check: bool = True) -> str:
    arguments = json.dumps({"requests": requests})
    return dbt(
        lake,
        catalog,
        "run-operation",
        "record_erasure_requests",
        "--args",
        arguments,
        check=check,
    )


def test_requests_are_recorded_once_and_bad_ones_write_nothing(tmp_path):
    lake, catalog = tmp_path / "lake", f"sqlite:{tmp_path / 'lakehouse.sqlite'}"
    dbt(lake, catalog, "run-operation", "setup_control_plane")
    alice, bob = subject_hash("alice", KEY), subject_hash("bob", KEY)
    record(
        lake,
        catalog,
        [
            {"request_id": "r1", "subject_hash": alice},
            {"request_id": "r2", "subject_hash": bob},
        ],
    )
    first = query(
        lake,
        catalog,
        "select request_id, subject_hash, received_at, due_at - received_at"
        " from control.erasure_requests order by 1",
    )
    assert [(r[0], r[1]) for r in first] == [("r1", alice), ("r2", bob)]
    assert {r[3] for r in first} == {timedelta(days=30)}

    # Sent again (and a new one): the recorded receipts stand, nothing is doubled.
    carol = subject_hash("carol", KEY)
    record(
        lake,
        catalog,
        [
            {"request_id": "r1", "subject_hash": alice},
            {"request_id": "r3", "subject_hash": carol},
        ],
    )
    again = query(lake, catalog, "select request_id, received_at from control.erasure_requests")
    assert sorted(again)[:2] == [(r[0], r[2]) for r in first]
    assert len(again) == 3
    suppressed = query(lake, catalog, "select subject_hash from control.erasure_suppressions")
    assert sorted(suppressed) == sorted([(alice,), (bob,), (carol,)])

    # An id already recorded for another subject, a malformed hash, an injected id: refused.
    bad = [
        [{"request_id": "r4", "subject_hash": alice}, {"request_id": "r2", "subject_hash": carol}],
        [{"request_id": "r5", "subject_hash": "ALICE"}],
        [{"request_id": "r6'; drop table control.erasure_requests; --", "subject_hash": alice}],
    ]
    for requests in bad:
        output = record(lake, catalog, requests, check=False)
        assert "nothing was recorded" in output, output[-2000:]
    assert len(query(lake, catalog, "select * from control.erasure_requests")) == 3
    assert len(query(lake, catalog, "select * from control.erasure_suppressions")) == 3
