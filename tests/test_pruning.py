"""The bill follows the question: on a year of facts in the lake, a last-7-days query opens
7 of 365 partitions and reads a sliver of the bytes, and a country filter skips row groups."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from eventlake.generator import GeneratorConfig
from eventlake.profiling import profile
from eventlake.rawlake import write_raw_lake
from tests.dbt_support import dbt

pytestmark = pytest.mark.slow
DAYS = 365


@pytest.fixture(scope="module")
def year_of_facts(tmp_path_factory):
    work = tmp_path_factory.mktemp("year")
    lake, warehouse = work / "lake", work / "warehouse.duckdb"
    config = GeneratorConfig(
        events=DAYS * 16_384, days=DAYS, start_date=dt.date(2025, 1, 1), late_fraction=0.0
    )
    write_raw_lake(config, lake)
    # Small row groups so that one day's partition holds several of them.
    dbt(lake, warehouse, "build", "--select", "+fct_events", "--indirect-selection", "cautious",
        "--vars", "{lake_row_group_size: 2048}")  # fmt: skip
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        connection.execute("set parquet_metadata_cache = true")
        yield connection, lake / "curated" / "fct_events"


def test_a_last_seven_days_query_reads_at_most_one_and_a_half_percent_of_the_lake(year_of_facts):
    connection, folder = year_of_facts
    lake_bytes = sum(path.stat().st_size for path in folder.rglob("*.parquet"))
    last_week = """
        select country_code, event_type, count(*), sum(price)
        from fct_events
        where event_date >= date '2025-12-25'
        group by all
    """
    profile(connection, last_week)  # the first query of a session reads every footer once
    scan = profile(connection, last_week)
    assert (scan.files_read, scan.files_total) == (7, DAYS)
    assert scan.bytes_read <= 0.015 * lake_bytes, (scan.bytes_read, lake_bytes)
    full = profile(connection, "select country_code, event_type, count(*), sum(price) "
                   "from fct_events group by all")  # fmt: skip
    assert full.files_read == DAYS
    assert full.bytes_read > 20 * scan.bytes_read


def test_a_country_filter_skips_row_groups_of_the_sorted_partition(year_of_facts):
    connection, _ = year_of_facts
    one_day = "from fct_events where event_date = date '2025-06-01'"
    everyone = profile(connection, f"select count(*), sum(price) {one_day}")
    one_country = profile(
        connection, f"select count(*), sum(price) {one_day} and country_code = 'PL'"
    )
    assert everyone.row_groups_total >= 8
    assert one_country.row_groups_scanned <= everyone.row_groups_total // 2
    counted = connection.sql(f"select count(*) {one_day} and country_code = 'PL'").fetchall()
    assert counted[0][0] > 0
