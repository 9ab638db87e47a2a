"""Parity of the two targets (issue 6): the same dbt project built on DuckDB and on Spark
(dbt-spark, method session, local pyspark) over copies of one generated raw lake gives the same
fct_events row counts per date, rollups, dim_user_features and the other marts, on a full build
and after an incremental one (a new day and a replayed file of an older date); and the same
after an erasure, which on Spark rewrites the subjects' partitions in the engine; and after
retention, which on Spark drops the expired partitions. Both read the raw lake by the same rules:
neither reads a flush its checkpoint has not committed nor an input a merged file superseded.

DuckDB builds into its DuckLake lakehouse (a SQLite catalog in the target's folder; the tests
read the schema `build`, as `dbt run` publishes nothing); Spark builds its own Parquet tables
(lake/curated/ for its lake_partitions models, spark-warehouse/ for the others).

Needs pyspark, dbt-spark (the `spark` extra) and Java. Slow (Spark starts a JVM per dbt
invocation): `make test-spark` installs the extra and runs it; `make test` leaves it out
(`-m "not spark"`); `.ci/run` runs both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventlake.dbt.runner import dbt_command
from eventlake.erasure.subjects import subject_hash
from eventlake.lake import layout
from eventlake.lake.lakehouse import connect
from eventlake.lake.retention import SPARK_AREAS, RetentionConfig, apply_retention, plan_retention

pytestmark = [pytest.mark.slow, pytest.mark.spark]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SELECTION = [
    "+fct_events",
    "agg_events_daily",
    "agg_events_hourly",
    "agg_funnel_daily",
    "dim_user_features",
    "int_users__last_seen",
    "agg_fraud_user_velocity",
]
GENERATE = [str(BIN / "eventlake"), "generate-lake", "--start-date", "2026-01-10"]
# Table -> (partitioned by event_date on Spark, columns compared rounded: DuckDB's float is
# 4 bytes, Spark's double 8).
TABLES = {
    "agg_events_daily": (True, ()),
    "agg_events_hourly": (True, ()),
    "agg_funnel_daily": (
        True,
        ("view_to_cart_rate", "cart_to_purchase_rate", "view_to_purchase_rate"),
    ),
    "dim_user_features": (False, ()),
    "int_users__last_seen": (False, ()),
    "agg_fraud_user_velocity": (False, ()),
}


def catalog_of(work: Path) -> str:
    return f"sqlite:{work / 'lakehouse.sqlite'}"


def run(work: Path, lake: Path, *args: str) -> None:
    """One command with this target's lake, lakehouse catalog and Spark metastore, from `work`."""
    env = dict(
        os.environ,
        EVENTLAKE_LAKE_DIR=str(lake),
        EVENTLAKE_CATALOG=catalog_of(work),
        EVENTLAKE_SPARK_WAREHOUSE=str(work / "spark-warehouse"),
        DBT_TARGET_PATH=str(work / "target"),
        DBT_LOG_PATH=str(work / "logs"),
    )
    done = subprocess.run(
        list(args), cwd=work, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def dbt(work: Path, lake: Path, *args: str) -> None:
    run(work, lake, *dbt_command(*args, project_dir=REPO))


def build(work: Path, lake: Path, *target: str, selection: list[str] = SELECTION) -> None:
    dbt(work, lake, "seed", *target)
    dbt(work, lake, "run", "--select", *selection, *target)


def two_targets(tmp_path: Path, events: int, selection: list[str] = SELECTION) -> tuple[Path, Path]:
    """A generated lake of 3 days from 2026-01-10, copied: built on DuckDB in tmp/duckdb and on
    Spark in tmp/spark (each folder holds its lake, lakehouse catalog and metastore)."""
    duck, spark = tmp_path / "duckdb", tmp_path / "spark"
    duck.mkdir()
    spark.mkdir()
    run(duck, duck / "lake", *GENERATE, "--events", str(events), "--days", "3")
    shutil.copytree(duck / "lake" / "raw", spark / "lake" / "raw")
    build(duck, duck / "lake", selection=selection)
    build(spark, spark / "lake", "--target", "spark", selection=selection)
    return duck, spark


def differences(duck: Path, spark: Path, lake_duck: Path, lake_spark: Path) -> dict[str, list]:
    """Per compared object, the rows one target has and the other has not (both ways)."""
    con = connect(catalog_of(duck), lake_duck, read_only=True)
    found: dict[str, list] = {}
    on_duckdb = "select event_date, count(*) as n from build.fct_events group by 1"
    on_spark = (
        "select event_date, count(*) as n from read_parquet("
        f"'{lake_spark}/curated/fct_events/*/*.parquet', hive_partitioning = true) group by 1"
    )
    found["fct_events"] = con.execute(
        f"({on_duckdb} except {on_spark}) union all ({on_spark} except {on_duckdb})"
    ).fetchall()
    for name, (partitioned, floats) in TABLES.items():
        columns = [row[0] for row in con.execute(f"describe build.{name}").fetchall()]
        select = ", ".join(
            f"round(cast({column} as double), 5)" if column in floats else column
            for column in columns
        )
        glob = spark / "spark-warehouse" / "eventlake.db" / name
        files = f"'{glob}/*/*.parquet'" if partitioned else f"'{glob}/*.parquet'"
        on_duckdb = f"select {select} from build.{name}"
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
    duck, spark = two_targets(tmp_path, 20000)
    lake_duck, lake_spark = duck / "lake", spark / "lake"
    assert differences(duck, spark, lake_duck, lake_spark) == {
        name: [] for name in ["fct_events", *TABLES]
    }

    # A new day, and a file of an older date replayed (its date is rewritten): incremental on both.
    run(duck, lake_duck, *GENERATE[:2], "--events", "5000", "--append")
    older = sorted((lake_duck / "raw" / "events" / "event_date=2026-01-11").glob("*.parquet"))[0]
    shutil.copy(older, older.with_name("replay-" + older.name))
    shutil.rmtree(lake_spark / "raw")
    shutil.copytree(lake_duck / "raw", lake_spark / "raw")

    build(duck, lake_duck)
    build(spark, lake_spark, "--target", "spark")
    assert differences(duck, spark, lake_duck, lake_spark) == {
        name: [] for name in ["fct_events", *TABLES]
    }


# Objects keyed by a subject, as Spark stores them: (folder, column holding the user id or,
# for fct_training_events, its keyed hash).
ERASED = {
    "fct_events": ("lake", "curated/fct_events/*/*.parquet", "user_id"),
    "fct_training_events": ("lake", "curated/fct_training_events/*/*.parquet", "user_key"),
    "dim_user_features": ("warehouse", "eventlake.db/dim_user_features/*.parquet", "user_id"),
    "agg_fraud_user_velocity": (
        "warehouse",
        "eventlake.db/agg_fraud_user_velocity/*.parquet",
        "user_id",
    ),
    "int_users__last_seen": ("warehouse", "eventlake.db/int_users__last_seen/*.parquet", "user_id"),
}
KEY = "eventlake-dev-key"  # dbt var subject_hash_key's default


def spark_rows(spark: Path, name: str, where: str = "true") -> int:
    area, glob, _ = ERASED[name]
    root = spark / "lake" if area == "lake" else spark / "spark-warehouse"
    return duckdb.sql(
        f"select count(*) from read_parquet('{root / glob}', union_by_name = true) where {where}"
    ).fetchall()[0][0]


def spark_statuses(spark: Path) -> dict[tuple[str, str], tuple[str, int | None]]:
    """(request_id, object) -> the newest (status, rows_deleted) in Spark's control plane."""
    files = spark / "spark-warehouse" / "control.db" / "erasure_confirmations" / "*.parquet"
    rows = duckdb.sql(
        f"select request_id, object, status, rows_deleted from read_parquet('{files}')"
        " qualify row_number() over (partition by request_id, object"
        " order by recorded_at desc, confirmed_at desc nulls last) = 1"
    ).fetchall()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def test_erasure_on_spark_rewrites_the_subjects_partitions_and_matches_duckdb(
    tmp_path: Path,
) -> None:
    selection = [*SELECTION, "fct_training_events", "events"]
    duck, spark = two_targets(tmp_path, 8000, selection)
    lake_duck, lake_spark = duck / "lake", spark / "lake"

    # The most active user, on every date; and a request for someone never seen.
    with connect(catalog_of(duck), lake_duck, read_only=True) as lakehouse:
        user = lakehouse.sql(
            "select user_id from build.fct_events"
            " group by 1 order by count(distinct event_date) desc, count(*) desc, 1 limit 1"
        ).fetchall()[0][0]
    # request id -> the subject's keyed hash
    subjects = {
        "req-active": subject_hash(user, KEY),
        "req-absent": subject_hash("user-never-seen", KEY),
    }
    mine = f"user_id = '{user}'"
    before = {name: spark_rows(spark, name) for name in ERASED}
    theirs = {
        name: spark_rows(spark, name, f"{column} <> '{subjects['req-active']}'")
        if column == "user_key"
        else spark_rows(spark, name, f"not ({mine})")
        for name, (_, _, column) in ERASED.items()
    }
    assert all(before[name] > theirs[name] for name in ERASED), (before, theirs)

    requests = (
        "{requests: ["
        + ", ".join(
            f"{{request_id: {request_id}, subject_hash: '{hashed}'}}"
            for request_id, hashed in subjects.items()
        )
        + "]}"
    )
    ids = "[req-active, req-absent]"
    # DuckDB: every model is a DuckLake table; the macro deletes the subjects' rows.
    dbt(duck, lake_duck, "run-operation", "record_erasure_requests", "--args", requests)
    dbt(
        duck,
        lake_duck,
        "run-operation",
        "erase_subjects",
        "--args",
        f"{{request_ids: {ids}, recompute_requests: [req-active]}}",
    )
    with connect(catalog_of(duck), lake_duck, read_only=True) as lakehouse:
        assert lakehouse.sql(f"select count(*) from build.fct_events where {mine}").fetchall() == [
            (0,)
        ]
    # Spark: the macro alone rewrites the partitions holding the subject.
    dbt(
        spark,
        lake_spark,
        "run-operation",
        "record_erasure_requests",
        "--args",
        requests,
        "--target",
        "spark",
    )
    dbt(
        spark,
        lake_spark,
        "run-operation",
        "erase_subjects",
        "--args",
        f"{{request_ids: {ids}, pass_id: spark-pass}}",
        "--target",
        "spark",
    )

    after = {name: spark_rows(spark, name) for name in ERASED}
    assert after == theirs, (before, after, theirs)
    statuses = spark_statuses(spark)
    for name in ERASED:
        assert statuses[("req-active", name)] == ("confirmed", before[name] - theirs[name]), name
        assert statuses[("req-absent", name)] == ("confirmed", 0), name
    rollups = [name for name, (partitioned, _) in TABLES.items() if partitioned]
    for rollup in rollups:
        assert statuses[("req-active", rollup)][0] == "pending", rollup
        assert statuses[("req-absent", rollup)][0] == "confirmed", rollup

    # The next build recomputes the rewritten dates downstream, alike on both targets.
    build(duck, lake_duck, selection=selection)
    build(spark, lake_spark, "--target", "spark", selection=selection)
    dbt(duck, lake_duck, "run-operation", "confirm_erasure_recomputes")
    dbt(spark, lake_spark, "run-operation", "confirm_erasure_recomputes", "--target", "spark")
    assert differences(duck, spark, lake_duck, lake_spark) == {
        name: [] for name in ["fct_events", *TABLES]
    }
    assert {name: spark_rows(spark, name) for name in ERASED} == theirs
    statuses = spark_statuses(spark)
    for rollup in rollups:
        assert statuses[("req-active", rollup)][0] == "confirmed", rollup


def test_retention_on_spark_drops_the_expired_partitions_and_matches_duckdb(
    tmp_path: Path,
) -> None:
    duck, spark = two_targets(tmp_path, 6000)
    lake_duck, lake_spark = duck / "lake", spark / "lake"

    # Keep one day (and rollups one day): 2026-01-10 expires, in the raw lake and the models (on
    # Spark also the folders of fct_events in the lake).
    arguments = "{before_date: '2026-01-11', rollup_before_date: '2026-01-11', dry_run: false}"
    for work, lake, target, areas in (
        (duck, lake_duck, (), 1),
        (spark, lake_spark, ("--target", "spark"), 2),
    ):
        config = RetentionConfig(keep_days=1, rollup_keep_days=1, areas=SPARK_AREAS[:areas])
        plan = plan_retention(lake, date(2026, 1, 12), config)
        assert {p.event_date for p in plan.partitions} == {date(2026, 1, 10)}
        assert apply_retention(plan) == len(plan.partitions) == areas
        dbt(work, lake, "run-operation", "expire_partitions", "--args", arguments, *target)

    expired = "event_date < date '2026-01-11'"
    with connect(catalog_of(duck), lake_duck, read_only=True) as lakehouse:
        assert lakehouse.sql(
            f"select count(*) from build.fct_events where {expired}"
        ).fetchall() == [(0,)]
    warehouse = spark / "spark-warehouse" / "eventlake.db"
    for name in (t for t, (p, _) in TABLES.items() if p):
        folders = sorted(path.name for path in (warehouse / name).glob("event_date=*"))
        assert folders and "event_date=2026-01-10" not in folders, (name, folders)
    state = warehouse / "fct_events__partitions" / "*" / "*.parquet"
    assert duckdb.sql(
        f"select min(event_date) from read_parquet('{state}', hive_partitioning = true)"
    ).fetchall() == [(date(2026, 1, 11),)]

    # A build after retention reads the metastore's partitions without the expired ones.
    build(duck, lake_duck)
    build(spark, lake_spark, "--target", "spark")
    found = differences(duck, spark, lake_duck, lake_spark)
    # Known divergence: int_users__last_seen is incremental on DuckDB (it remembers users whose
    # every event expired) and a table rebuilt from fct_events on Spark (it forgets them).
    found.pop("int_users__last_seen")
    assert found == {name: [] for name in ["fct_events", *TABLES] if name != "int_users__last_seen"}
    rollups = warehouse / "agg_events_daily" / "*" / "*.parquet"
    assert duckdb.sql(
        f"select count(*) from read_parquet('{rollups}', hive_partitioning = true) where {expired}"
    ).fetchall() == [(0,)]


def add_unreadable_files(lake: Path) -> set[str]:
    """Add to a generated raw lake the two files no reader may read, their rows relabelled
    (event ids `uncommitted-…`, `superseded-…`) so that a reader without the rules would count
    them: a flush of partition 0 under way (past its checkpoint's next_offset, listed as
    pending), and an input of a compaction beside the file that merged it (a range strictly
    inside that file's). Returns their names."""
    checkpoint = layout.read_checkpoint(lake, "events", 0)
    merged = sorted((lake / "raw" / "events" / "event_date=2026-01-10").glob("events+00000+*"))[0]
    rows = pq.read_table(merged)
    first = int(merged.stem.split("+")[2])
    count = rows.num_rows // 2
    added = {}
    for kind, start in (("uncommitted", checkpoint.next_offset), ("superseded", first)):
        name = layout.data_file_name("events", 0, start, start + count - 1)
        table = rows.slice(0, count)
        table = table.set_column(
            table.schema.get_field_index("event_id"),
            "event_id",
            pa.array([f"{kind}-{n}" for n in range(count)]),
        ).set_column(
            table.schema.get_field_index("_offset"),
            "_offset",
            pa.array(range(start, start + count), table.schema.field("_offset").type),
        )
        pq.write_table(table, merged.with_name(name))
        added[kind] = f"raw/events/event_date=2026-01-10/{name}"
    layout.write_checkpoint(
        lake, "events", 0, layout.Checkpoint(checkpoint.next_offset, [added["uncommitted"]])
    )
    return {Path(relative).name for relative in added.values()}


def test_spark_reads_neither_an_uncommitted_flush_nor_a_superseded_file_as_duckdb(
    tmp_path: Path,
) -> None:
    duck, spark = tmp_path / "duckdb", tmp_path / "spark"
    duck.mkdir()
    spark.mkdir()
    run(duck, duck / "lake", *GENERATE, "--events", "3000", "--days", "3")
    unreadable = add_unreadable_files(duck / "lake")
    shutil.copytree(duck / "lake", spark / "lake")
    raw = {path.name for path in (duck / "lake" / "raw").rglob("*.parquet")}
    assert unreadable < raw

    build(duck, duck / "lake", selection=["+fct_events"])
    build(spark, spark / "lake", "--target", "spark", selection=["+fct_events"])

    con = connect(catalog_of(duck), duck / "lake", read_only=True)
    arrived = {
        "duckdb": "select file_path from build.int_event_files__arrived",
        "spark": "select file_path from read_parquet("
        f"'{spark}/spark-warehouse/eventlake.db/int_event_files__arrived/**/*.parquet')",
    }
    for target, sql in arrived.items():
        names = {row[0].rpartition("/")[2] for row in con.execute(sql).fetchall()}
        assert names == raw - unreadable, target
    facts = {
        "duckdb": "from build.fct_events",
        "spark": f"from read_parquet('{spark}/lake/curated/fct_events/*/*.parquet')",
    }
    for target, relation in facts.items():
        relabelled = con.execute(
            "select count(*) "
            + relation
            + " where event_id like 'uncommitted-%' or event_id like 'superseded-%'"
        ).fetchall()
        assert relabelled == [(0,)], target
    assert differences_in_facts(con, spark / "lake") == []


def differences_in_facts(con: duckdb.DuckDBPyConnection, lake_spark: Path) -> list:
    """The (event_date, count) rows of fct_events one target has and the other has not."""
    on_duckdb = "select event_date, count(*) as n from build.fct_events group by 1"
    on_spark = (
        "select event_date, count(*) as n from read_parquet("
        f"'{lake_spark}/curated/fct_events/*/*.parquet', hive_partitioning = true) group by 1"
    )
    return con.execute(
        f"({on_duckdb} except {on_spark}) union all ({on_spark} except {on_duckdb})"
    ).fetchall()
