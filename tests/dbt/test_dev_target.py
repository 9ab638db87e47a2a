"""An analyst's dbt `dev` target: a mart and its parents build into the personal schema
dbt_<user> of the same lakehouse, from the production sources (the raw lake), while the
production build's published views stay as they are; the next production build still merges
everything that arrived, whatever the dev build consumed (watermarks are per schema)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.lake_writer import write_raw_lake
from tests.dbt_support import dbt, query

pytestmark = [pytest.mark.slow]

START = dt.date(2026, 1, 10)
MART = "agg_funnel_daily"
FUNNEL = f"select event_date, sum(viewers), sum(purchasers) from {{}}.{MART} group by 1 order by 1"
PUBLISHED = (
    "select view_name, sql from duckdb_views()"
    " where database_name = 'lakehouse' and schema_name = 'main' order by 1"
)


def schema_tables(lake: Path, catalog: str, schema: str) -> set[str]:
    rows = query(
        lake,
        catalog,
        f"select table_name from information_schema.tables where table_schema = '{schema}'",
    )
    return {name for (name,) in rows}


def test_a_dev_build_lands_in_its_own_schema_and_leaves_production_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, catalog = tmp_path / "lake", f"sqlite:{tmp_path / 'lakehouse.sqlite'}"
    write_raw_lake(GeneratorConfig(events=3_000, days=3, start_date=START), lake)
    dbt(lake, catalog, "build")
    published = query(lake, catalog, PUBLISHED)
    funnel = query(lake, catalog, FUNNEL.format("main"))
    # A fourth day arrives, and a production run stops once it has recorded the new files
    # (here: it runs the arrivals' manifest alone). The analyst builds before the next one.
    fourth = GeneratorConfig(events=1_000, days=1, start_date=START + dt.timedelta(3))
    write_raw_lake(fourth, lake, append=True)
    dbt(lake, catalog, "run", "--select", "int_event_files__arrived")

    monkeypatch.setenv("USER", "analyst")
    output = dbt(
        lake, catalog, "build", "--target", "dev", "--select", f"+{MART}",
        "--indirect-selection", "cautious",
    )  # fmt: skip

    built = set(re.findall(r"OK created sql \w+ model dbt_analyst\.(\w+)", output))
    assert {MART, "fct_events", "int_event_files__arrived"} <= built
    assert {MART, "fct_events"} <= schema_tables(lake, catalog, "dbt_analyst")
    dev_days = query(lake, catalog, "select count(distinct event_date) from dbt_analyst.fct_events")
    assert dev_days == [(4,)]
    assert len(query(lake, catalog, FUNNEL.format("dbt_analyst"))) == 4
    # Production: the published views, what they answer and the build's tables are unchanged.
    assert query(lake, catalog, PUBLISHED) == published
    assert query(lake, catalog, FUNNEL.format("main")) == funnel
    assert query(lake, catalog, FUNNEL.format("build")) == funnel

    # The next production build merges the fourth day as if no dev build had run: the dev
    # build's watermarks are its own.
    dbt(lake, catalog, "build")
    assert len(query(lake, catalog, FUNNEL.format("main"))) == 4
    assert query(lake, catalog, FUNNEL.format("main")) == query(
        lake, catalog, FUNNEL.format("dbt_analyst")
    )
    assert query(lake, catalog, "select count(*) from events") == query(
        lake, catalog, "select count(*) from dbt_analyst.fct_events"
    )
