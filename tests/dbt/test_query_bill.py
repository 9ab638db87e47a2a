"""Every build records what each model read (control.query_bill, rpt_query_bill_daily), and an
incremental model that reads partitions older than its declared window fails the build, naming
the model and the bytes, before anything is published."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from eventlake.dbt.runner import PRODUCTION_BUILD, run_dbt
from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.lake_writer import write_raw_lake
from tests.dbt_support import copy_project, dbt, dbt_target, query

pytestmark = pytest.mark.slow
START = dt.date(2025, 3, 1)
DAYS = 10
# A model that forgot its incremental filter: each build writes the newest date's row and
# reads every partition of fct_events to count it.
RECOUNT = """
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    partition_by='event_date',
    meta={'read_window_days': 0},
) }}

select max(event_date) as event_date, count(distinct user_id) as users_to_date
from {{ ref('fct_events') }}
"""
RECOUNT_YML = """
version: 2
models:
  - name: fct_users_to_date
    description: One row per build date.
    data_tests:
      - reads_within_window
"""


def bills(lake: Path, catalog: str) -> list[tuple]:
    return query(
        lake,
        catalog,
        "select invocation_id, model_name, is_incremental, files_read, bytes_read,"
        " earliest_date_read, earliest_date_written, bytes_read_before_window"
        " from lakehouse.control.query_bill order by started_at",
    )


def add_day(lake: Path, day: int) -> dt.date:
    date = START + dt.timedelta(days=day)
    write_raw_lake(
        GeneratorConfig(events=8_000, days=1, start_date=date, late_fraction=0.0, seed=day),
        lake,
        append=True,
    )
    return date


def test_a_build_records_what_each_model_read(tmp_path):
    lake, catalog = tmp_path / "lake", f"sqlite:{tmp_path / 'lakehouse.sqlite'}"
    config = GeneratorConfig(events=DAYS * 8_000, days=DAYS, start_date=START, late_fraction=0.0)
    write_raw_lake(config, lake)
    dbt(lake, catalog, "build")
    new_day = add_day(lake, DAYS)
    dbt(lake, catalog, "build")

    rows = bills(lake, catalog)
    invocations = list(dict.fromkeys(row[0] for row in rows))
    assert len(invocations) == 2
    for invocation in invocations:
        models = [row[1] for row in rows if row[0] == invocation]
        assert len(models) == len(set(models))
        assert {"fct_events", "fct_training_events", "agg_events_daily"} <= set(models)
    full, incremental = (
        {row[1]: row for row in rows if row[0] == invocation} for invocation in invocations
    )
    assert not full["fct_events"][2] and incremental["fct_events"][2]
    # The +1 day build of the facts reads the new day only, a fraction of the first build.
    assert incremental["fct_events"][5] == incremental["fct_events"][6] == new_day
    assert incremental["fct_events"][7] == 0
    assert 0 < incremental["fct_events"][4] < full["fct_events"][4] / 4
    assert incremental["fct_training_events"][5] == new_day

    # The mart adds up the finished invocations: the first one here.
    daily = query(
        lake,
        catalog,
        "select model_name, builds, files_read, bytes_read from rpt_query_bill_daily",
    )
    assert {model: (builds, files, size) for model, builds, files, size in daily} == {
        model: (1, row[3], row[4]) for model, row in full.items()
    }


def test_an_incremental_model_reading_history_fails_the_build_naming_it(tmp_path):
    project = copy_project(tmp_path / "project")
    (project / "models/marts/core/fct_users_to_date.sql").write_text(RECOUNT)
    (project / "models/marts/core/_users_to_date__models.yml").write_text(RECOUNT_YML)
    lake, catalog = tmp_path / "lake", f"sqlite:{tmp_path / 'lakehouse.sqlite'}"
    env = {
        "EVENTLAKE_LAKE_DIR": str(lake),
        "EVENTLAKE_CATALOG": catalog,
        "DBT_TARGET_PATH": dbt_target(tmp_path),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }
    config = GeneratorConfig(events=DAYS * 8_000, days=DAYS, start_date=START, late_fraction=0.0)
    write_raw_lake(config, lake)
    first = run_dbt(*PRODUCTION_BUILD, cwd=project, env=env, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:]
    published = query(lake, catalog, "select max(event_date) from events")[0][0]

    add_day(lake, DAYS)
    second = run_dbt(*PRODUCTION_BUILD, cwd=project, env=env, timeout=600)

    assert second.returncode != 0
    beyond = [row for row in bills(lake, catalog) if row[1] == "fct_users_to_date" and row[2]]
    assert len(beyond) == 1 and beyond[0][7] > 0
    assert f"fct_users_to_date read {beyond[0][7]} bytes from partitions older" in second.stdout
    assert "fct_events read" not in second.stdout
    # Nothing of the failed build is published: readers keep the first build.
    assert query(lake, catalog, "select max(event_date) from events")[0][0] == published
