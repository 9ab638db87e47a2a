"""Retention: the plan at the boundary day, dry runs, and the lake and warehouse sides applied."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from click.testing import CliRunner

from eventlake import lake
from eventlake.cli import cli
from eventlake.exceptions import ConfigError
from eventlake.retention import (
    AREAS,
    TRASH,
    RetentionConfig,
    apply_retention,
    expire_lake,
    expire_warehouse,
    plan_retention,
)

REPO = Path(__file__).resolve().parents[1]
TODAY = date(2026, 11, 29)
FIRST_KEPT = date(2024, 11, 29)  # TODAY - 730 days
DAYS = [FIRST_KEPT + timedelta(days=n) for n in (-3, -2, -1, 0, 1)]


def write(path: Path, rows: int = 10) -> None:
    lake.write_parquet_atomic(pa.table({"n": list(range(rows))}), path, row_group_size=rows)


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    """Three areas with partitions around the boundary, a quarantine file and a stray folder."""
    root = tmp_path / "lake"
    for area in AREAS:
        for day in DAYS:
            for n in range(2):
                write(root / area / f"event_date={day.isoformat()}" / f"part-{n}.parquet")
    write(root / lake.QUARANTINE_EVENTS / "events+00000+00000000000000000000+9.parquet")
    (root / lake.RAW_EVENTS / "not_a_partition").mkdir()
    return root


def partitions(root: Path) -> dict[str, list[str]]:
    return {
        str(area): sorted(p.name for p in (root / area).iterdir() if p.name.startswith("event"))
        for area in AREAS
    }


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def test_plan_expires_the_days_before_today_minus_keep_days_and_keeps_that_day(lake_dir):
    plan = plan_retention(lake_dir, TODAY, RetentionConfig(keep_days=730))

    assert plan.before_date == FIRST_KEPT
    assert plan.rollup_before_date == TODAY - timedelta(days=1825)
    assert sorted({p.event_date for p in plan.partitions}) == DAYS[:3]
    assert {p.area for p in plan.partitions} == set(AREAS)
    size = (lake_dir / lake.RAW_EVENTS / f"event_date={DAYS[0]}" / "part-0.parquet").stat().st_size
    for totals in plan.totals().values():
        assert (totals.partitions, totals.files, totals.bytes) == (3, 6, 6 * size)


def test_plan_one_day_later_expires_the_boundary_day_too(lake_dir):
    plan = plan_retention(lake_dir, TODAY + timedelta(days=1), RetentionConfig(keep_days=730))

    assert sorted({p.event_date for p in plan.partitions}) == DAYS[:4]


def test_dry_run_deletes_nothing(lake_dir):
    before = snapshot(lake_dir)

    plan, removed = expire_lake(lake_dir, TODAY, RetentionConfig())

    assert len(plan.partitions) == 9 and removed == 0
    assert snapshot(lake_dir) == before


def test_apply_removes_exactly_the_old_partitions_in_every_area(lake_dir):
    kept = {
        path: stat
        for path, stat in snapshot(lake_dir).items()
        if not any(f"event_date={day}" in path for day in DAYS[:3])
    }

    plan, removed = expire_lake(lake_dir, TODAY, RetentionConfig(), apply=True)

    assert removed == 9
    expected = [f"event_date={day}" for day in DAYS[3:]]
    assert partitions(lake_dir) == {str(area): expected for area in AREAS}
    after = snapshot(lake_dir)
    assert {k: v for k, v in after.items() if not k.endswith(".lock")} == kept
    assert (lake_dir / lake.RAW_EVENTS / "not_a_partition").is_dir()
    assert not (lake_dir / TRASH).exists()
    assert expire_lake(lake_dir, TODAY, RetentionConfig(), apply=True)[1] == 0


def test_trash_of_an_interrupted_run_is_removed_by_the_next(lake_dir):
    half_deleted = lake_dir / TRASH / lake.RAW_EVENTS / "event_date=2020-01-01"
    write(half_deleted / "part-0.parquet")

    plan = plan_retention(lake_dir, TODAY, RetentionConfig())
    apply_retention(plan)

    assert plan.leftovers == (lake_dir / TRASH / "raw",)
    assert not (lake_dir / TRASH).exists()


def test_readers_never_see_a_partition_being_deleted(lake_dir, monkeypatch):
    """Caught between the rename and the delete, the partition is out of every reader's glob."""
    import shutil

    seen: list[int] = []
    rmtree = shutil.rmtree

    def look_then_remove(path, *args, **kwargs):
        glob = lake_dir / lake.RAW_EVENTS / "*" / "*.parquet"
        seen.append(duckdb.sql(f"select count(*) from read_parquet('{glob}')").fetchall()[0][0])
        rmtree(path, *args, **kwargs)

    monkeypatch.setattr("eventlake.retention.shutil.rmtree", look_then_remove)
    expire_lake(lake_dir, TODAY, RetentionConfig(), apply=True)

    assert seen[0] == 2 * 10 * 4, "the first moved partition is gone from the glob at once"


