"""`eventlake status` on real stores, a real DuckLake catalog (its control plane made by dbt) and
the real broker: 0 when every consumer is within budget, 1 on a stale consumer or an overdue
erasure request."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from eventlake.erasure import control
from eventlake.ops import status as ops_status
from eventlake.ops.config import OpsConfig
from eventlake.streaming import events as stream_events
from eventlake.streaming.config import FraudConfig, OnlineConfig
from eventlake.streaming.fraud.store import FraudStore
from eventlake.streaming.online.sqlite_store import SqliteOnlineStore
from tests.dbt_support import dbt

pytestmark = pytest.mark.slow  # one dbt run-operation each


@pytest.fixture
def world(settings, tmp_path):
    """Settings with their own erasure topics, both streaming stores and the lakehouse with its
    control plane and the two published relations freshness is read from."""
    settings = dataclasses.replace(
        settings,
        erasure_topic=f"{settings.topic}-erasure",
        confirmation_topic=f"{settings.topic}-confirmations",
    )
    dbt(settings.lake_dir, settings.catalog, "run-operation", "setup_control_plane")
    online = OnlineConfig(sqlite_path=tmp_path / "online.sqlite", group_id=f"o-{settings.topic}")
    fraud = FraudConfig(sqlite_path=tmp_path / "fraud.sqlite", group_id=f"f-{settings.topic}")
    return settings, online, fraud, time.time()


def fill(settings, online, fraud, now, *, online_age=5.0, lakehouse_age=300.0) -> None:
    """One event in each store, `age` seconds before `now` (the test's own clock: one read at
    import would be an hour stale late in the suite); the online store also holds one an hour
    ahead of it (the contract admits a day), which freshness must not count."""
    future = SqliteOnlineStore(online)
    future.apply(stream_table(now + 3600, user_id="user-2"), {(settings.topic, 0): 1})
    future.close()
    for store, age in (
        (SqliteOnlineStore(online), online_age),
        (FraudStore(fraud), 30.0),
    ):
        store.apply(stream_table(now - age), {(settings.topic, 0): 2})
        store.close()
    at = datetime.fromtimestamp(now - lakehouse_age, UTC)
    with settings.connect() as connection:
        for view in ("events", "fct_training_events"):
            connection.execute(
                f"create or replace table main.{view} as "
                "select $at::timestamptz as event_at, $at::timestamptz::date as event_date",
                {"at": at},
            )


def stream_table(at: float, user_id: str = "user-1") -> pa.Table:
    row = {field.name: None for field in stream_events.SCHEMA}
    row.update(
        user_id=user_id,
        event_time=datetime.fromtimestamp(at, UTC),
        event_type="view",
        _partition=0,
        _offset=0,
    )
    return pa.Table.from_pylist([row], schema=stream_events.SCHEMA)


def collect(world) -> ops_status.Status:
    settings, online, fraud, now = world
    return ops_status.collect(settings, OpsConfig(), online, fraud, now=now)


def test_status_is_0_when_every_consumer_is_within_budget_and_nothing_is_overdue(world):
    fill(*world)

    status = collect(world)

    assert status.problems == []
    assert status.exit_code == 0
    assert [(f.consumer, f.level) for f in status.freshness] == [
        ("online", "OK"),
        ("fraud", "OK"),
        ("analytics", "OK"),
        ("training", "OK"),
    ]
    assert [lag.messages for lag in status.lag] == [0, 0, 0]
    assert [d.last_hour for d in status.dead_letters] == [0, 0]
    assert status.erasure.open == 0
    table = ops_status.render(status, "table")
    assert "all consumers within budget" in table
    assert json.loads(ops_status.render(status, "json"))["exit_code"] == 0


def test_status_is_1_and_names_the_consumer_when_the_online_store_is_stale(world):
    fill(*world, online_age=600.0, lakehouse_age=1500.0)  # online budget 60 s, analytics 1800 s

    status = collect(world)

    levels = {f.consumer: f.level for f in status.freshness}
    assert levels == {"online": "ERROR", "fraud": "OK", "analytics": "WARN", "training": "OK"}
    assert status.exit_code == 1
    assert status.problems == ["online freshness 600 s is over its budget of 60 s"]


def test_status_is_1_on_an_overdue_erasure_request(world):
    fill(*world)
    settings, now = world[0], world[3]
    received = datetime.fromtimestamp(now, UTC) - timedelta(days=31)
    with control.connect(settings) as connection:
        control.record_requests(
            connection,
            [("er-overdue-1", "a" * 64, received), ("er-open-2", "b" * 64, received)],
            received,
            timedelta(days=30),
        )
        control.record_requests(
            connection,
            [("er-open-3", "c" * 64, received)],
            datetime.fromtimestamp(now, UTC) - timedelta(days=2),
            timedelta(days=30),
        )

    status = collect(world)

    assert (status.erasure.open, status.erasure.overdue) == (3, 2)
    assert status.erasure.oldest_open_age_seconds == pytest.approx(31 * 86400, abs=1)
    assert status.exit_code == 1
    assert status.problems == ["2 erasure requests are overdue"]


def test_the_cli_prints_json_and_exits_non_zero_when_a_store_is_missing(world, tmp_path):
    settings, online, fraud, now = world
    fill(settings, online, fraud, now)
    (tmp_path / "fraud.sqlite").unlink()  # the fraud consumer never ran here
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
        EVENTLAKE_TOPIC=settings.topic,
        EVENTLAKE_DLQ_TOPIC=settings.dlq_topic,
        EVENTLAKE_GROUP_ID=settings.group_id,
        EVENTLAKE_LAKE_DIR=str(settings.lake_dir),
        EVENTLAKE_CATALOG=settings.catalog,
        EVENTLAKE_ERASURE_TOPIC=settings.erasure_topic,
        EVENTLAKE_ONLINE_PATH=str(online.sqlite_path),
        EVENTLAKE_FRAUD_PATH=str(Path(fraud.sqlite_path)),
        EVENTLAKE_ONLINE_GROUP_ID=online.group_id,
        EVENTLAKE_FRAUD_GROUP_ID=fraud.group_id,
        EVENTLAKE_ONLINE_BUDGET_SECONDS="86400",  # the CLI's clock is later than `now`
    )
    done = subprocess.run(
        [sys.executable, "-m", "eventlake.cli", "status", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    levels = {f["consumer"]: f["level"] for f in report["freshness"]}
    assert levels["fraud"] == "ERROR" and levels["online"] == "OK"
    assert report["problems"] == ["fraud: no event visible in its store (budget 300 s)"]
