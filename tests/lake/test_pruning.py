"""The bill follows the question: on a year of facts in the lakehouse, a last-7-days query on
`events` opens only those 7 dates' files (DuckLake prunes by the partition values and column
statistics in its catalog) and reads a sliver of the bytes, and a country filter skips the
sorted data it does not need."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from eventlake.lake.bill import bill
from eventlake.lake.lakehouse import connect
from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.lake_writer import write_raw_lake
from tests.dbt_support import dbt

pytestmark = pytest.mark.slow
DAYS = 365


@dataclass(frozen=True)
class Scan:
    """What one query read, from DuckDB's JSON profile."""

    files_read: int
    """Data files its table scans opened."""
    some_files: list[str]
    """Some of them, by name (the profile lists the first few of each scan)."""
    bytes_read: int
    """Bytes read from storage."""


def scan(connection: duckdb.DuckDBPyConnection, sql: str, report: Path) -> Scan:
    connection.execute("pragma enable_profiling = 'json'")
    connection.execute(f"pragma profiling_output = '{report}'")
    try:
        connection.sql(sql).fetchall()
    finally:
        connection.execute("pragma disable_profiling")
    profile = json.loads(report.read_text())
    files_read, names, pending = 0, [], [profile]
    while pending:
        operator = pending.pop()
        pending.extend(operator.get("children", []))
        if operator.get("operator_type") == "TABLE_SCAN":
            files_read += int(operator["extra_info"].get("Total Files Read", 0))
            listed = operator["extra_info"].get("Filename(s)", "").split(", ")
            names.extend(name for name in listed if name.endswith(".parquet"))
    return Scan(files_read, sorted(names), bytes_read=profile["total_bytes_read"])


def folder_of(path: str) -> str:
    return Path(path).parent.name


@pytest.fixture(scope="module")
def year_of_facts(tmp_path_factory):
    work = tmp_path_factory.mktemp("year")
    lake, catalog = work / "lake", f"sqlite:{work / 'lakehouse.sqlite'}"
    config = GeneratorConfig(
        events=DAYS * 4_096, days=DAYS, start_date=dt.date(2025, 1, 1), late_fraction=0.0
    )
    write_raw_lake(config, lake)
    # Small row groups, so that a day's data holds several of them.
    with connect(catalog, lake) as connection:
        connection.execute("call lakehouse.set_option('parquet_row_group_size', 512)")
    dbt(lake, catalog, "build", "--select", "+events", "--indirect-selection", "cautious")
    with connect(catalog, lake, read_only=True) as connection:
        yield connection, lake / "curated" / "build" / "fct_events", work / "profile.json"


def test_a_last_seven_days_query_reads_at_most_one_and_a_half_percent_of_the_lake(year_of_facts):
    connection, folder, report = year_of_facts
    every_file = sorted(str(path) for path in folder.rglob("*.parquet"))
    lake_bytes = sum(Path(path).stat().st_size for path in every_file)
    last_week = {f"event_date={dt.date(2025, 12, 25) + dt.timedelta(days=k)}" for k in range(7)}
    query = """
        select country_code, event_type, count(*), sum(price)
        from events
        where event_date >= date '2025-12-25'
        group by all
    """

    read = scan(connection, query, report)

    assert {folder_of(path) for path in every_file} >= last_week
    assert read.files_read == len([path for path in every_file if folder_of(path) in last_week])
    assert read.some_files and {folder_of(path) for path in read.some_files} <= last_week
    assert read.bytes_read <= 0.015 * lake_bytes, (read.bytes_read, lake_bytes)
    everything = scan(
        connection,
        "select country_code, event_type, count(*), sum(price) from events group by all",
        report,
    )
    assert everything.files_read == len(every_file)
    assert everything.bytes_read > 20 * read.bytes_read


def test_a_country_filter_skips_the_other_countries_of_the_sorted_day(year_of_facts):
    connection, _, report = year_of_facts
    one_day = "from events where event_date = date '2025-06-01'"
    everyone = scan(connection, f"select count(*), sum(price) {one_day}", report)
    one_country = scan(
        connection, f"select count(*), sum(price) {one_day} and country_code = 'PL'", report
    )
    assert one_country.bytes_read <= everyone.bytes_read // 2, (one_country, everyone)
    assert one_country.files_read <= everyone.files_read
    counted = connection.sql(f"select count(*) {one_day} and country_code = 'PL'").fetchall()
    assert counted[0][0] > 0


def test_a_one_day_bill_is_at_most_two_days_worth_of_the_full_scan_bill(year_of_facts):
    connection, _, _ = year_of_facts
    columns = "select country_code, event_type, count(*), sum(price) from events"
    one_day = bill(connection, f"{columns} where event_date = date '2025-06-01' group by all")
    full_scan = bill(connection, f"{columns} group by all")

    assert one_day.partitions == ["2025-06-01"]
    assert len(full_scan.partitions) == DAYS
    assert one_day.bytes <= 2 / DAYS * full_scan.bytes, (one_day.bytes, full_scan.bytes)
