"""The command line end to end: broker, generator, loader and summary, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from eventlake.lake.lakehouse import install_extensions
from eventlake.lake.storage import lake_storage
from tests.conftest import free_port
from tests.dbt_support import dbt, file_identities, query

pytestmark = pytest.mark.broker


def eventlake(cwd: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "eventlake.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_generated_traffic_lands_per_day_type_and_country_as_the_ground_truth_says(
    tmp_path, lake_dir
):
    lake, catalog = lake_dir, f"sqlite:{tmp_path / 'lakehouse.sqlite'}"
    storage = lake_storage(lake)
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        EVENTLAKE_LAKE_DIR=str(lake),
        EVENTLAKE_CATALOG=catalog,
    )
    assert eventlake(tmp_path, env, "broker", "status").strip() == "stopped"
    eventlake(tmp_path, env, "broker", "start", "--partitions", "3")
    try:
        assert "running" in eventlake(tmp_path, env, "broker", "status")
        eventlake(
            tmp_path, env, "generate", "--events", "30000", "--days", "5", "--seed", "3",
            "--late-fraction", "0.05", "--truth", "truth.json",
        )  # fmt: skip
        eventlake(tmp_path, env, "load", "--once")
        summary = eventlake(tmp_path, env, "summary")
    finally:
        eventlake(tmp_path, env, "broker", "stop")
    assert eventlake(tmp_path, env, "broker", "status").strip() == "stopped"

    truth = json.loads((tmp_path / "truth.json").read_text())
    lines = dict(line.strip().split(": ", 1) for line in summary.strip().splitlines())
    assert int(lines["rows landed"]) == truth["events"] + truth["duplicates"]
    assert int(lines["DLQ (quarantined)"]) == truth["malformed"]
    assert int(lines["event-date partitions"]) == len(truth["by_day"])
    assert lines["lakehouse"] == f"no catalog at {catalog} yet (dbt build creates it)"
    reader = duckdb.connect()
    install_extensions(reader)
    storage.configure(reader)
    landed = reader.sql(
        f"""
        select strftime(event_date, '%Y-%m-%d') || '|' || event_type || '|' || country as cell,
            count(distinct event_id) as events
        from read_parquet('{storage.uri("raw/events")}/*/*.parquet', hive_partitioning = true)
        group by all
        """
    ).fetchall()
    assert dict(landed) == truth["by_day_type_country"]

    # dbt builds the lakehouse over the lake the loader wrote: the facts and the daily rollup
    # hold every event once, per day, type and country as generated (retries deduplicated,
    # late events merged).
    dbt(lake, catalog, "build")
    cell = "strftime(event_date, '%Y-%m-%d') || '|' || event_type || '|' || country_code"
    facts = query(lake, catalog, f"select {cell}, count(*) from events group by all")
    assert dict(facts) == truth["by_day_type_country"]
    rolled_up = query(
        lake, catalog, f"select {cell}, sum(events) from agg_events_daily group by all"
    )
    assert dict(rolled_up) == truth["by_day_type_country"]

    # The summary reads the published build too.
    published = dict(
        line.strip().split(": ", 1)
        for line in eventlake(tmp_path, env, "summary").strip().splitlines()
    )
    assert int(published["published events"]) == truth["events"]
    assert int(published["published event dates"]) == len(truth["by_day"])
    assert published["published build"].startswith("snapshot ")

    # A second build with nothing new changes nothing: no file of the facts or of an incremental
    # model, no rollup, no mart (seeds and table models are rewritten whole, as dbt does).
    incremental = ("fct_events", "fct_events_quarantine", "agg_events_daily", "agg_events_hourly",
                   "agg_funnel_daily", "int_users__last_seen", "fct_training_events")  # fmt: skip

    def data_files() -> dict[str, tuple[int, int]]:
        files = file_identities(storage.uri("curated"))
        return {path: at for path, at in files.items() if path.split("/")[1] in incremental}

    curated = data_files()
    assert {path.split("/")[1] for path in curated} >= {"fct_events", "agg_events_daily"}
    models = (*incremental, "dim_user_features", "agg_fraud_user_velocity")
    tables = {model: query(lake, catalog, f"from {model} order by all") for model in models}
    dbt(lake, catalog, "build")
    assert data_files() == curated
    for model, rows in tables.items():
        assert query(lake, catalog, f"from {model} order by all") == rows, model
