"""Parity of the two targets (issue 6): the same dbt project built on DuckDB and on Spark
(dbt-spark, method session, local pyspark) over copies of one generated lake gives the same
fct_events row counts per date, rollups, user_features and the other marts, on a full build
and after an incremental one (a new day and a replayed file of an older date).

Needs pyspark, dbt-spark (the `spark` extra) and Java. Slow (Spark starts a JVM per dbt
invocation): `make test-spark` installs the extra and runs it; `make test` leaves it out
(`-m "not spark"`); `.ci/run` runs both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.spark]

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SELECTION = [
    "+fct_events",
    "agg_events_daily",
    "agg_events_hourly",
    "agg_funnel_daily",
    "user_features",
    "int_users__last_seen",
    "fraud_user_velocity",
]
# Table -> (partitioned by event_date on Spark, columns compared rounded: DuckDB's float is
# 4 bytes, Spark's double 8).
TABLES = {
    "agg_events_daily": (True, ()),
    "agg_events_hourly": (True, ()),
    "agg_funnel_daily": (
        True,
        ("view_to_cart_rate", "cart_to_purchase_rate", "view_to_purchase_rate"),
    ),
    "user_features": (False, ()),
    "int_users__last_seen": (False, ()),
    "fraud_user_velocity": (False, ()),
}


def run(work: Path, lake: Path, *args: str) -> None:
    """One command with this target's lake, warehouse and Spark metastore, from `work`."""
    env = dict(
        os.environ,
        EVENTLAKE_LAKE_DIR=str(lake),
        EVENTLAKE_WAREHOUSE=str(work / "warehouse.duckdb"),
        EVENTLAKE_SPARK_WAREHOUSE=str(work / "spark-warehouse"),
        DBT_TARGET_PATH=str(work / "target"),
        DBT_LOG_PATH=str(work / "logs"),
    )
    done = subprocess.run(
        list(args), cwd=work, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def build(work: Path, lake: Path, *target: str) -> None:
    project = ["--profiles-dir", str(REPO), "--project-dir", str(REPO), *target]
    run(work, lake, str(BIN / "dbt"), "seed", *project)
    run(work, lake, str(BIN / "dbt"), "run", "--select", *SELECTION, *project)


def differences(duck: Path, spark: Path, lake_duck: Path, lake_spark: Path) -> dict[str, list]:
    """Per compared object, the rows one target has and the other has not (both ways)."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach '{duck / 'warehouse.duckdb'}' as duck (read_only)")
    found: dict[str, list] = {}

    def counts(lake: Path) -> str:
        return (
            "select event_date, count(*) as n from read_parquet("
            f"'{lake}/curated/fct_events/*/*.parquet', hive_partitioning = true) group by 1"
        )

    found["fct_events"] = con.execute(
        f"({counts(lake_duck)} except {counts(lake_spark)})"
        f" union all ({counts(lake_spark)} except {counts(lake_duck)})"
    ).fetchall()
    for name, (partitioned, floats) in TABLES.items():
        columns = [row[0] for row in con.execute(f"describe duck.main.{name}").fetchall()]
        select = ", ".join(
            f"round(cast({column} as double), 5)" if column in floats else column
            for column in columns
        )
        glob = spark / "spark-warehouse" / "eventlake.db" / name
        files = f"'{glob}/*/*.parquet'" if partitioned else f"'{glob}/*.parquet'"
        on_duckdb = f"select {select} from duck.main.{name}"
        on_spark = (
            f"select {select} from read_parquet({files},"
            f" hive_partitioning = {str(partitioned).lower()})"
        )
        assert con.execute(f"select count(*) from ({on_duckdb})").fetchone()[0] > 0, name
        found[name] = con.execute(
            f"({on_duckdb} except all {on_spark}) union all ({on_spark} except all {on_duckdb})"
        ).fetchall()
    return found


def test_spark_builds_the_same_marts_as_duckdb(tmp_path: Path) -> None:
    duck, spark = tmp_path / "duckdb", tmp_path / "spark"
    lake_duck, lake_spark = duck / "lake", spark / "lake"
    duck.mkdir()
    spark.mkdir()
    generate = [str(BIN / "eventlake"), "generate-lake", "--start-date", "2026-01-10"]
    run(duck, lake_duck, *generate, "--events", "20000", "--days", "3")
    shutil.copytree(lake_duck / "raw", lake_spark / "raw")

    build(duck, lake_duck)
    build(spark, lake_spark, "--target", "spark")
    assert differences(duck, spark, lake_duck, lake_spark) == {
        name: [] for name in ["fct_events", *TABLES]
    }

    # A new day, and a file of an older date replayed (its date is rewritten): incremental on both.
    run(duck, lake_duck, *generate[:2], "--events", "5000", "--append")
    older = sorted((lake_duck / "raw" / "events" / "event_date=2026-01-11").glob("*.parquet"))[0]
    shutil.copy(older, older.with_name("replay-" + older.name))
    shutil.rmtree(lake_spark / "raw")
    shutil.copytree(lake_duck / "raw", lake_spark / "raw")

    build(duck, lake_duck)
    build(spark, lake_spark, "--target", "spark")
    assert differences(duck, spark, lake_duck, lake_spark) == {
        name: [] for name in ["fct_events", *TABLES]
    }
