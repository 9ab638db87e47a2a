"""The DuckLake lakehouse dbt builds into: write-audit-publish (readers see a build only once its
tests passed, facts and rollups together), additive schema evolution without rewriting a file,
and intraday appends that leave the day's earlier files alone and drop producer retries. The
publish test runs with both catalogs, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from eventlake.lake.bill import bill
from eventlake.lake.lakehouse import connect
from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.lake_writer import write_raw_lake
from tests.dbt_support import dbt, file_identities, query

pytestmark = [pytest.mark.slow]

START = dt.date(2026, 1, 10)
FACTS = (
    "select event_date, count(*), sum(case when event_type = 'purchase' then price else 0 end)"
    " from events group by all order by all"
)
ROLLUPS = (
    "select event_date, sum(events), sum(revenue) from agg_events_daily group by all order by all"
)


@pytest.fixture(params=["sqlite", "postgres"])
def catalog(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'lakehouse.sqlite'}"
    return request.getfixturevalue("postgres_catalog")


def generated(lake: Path, days: int = 3, **options: object) -> None:
    config = GeneratorConfig(
        events=2_000 * days, days=days, start_date=START, late_fraction=0, **options
    )
    write_raw_lake(config, lake)


def raw_day(lake: Path, day: dt.date) -> Path:
    return lake / "raw" / "events" / f"event_date={day}"


def land_raw_file(lake: Path, day: dt.date, rows: pa.Table, number: int) -> None:
    """A raw file in the day's folder, named as the loader names them (a partition of its own)."""
    first = 10**9 + number * 10**6
    name = f"events+{90 + number:05d}+{first:020d}+{first + rows.num_rows - 1:020d}.parquet"
    pq.write_table(rows, raw_day(lake, day) / name)


def raw_rows(lake: Path, day: dt.date) -> pa.Table:
    """The rows of the day's first raw file."""
    return pq.read_table(sorted(raw_day(lake, day).glob("*.parquet"))[0])


def published_versions(lake: Path, catalog: str) -> dict[str, int]:
    """View of `main` -> the snapshot it is pinned to (the views over views pin nothing)."""
    views = query(
        lake,
        catalog,
        "select view_name, sql from duckdb_views()"
        " where database_name = 'lakehouse' and schema_name = 'main'",
    )
    pinned = {name: re.search(r"VERSION => (\d+)", sql) for name, sql in views}
    return {name: int(found.group(1)) for name, found in pinned.items() if found}


def day_bill(lake: Path, catalog: str, sql: str) -> tuple[int, list[str]]:
    with connect(catalog, lake, read_only=True) as connection:
        billed = bill(connection, sql)
    return billed.files, billed.partitions


def test_a_build_whose_tests_fail_publishes_nothing_and_the_next_publishes_all(
    tmp_path: Path, catalog: str
) -> None:
    lake = tmp_path / "lake"
    generated(lake)
    dbt(lake, catalog, "build")
    pinned = published_versions(lake, catalog)
    assert {"fct_events", "agg_events_daily", "dim_user_features"} <= set(pinned)
    assert len(set(pinned.values())) == 1, pinned
    facts, rollups = query(lake, catalog, FACTS), query(lake, catalog, ROLLUPS)
    assert [row[1:] for row in facts] == [row[1:] for row in rollups]

    # A new day, one of whose events has no user: not_null on fct_events.user_id fails.
    day = START + dt.timedelta(days=3)
    config = GeneratorConfig(events=2_000, days=1, start_date=day, seed=7, late_fraction=0)
    write_raw_lake(config, lake, append=True)
    broken = raw_rows(lake, day).slice(0, 1)
    broken = broken.set_column(
        broken.schema.get_field_index("event_id"), "event_id", pa.array(["evt-no-user"])
    )
    broken = broken.set_column(
        broken.schema.get_field_index("user_id"), "user_id", pa.array([None], pa.string())
    )
    land_raw_file(lake, day, broken, 1)
    output = dbt(lake, catalog, "build", check=False)
    assert "not_null_fct_events_user_id" in output and "not published" in output, output[-3000:]

    # Readers see the previous build, facts and rollups alike; the build holds the new rows.
    # The query bill, read from the catalog, bills what readers see: not the new day.
    new_day = f"select * from events where event_date = date '{day}'"
    assert published_versions(lake, catalog) == pinned
    assert day_bill(lake, catalog, new_day) == (0, [])
    assert query(lake, catalog, FACTS) == facts
    assert query(lake, catalog, ROLLUPS) == rollups
    built = query(lake, catalog, "select count(*) from build.fct_events")[0][0]
    assert built == sum(row[1] for row in facts) + 2_001

    # The bad row is repaired in the build; the next build publishes facts and rollups at once.
    with connect(catalog, lake) as connection:
        connection.execute("delete from build.fct_events where user_id is null")
    dbt(lake, catalog, "build")
    republished = published_versions(lake, catalog)
    assert republished.keys() == pinned.keys()
    assert len(set(republished.values())) == 1
    assert min(republished.values()) > min(pinned.values())
    facts, rollups = query(lake, catalog, FACTS), query(lake, catalog, ROLLUPS)
    assert facts[-1][0] == day and facts[-1][1] == 2_000
    files, partitions = day_bill(lake, catalog, new_day)
    assert files >= 1 and partitions == [str(day)]
    assert [row[1:] for row in facts] == [row[1:] for row in rollups]


