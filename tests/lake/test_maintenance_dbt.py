"""Compaction and retention against the dbt layer, through the CLI: merging the raw lake's and the
lakehouse's small files changes no answer, and retention expires old dates from every table and
published view, for good, while rollups keep their longer window."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.lake_writer import write_raw_lake
from tests.dbt_support import REPO, dbt, dbt_target, query

pytestmark = pytest.mark.slow
START = dt.date(2026, 1, 1)
# Run now, every released file goes (no reader is running): what a test can observe at once.
NO_GRACE = {"EVENTLAKE_FILE_CLEANUP_GRACE_HOURS": "0"}


def eventlake(lake: Path, catalog: str, *args: str, **env: str) -> str:
    env = dict(
        os.environ,
        EVENTLAKE_LAKE_DIR=str(lake),
        EVENTLAKE_CATALOG=catalog,
        DBT_TARGET_PATH=dbt_target(lake.parent),
        DBT_LOG_PATH=str(lake.parent / "logs"),
        **env,
    )
    done = subprocess.run(
        [sys.executable, "-m", "eventlake.cli", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def per_date(lake: Path, catalog: str, model: str) -> list[tuple]:
    return query(lake, catalog, f"select event_date, count(*) from {model} group by 1 order by 1")


def build_in_arrivals(lake: Path, catalog: str, arrivals: int) -> None:
    """One build per share of the raw files (by Kafka partition), as if they arrived between
    builds: each build appends a file to every date of fct_events."""
    raw = lake / "raw" / "events"
    held = lake.parent / "held"
    files = sorted(raw.rglob("*.parquet"))
    for path in files:
        if int(path.name.split("+")[1]) % arrivals:
            (held / path.relative_to(raw)).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, held / path.relative_to(raw))
    for share in range(arrivals):
        for path in held.rglob("*.parquet"):
            if int(path.name.split("+")[1]) % arrivals == share:
                shutil.move(path, raw / path.relative_to(held))
        dbt(lake, catalog, "build")


def answers(lake: Path, catalog: str) -> dict[str, list[tuple]]:
    """What readers see: the published facts, rollups and training export."""
    return {
        model: per_date(lake, catalog, model)
        for model in ("events", "fct_events", "build.fct_events", "fct_training_events")
    } | {
        "agg_events_daily": query(
            lake,
            catalog,
            "select event_date, sum(events), sum(distinct_users), sum(revenue) "
            "from agg_events_daily group by 1 order by 1",
        )
    }


def test_compacting_the_raw_lake_and_the_lakehouse_changes_no_answer(tmp_path):
    lake, catalog = tmp_path / "lake", f"sqlite:{tmp_path / 'lakehouse.sqlite'}"
    config = GeneratorConfig(events=120_000, days=3, start_date=START, late_fraction=0.05)
    write_raw_lake(config, lake, batch_events=10_000)
    raw = lake / "raw" / "events"
    files_before = len(list(raw.rglob("*.parquet")))
    # One file per Kafka partition and date once merged (the files are small).
    runs = {(path.parent.name, path.name.split("+")[1]) for path in raw.rglob("*.parquet")}
    assert files_before > 2 * len(runs)
    build_in_arrivals(lake, catalog, 2)
    facts = lake / "curated" / "build" / "fct_events"
    fact_files = len(list(facts.rglob("*.parquet")))
    assert fact_files == 2 * config.days
    before = answers(lake, catalog)

    dry = eventlake(lake, catalog, "compact")  # a dry run: nothing moves
    assert "merging with --apply" in dry
    assert len(list(raw.rglob("*.parquet"))) == files_before
    assert len(list(facts.rglob("*.parquet"))) == fact_files

    applied = eventlake(lake, catalog, "compact", "--apply", **NO_GRACE)
    assert len(list(raw.rglob("*.parquet"))) == len(runs)
    assert len(list(facts.rglob("*.parquet"))) == config.days  # one file a date
    assert "lakehouse: merged" in applied
    assert answers(lake, catalog) == before

    dbt(lake, catalog, "build")  # the merged raw files are not new events
    assert answers(lake, catalog) == before
    assert query(lake, catalog, "select count(*) from fct_events_quarantine") == [(0,)]
    assert sum(count for _, count in before["events"]) == config.events


def test_retention_expires_old_dates_from_every_table_and_file_and_they_stay_gone(tmp_path):
    lake, catalog = tmp_path / "lake", f"sqlite:{tmp_path / 'lakehouse.sqlite'}"
    write_raw_lake(GeneratorConfig(events=30_000, days=10, start_date=START, late_fraction=0), lake)
    dbt(lake, catalog, "build")
    cutoff = dt.date(2026, 1, 7)
    expired = [START + dt.timedelta(days=n) for n in range((cutoff - START).days)]
    today = ["--today", "2026-01-12", "--keep-days", "5"]
    models = (
        "build.fct_events",
        "fct_events",
        "events",
        "build.fct_training_events",
        "fct_training_events",
        "int_event_files__arrived",
    )

    eventlake(lake, catalog, "retention", *today)  # a dry run
    assert query(lake, catalog, "select min(event_date) from events") == [(START,)]

    eventlake(
        lake, catalog, "retention", *today, "--apply",
        EVENTLAKE_SNAPSHOT_RETENTION_DAYS="0", **NO_GRACE,
    )  # fmt: skip
    dates = sorted(path.name for path in (lake / "raw" / "events").glob("event_date=*"))
    assert dates[0] == f"event_date={cutoff}"
    for model in models:
        assert query(lake, catalog, f"select min(event_date) from {model}") == [(cutoff,)], model
    for rollup in ("agg_events_daily", "build.agg_events_daily"):  # 1825 days
        assert query(lake, catalog, f"select min(event_date) from {rollup}") == [(START,)]
    left = [
        path
        for path in (lake / "curated").rglob("*.parquet")
        if any(f"event_date={day}" in str(path) for day in expired)
    ]
    assert left == []  # no snapshot holds them: their files are gone from disk

    # The next build neither fails on the missing files nor brings the dates back, and the
    # rollups keep the dates whose facts expired.
    dbt(lake, catalog, "build")
    for model in models:
        assert query(lake, catalog, f"select min(event_date) from {model}") == [(cutoff,)], model
    assert query(lake, catalog, "select min(event_date) from agg_events_daily") == [(START,)]
