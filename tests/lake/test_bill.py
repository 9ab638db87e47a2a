"""A query's bill, before it runs, against what DuckDB then reads.

On a built lakehouse, each query is billed from the catalog (nothing runs), then run with
DuckDB's detailed profiling: the bill is never below the bytes read, and it is at most 1.5x
those bytes when the query filters only on the partition and the sort columns."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eventlake.lake.bill import bill
from eventlake.lake.lakehouse import connect
from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.lake_writer import write_raw_lake
from tests.dbt_support import dbt

pytestmark = pytest.mark.slow
DAYS = 30
START = dt.date(2025, 1, 1)

# (query, filters only on the partition and sort columns)
QUERIES = [
    ("select count(*) from events where event_date = date '2025-01-05'", True),
    ("select * from events where event_date = date '2025-01-05'", True),
    (
        "select country_code, count(*), sum(price) from events"
        " where event_date between date '2025-01-20' and date '2025-01-26' group by 1",
        True,
    ),
    ("select sum(price) from events where event_date >= date '2025-01-24'", True),
    ("select sum(price) from events where event_date > date '2025-01-28'", True),
    ("select sum(price) from events where event_date < date '2025-01-03'", True),
    (
        "select sum(price) from events where event_date in (date '2025-01-05', date '2025-01-09')",
        True,
    ),
    (
        "select count(*) from events where event_date = date '2025-01-10' and country_code = 'DE'",
        True,
    ),
    (
        "select event_type, count(*) from fct_events where event_date = date '2025-01-11'"
        " and product_family = 'electronics' group by 1",
        True,
    ),
    (
        "select count(distinct user_id) from events where event_date = date '2025-01-12'"
        " and event_type = 'purchase'",
        True,
    ),
    (
        "select max(event_at) from events where event_date = date '2025-01-13'"
        " and event_at < timestamptz '2025-01-13 12:00:00+00'",
        True,
    ),
    (
        "select event_id, user_key, event_at from fct_training_events"
        " where event_date >= date '2025-01-27'",
        True,
    ),
    ("select * from agg_events_daily where event_date >= date '2025-01-25'", True),
    ("select sum(events) from agg_events_hourly", True),
    ("select count(*) from events", True),
    ("select count(*) from events where user_id like '%7'", False),
    (
        "select count(*) from events where event_date = date '2025-01-14' and price > 100",
        False,
    ),
    (
        "select user_id, count(*) from events where event_date >= date '2025-01-20'"
        " group by 1 order by 2 desc limit 10",
        False,
    ),
    (
        "with day as (select country_code, sum(price) as revenue from events"
        " where event_date = date '2025-01-15' group by 1)"
        " select d.country_code, d.revenue, a.events from day as d"
        " inner join agg_events_daily as a on a.country_code = d.country_code"
        " and a.event_date = date '2025-01-15'",
        True,
    ),
    (
        "select event_type from events where event_date = date '2025-01-16'"
        " union all select event_type from events where event_date = date '2025-01-17'",
        True,
    ),
    (
        "select user_id, sum(price) over (partition by user_id) from events"
        " where event_date = date '2025-01-18' and device_type = 'mobile'",
        False,
    ),
    (
        "select count(*) from events where event_date = date '2025-01-19'"
        " and (country_code = 'DE' or price > 50)",
        False,
    ),
]


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory):
    work = tmp_path_factory.mktemp("bill")
    lake, catalog = work / "lake", f"sqlite:{work / 'lakehouse.sqlite'}"
    config = GeneratorConfig(events=DAYS * 16_384, days=DAYS, start_date=START, late_fraction=0.0)
    write_raw_lake(config, lake)
    dbt(lake, catalog, "build")
    return lake, catalog, work / "profile.json"


def bytes_read(lake: Path, catalog: str, sql: str, report: Path) -> int:
    """What DuckDB reads running `sql` on a fresh connection, from its detailed profile. The
    Parquet reader reports its reads when it prefetches; no cache hides a read."""
    with connect(catalog, lake, read_only=True) as connection:
        connection.execute("set enable_external_file_cache = false")
        connection.execute("set prefetch_all_parquet_files = true")
        connection.execute("set profiling_mode = 'detailed'")
        connection.execute("pragma enable_profiling = 'json'")
        connection.execute(f"pragma profiling_output = '{report}'")
        connection.sql(sql).fetchall()
        connection.execute("pragma disable_profiling")
    return json.loads(report.read_text())["total_bytes_read"]


def test_the_bill_covers_what_the_query_reads_and_is_close_when_it_prunes(lakehouse):
    lake, catalog, report = lakehouse
    assert len(QUERIES) >= 20
    misses = []
    for sql, prunable in QUERIES:
        with connect(catalog, lake, read_only=True) as connection:
            billed = bill(connection, sql)
        actual = bytes_read(lake, catalog, sql, report)
        assert actual > 0, sql
        if billed.bytes < actual or (prunable and billed.bytes > 1.5 * actual):
            misses.append((sql, billed.bytes, actual))
    assert misses == []


def test_a_date_filter_bills_only_its_dates(lakehouse):
    lake, catalog, _ = lakehouse
    with connect(catalog, lake, read_only=True) as connection:
        day = bill(connection, "select * from events where event_date = date '2025-01-05'")
        everything = bill(connection, "select * from events")
    assert day.partitions == ["2025-01-05"]
    assert everything.partitions == [str(START + dt.timedelta(days=k)) for k in range(DAYS)]
    assert day.files_total == everything.files_total == everything.files
    assert day.files < everything.files
    assert day.bytes <= 2 / DAYS * everything.bytes
    assert set(day.tables) == {"fct_events"}


def test_a_filter_the_statistics_cannot_decide_is_named_and_prunes_nothing(lakehouse):
    lake, catalog, _ = lakehouse
    with connect(catalog, lake, read_only=True) as connection:
        billed = bill(
            connection,
            "select count(*) from events where event_date = date '2025-01-05'"
            " and coalesce(coupon_code, 'none') = 'WELCOME10'",
        )
    facts = billed.tables["fct_events"]
    assert facts.partitions == {"2025-01-05"}
    assert facts.files == 1
    assert [text for text in facts.unpruned if "coupon_code" in text] != []


def eventlake_sql(lakehouse, *args: str, env: dict[str, str] | None = None):
    lake, catalog, _ = lakehouse
    return subprocess.run(
        [sys.executable, "-m", "eventlake.cli", "sql", *args],
        cwd=lake.parent,
        env=dict(
            os.environ, EVENTLAKE_LAKE_DIR=str(lake), EVENTLAKE_CATALOG=catalog, **(env or {})
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )


# error() fails the query if it ever runs; planning it (the bill) evaluates nothing.
NEVER_RUN = "select error('the query ran') from events"
ONE_DAY = f" where event_date = date '{START}'"


@pytest.mark.parametrize(
    ("sql", "args", "env", "message"),
    [
        (NEVER_RUN, (), {}, "fct_events must be filtered on event_date"),
        (
            NEVER_RUN + " where event_date = (select max(event_date) from fct_events)",
            (),
            {},
            "fct_events must be filtered on event_date",
        ),
        (
            "select error('the query ran') from fct_training_events",
            (),
            {},
            "fct_training_events must be filtered on event_date",
        ),
        (NEVER_RUN + ONE_DAY, ("--max-bytes", "1kB"), {}, "over the budget of 1,000 bytes"),
        (NEVER_RUN + ONE_DAY, (), {"EVENTLAKE_MAX_QUERY_BYTES": "1000"}, "over the budget"),
    ],
    ids=["no-date-filter", "date-hidden-in-a-subquery", "training-files", "flag", "environment"],
)
def test_a_refused_query_says_why_exits_2_and_runs_nothing(lakehouse, sql, args, env, message):
    done = eventlake_sql(lakehouse, "-c", sql, *args, env=env)

    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "the query ran" not in done.stderr and done.stdout == ""
    assert "would read" in done.stderr  # the bill, beside the reason


def test_allow_full_scan_runs_what_would_be_refused(lakehouse):
    lake, catalog, _ = lakehouse
    sql = "select count(*) as events from events"
    refused = eventlake_sql(lakehouse, "-c", sql, "--max-bytes", "1kB")
    allowed = eventlake_sql(lakehouse, "-c", sql, "--max-bytes", "1kB", "--allow-full-scan")

    assert refused.returncode == 2
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.splitlines()[2].strip() == str(DAYS * 16_384)


def test_bill_prints_the_bill_as_json_or_a_summary_and_runs_nothing(lakehouse):
    week = NEVER_RUN + f" where event_date between date '{START}' and date '{START}' + 6"
    done = eventlake_sql(lakehouse, "--bill", "-c", week)

    assert done.returncode == 0, done.stderr
    billed = json.loads(done.stdout)
    assert billed["partitions"] == [str(START + dt.timedelta(days=k)) for k in range(7)]
    assert 0 < billed["bytes"] < billed["bytes_total"]
    assert billed["files"] == 7 < billed["files_total"]
    assert set(billed["tables"]) == {"fct_events"}
    assert billed["refusals"] == []

    table = eventlake_sql(lakehouse, "--bill", "--format", "table", "-c", NEVER_RUN)
    assert table.returncode == 2
    assert table.stdout.startswith("would read ")
    assert "refused: fct_events must be filtered on event_date" in table.stdout