def test_config_rejects_a_non_positive_window():
    with pytest.raises(ConfigError):
        RetentionConfig(keep_days=0)
    assert RetentionConfig.from_env({"EVENTLAKE_KEEP_DAYS": "30"}).keep_days == 30


def test_cli_prints_the_plan_per_area_and_applies_only_with_apply(lake_dir):
    env = {"EVENTLAKE_LAKE_DIR": str(lake_dir)}
    args = ["retention", "--today", TODAY.isoformat(), "--skip-warehouse"]
    before = snapshot(lake_dir)

    dry = CliRunner().invoke(cli, args, env=env)

    assert dry.exit_code == 0, dry.output
    assert f"lake keeps event_date >= {FIRST_KEPT}" in dry.output
    assert f"raw/events: 3 partitions ({DAYS[0]} .. {DAYS[2]}), 6 files" in dry.output
    assert "curated/training_events: 3 partitions" in dry.output
    assert snapshot(lake_dir) == before

    applied = CliRunner().invoke(cli, [*args, "--apply", "--keep-days", "729"], env=env)

    assert applied.exit_code == 0, applied.output
    assert "removed 12 partitions" in applied.output


# -- the warehouse side: the expire_partitions macro in a project of its own ----------------------

MODELS = {
    "hot_events.sql": """
        {{ config(meta={'retention': {'date_column': 'event_date', 'keep': 'lake'}}) }}
        select cast(day as date) as event_date
        from range(date '2024-11-25', date '2024-12-02', interval 1 day) as days (day)
    """,
    "daily_rollup.sql": """
        {{ config(meta={'retention': {'date_column': 'report_date', 'keep': 'rollup'}}) }}
        select cast(day as date) as report_date
        from range(date '2021-11-28', date '2021-12-03', interval 1 day) as days (day)
    """,
    "events_view.sql": """
        {{ config(materialized='view',
            meta={'retention': {'date_column': 'event_date'}}) }}
        select * from {{ ref('hot_events') }}
    """,
    "never_built.sql": """
        {{ config(meta={'retention': {'date_column': 'event_date'}}) }}
        select date '2020-01-01' as event_date
    """,
    "lake_table.sql": """
        {{ config(materialized='lake_partitions',
            meta={'retention': {'date_column': 'event_date', 'keep': 'lake'}}) }}
        select date '2024-11-27' as event_date
    """,
    "untouched.sql": "select date '2020-01-01' as event_date",
}

# Stands in for the real lake_partitions materialization: a view plus its state table.
LAKE_PARTITIONS = """
{% materialization lake_partitions, adapter='duckdb' %}
    {% call statement('state') -%}
        create or replace table {{ this.incorporate(path={
            'identifier': this.identifier ~ '__partitions'}) }} as
        select cast(day as date) as event_date
        from range(date '2024-11-26', date '2024-11-30', interval 1 day)
            as days (day)
    {%- endcall %}
    {% call statement('main') -%}
        create or replace view {{ this }} as {{ sql }}
    {%- endcall %}
    {% do adapter.commit() %}
    {{ return({'relations': [this]}) }}
{% endmaterialization %}
"""