def test_a_new_contract_field_is_added_as_a_column_without_rewriting_a_file(
    tmp_path: Path,
) -> None:
    lake, catalog = tmp_path / "lake", f"sqlite:{tmp_path / 'lakehouse.sqlite'}"
    generated(lake)
    # Files of the version-1 contract, as the loader wrote them before it had the new fields
    # (the generator writes every field of the newest contract).
    for path in (lake / "raw" / "events").rglob("*.parquet"):
        pq.write_table(pq.read_table(path).drop_columns(["coupon_code", "referrer"]), path)
    dbt(lake, catalog, "build")
    curated = lake / "curated" / "build" / "fct_events"
    history = file_identities(curated)
    snapshot = query(lake, catalog, "select max(snapshot_id) from lakehouse.snapshots()")[0][0]
    columns = {row[0] for row in query(lake, catalog, "describe build.fct_events")}
    assert "coupon_code" not in columns
    answer = "select event_type, count(*), sum(price) from events group by all order by all"
    before = query(lake, catalog, answer)

    # A day of version-2 events (generate-lake --schema-version 2): coupon_code and referrer.
    day = START + dt.timedelta(days=3)
    config = GeneratorConfig(
        events=2_000, days=1, start_date=day, seed=7, late_fraction=0, schema_version=2
    )
    write_raw_lake(config, lake, append=True)
    dbt(lake, catalog, "build")

    for relation in ("build.fct_events", "fct_events", "events"):
        columns = {row[0] for row in query(lake, catalog, f"describe {relation}")}
        assert {"coupon_code", "referrer"} <= columns, relation
    # ALTER TABLE … ADD COLUMN: fct_events altered, not created again; no file rewritten.
    changes = query(
        lake,
        catalog,
        f"select changes from lakehouse.snapshots() where snapshot_id > {snapshot}",
    )
    created = [name for (change,) in changes for name in change.get("tables_created", [])]
    assert "build.fct_events" not in created
    assert any("tables_altered" in change for (change,) in changes)
    after = file_identities(curated)
    assert {name: after[name] for name in history} == history
    # Old rows read NULL; the new day carries the field; a query not naming it is unchanged.
    by_day = query(
        lake,
        catalog,
        f"select event_date = date '{day}', count(coupon_code) > 0, count(referrer) > 0"
        " from events group by all order by all",
    )
    assert by_day == [(False, False, False), (True, True, True)]
    old_days = query(
        lake, catalog, answer.replace("group by", f"where event_date < '{day}' group by")
    )
    assert old_days == before


def test_a_second_build_of_the_day_appends_and_drops_the_retries(tmp_path: Path) -> None:
    lake, catalog = tmp_path / "lake", f"sqlite:{tmp_path / 'lakehouse.sqlite'}"
    generated(lake, days=2)
    dbt(lake, catalog, "build")
    day = START + dt.timedelta(days=1)
    folder = lake / "curated" / "build" / "fct_events" / f"event_date={day}"
    morning = file_identities(folder)
    counted = "select count(*), count(distinct event_id) from events where event_date = '{}'"
    ((before, _),) = query(lake, catalog, counted.format(day))

    # Later the same day: 300 new events, and 200 producer retries of events merged already
    # (same event_id and event_time, landing in a later raw file).
    rows = raw_rows(lake, day)
    new = rows.slice(0, 300)
    new = new.set_column(
        new.schema.get_field_index("event_id"),
        "event_id",
        pc.binary_join_element_wise("later-", new["event_id"], ""),
    )
    land_raw_file(lake, day, new, 1)
    land_raw_file(lake, day, rows.slice(300, 200), 2)
    dbt(lake, catalog, "build")

    afternoon = file_identities(folder)
    assert {name: afternoon[name] for name in morning} == morning
    assert len(afternoon) > len(morning)
    assert query(lake, catalog, counted.format(day)) == [(before + 300, before + 300)]
    # The rollup of the day follows the appended events.
    assert query(
        lake, catalog, f"select sum(events) from agg_events_daily where event_date = '{day}'"
    ) == [(before + 300,)]
