"""Compaction and retention against the dbt layer, through the CLI: merging the raw lake's small
files changes no fact, and retention expires old dates from every store, for good."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eventlake.generator import GeneratorConfig
from eventlake.rawlake import write_raw_lake
from tests.dbt_support import REPO, dbt, query

pytestmark = pytest.mark.slow
START = dt.date(2026, 1, 1)


def eventlake(lake: Path, warehouse: Path, *args: str) -> str:
    env = dict(os.environ, EVENTLAKE_LAKE_DIR=str(lake), EVENTLAKE_WAREHOUSE=str(warehouse))
    done = subprocess.run(
        [sys.executable, "-m", "eventlake.cli", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def per_date(warehouse: Path, model: str) -> list[tuple]:
    return query(warehouse, f"select event_date, count(*) from {model} group by 1 order by 1")


def test_compacting_the_raw_lake_changes_no_fact(tmp_path):
    lake, warehouse = tmp_path / "lake", tmp_path / "warehouse.duckdb"
    config = GeneratorConfig(events=300_000, days=3, start_date=START, late_fraction=0.05)
    write_raw_lake(config, lake, batch_events=20_000)
    raw = lake / "raw" / "events"
    files_before = len(list(raw.rglob("*.parquet")))
    # One file per Kafka partition and date once merged (the files are small).
    runs = {(path.parent.name, path.name.split("+")[1]) for path in raw.rglob("*.parquet")}
    assert files_before > 2 * len(runs)
    dbt(lake, warehouse, "build")
    facts = per_date(warehouse, "fct_events")

    eventlake(lake, warehouse, "compact")  # a dry run: nothing moves
    assert len(list(raw.rglob("*.parquet"))) == files_before
    eventlake(lake, warehouse, "compact", "--apply")
    assert len(list(raw.rglob("*.parquet"))) == len(runs)

    dbt(lake, warehouse, "build")
    assert per_date(warehouse, "fct_events") == facts
    assert query(warehouse, "select count(*) from fct_events_quarantine") == [(0,)]
    assert sum(count for _, count in facts) == config.events


def test_retention_expires_old_dates_from_every_store_and_they_stay_gone(tmp_path):
    lake, warehouse = tmp_path / "lake", tmp_path / "warehouse.duckdb"
    write_raw_lake(GeneratorConfig(events=30_000, days=10, start_date=START, late_fraction=0), lake)
    dbt(lake, warehouse, "build")
    cutoff = dt.date(2026, 1, 7)
    today = ["--today", "2026-01-12", "--keep-days", "5"]

    eventlake(lake, warehouse, "retention", *today)  # a dry run
    assert query(warehouse, "select min(event_date) from fct_events") == [(START,)]

    eventlake(lake, warehouse, "retention", *today, "--apply")
    for area in ("raw/events", "curated/fct_events", "curated/training_events"):
        dates = sorted(path.name for path in (lake / area).glob("event_date=*"))
        assert dates[0] == f"event_date={cutoff}", area
    for model in ("fct_events", "events", "fct_events_recent", "fct_events__partitions"):
        assert query(warehouse, f"select min(event_date) from {model}") == [(cutoff,)], model

    # The next build neither fails on the missing files nor brings the dates back.
    dbt(lake, warehouse, "build")
    for model in ("fct_events", "events", "fct_events_recent", "int_event_files__arrived"):
        assert query(warehouse, f"select min(event_date) from {model}") == [(cutoff,)], model