@pytest.fixture(scope="module")
def dbt_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("dbt_project")
    (project / "models").mkdir()
    (project / "macros").mkdir()
    (project / "dbt_project.yml").write_text(
        textwrap.dedent(
            """
            name: retention_test
            version: "1.0"
            config-version: 2
            profile: retention_test
            flags:
              send_anonymous_usage_stats: false
            models:
              retention_test:
                +materialized: table
            """
        )
    )
    (project / "profiles.yml").write_text(
        "retention_test:\n  target: dev\n  outputs:\n    dev:\n"
        "      type: duckdb\n      path: warehouse.duckdb\n"
    )
    macro = REPO / "macros" / "lake" / "expire_partitions.sql"
    (project / "macros" / macro.name).write_text(macro.read_text())
    (project / "macros" / "lake_partitions.sql").write_text(LAKE_PARTITIONS)
    for name, sql in MODELS.items():
        (project / "models" / name).write_text(textwrap.dedent(sql))
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(
        [str(dbt), "build", "--profiles-dir", ".", "--project-dir", ".", "-q"]
        + ["--exclude", "never_built"],
        cwd=project,
        check=True,
    )
    return project


def warehouse_dates(project: Path) -> dict[str, list[date]]:
    tables = {
        "hot_events": "event_date",
        "daily_rollup": "report_date",
        "lake_table__partitions": "event_date",
        "untouched": "event_date",
    }
    with duckdb.connect(str(project / "warehouse.duckdb"), read_only=True) as connection:
        return {
            table: [
                row[0]
                for row in connection.sql(f"select {column} from {table} order by 1").fetchall()
            ]
            for table, column in tables.items()
        }


@pytest.mark.slow
def test_expire_partitions_counts_on_a_dry_run_then_deletes_per_model_window(
    dbt_project, tmp_path, capfd
):
    plan = plan_retention(tmp_path, TODAY, RetentionConfig())  # empty lake: dates only
    before = warehouse_dates(dbt_project)

    assert expire_warehouse(plan, dry_run=True, project_dir=dbt_project) == 0
    assert warehouse_dates(dbt_project) == before
    logged = capfd.readouterr().out
    assert f'"hot_events" would delete 4 rows with event_date before {FIRST_KEPT}' in logged
    assert '"lake_table__partitions" would delete 3 rows' in logged
    assert "events_view skipped: a view stores no rows" in logged
    assert "never_built skipped: never_built does not exist" in logged

    assert expire_warehouse(plan, dry_run=False, project_dir=dbt_project) == 0
    after = warehouse_dates(dbt_project)

    assert after["hot_events"] == [d for d in before["hot_events"] if d >= FIRST_KEPT]
    assert min(before["hot_events"]) < FIRST_KEPT <= min(after["hot_events"])
    rollup_kept = TODAY - timedelta(days=1825)
    assert after["daily_rollup"] == [d for d in before["daily_rollup"] if d >= rollup_kept]
    assert min(before["daily_rollup"]) < rollup_kept == min(after["daily_rollup"])
    assert after["lake_table__partitions"] == [FIRST_KEPT]
    assert after["untouched"] == before["untouched"]


@pytest.mark.slow
def test_expire_partitions_rejects_a_malformed_date(dbt_project, tmp_path, capfd):
    plan = plan_retention(tmp_path, TODAY, RetentionConfig())
    dbt = str(Path(sys.executable).parent / "dbt")
    command = [
        dbt,
        "run-operation",
        "expire_partitions",
        "--args",
        '{"before_date": "2024-1-4"}',
        "--profiles-dir",
        ".",
        "--project-dir",
        ".",
    ]

    assert expire_warehouse(plan, project_dir=dbt_project, command=command) != 0
    assert "expected before_date as YYYY-MM-DD, got '2024-1-4'" in capfd.readouterr().out
