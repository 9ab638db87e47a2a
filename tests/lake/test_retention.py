"""Retention: the plan at the boundary day, dry runs, the raw lake's folders and the models' rows
(the expire_partitions macro on a DuckLake lakehouse of its own) applied."""

from __future__ import annotations

import os
import subprocess
import textwrap
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from click.testing import CliRunner

from eventlake.cli.main import cli
from eventlake.dbt.runner import dbt_command
from eventlake.exceptions import ConfigError
from eventlake.lake import layout
from eventlake.lake.lakehouse import connect
from eventlake.lake.retention import (
    AREAS,
    SPARK_AREAS,
    TRASH,
    RetentionConfig,
    apply_retention,
    expire_lakehouse,
    expire_raw_lake,
    plan_retention,
)
from eventlake.lake.storage import lake_storage

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 29)
FIRST_KEPT = date(2024, 11, 29)  # TODAY - 730 days
DAYS = [FIRST_KEPT + timedelta(days=n) for n in (-3, -2, -1, 0, 1)]


def write(path: Path, rows: int = 10) -> None:
    layout.write_parquet_atomic(pa.table({"n": list(range(rows))}), path, row_group_size=rows)


# DuckLake's files of a curated table: retention deletes their rows, never their folders.
DUCKLAKE_FILE = Path("curated/build/fct_events/event_date=2020-01-01/ducklake-0001.parquet")


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    """Spark's three areas with partitions around the boundary, a quarantine file, a stray
    folder and an old DuckLake file."""
    root = tmp_path / "lake"
    for area in SPARK_AREAS:
        for day in DAYS:
            for n in range(2):
                write(root / area / f"event_date={day.isoformat()}" / f"part-{n}.parquet")
    write(root / layout.QUARANTINE_EVENTS / "events+00000+00000000000000000000+9.parquet")
    write(root / DUCKLAKE_FILE)
    (root / layout.RAW_EVENTS / "not_a_partition").mkdir()
    return root


def partitions(root: Path, areas=SPARK_AREAS) -> dict[str, list[str]]:
    return {
        str(area): sorted(p.name for p in (root / area).iterdir() if p.name.startswith("event"))
        for area in areas
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
    assert {p.area for p in plan.partitions} == set(AREAS) == {layout.RAW_EVENTS}
    size = (
        (lake_dir / layout.RAW_EVENTS / f"event_date={DAYS[0]}" / "part-0.parquet").stat().st_size
    )
    for totals in plan.totals().values():
        assert (totals.partitions, totals.files, totals.bytes) == (3, 6, 6 * size)


def test_plan_one_day_later_expires_the_boundary_day_too(lake_dir):
    plan = plan_retention(lake_dir, TODAY + timedelta(days=1), RetentionConfig(keep_days=730))

    assert sorted({p.event_date for p in plan.partitions}) == DAYS[:4]


def test_dry_run_deletes_nothing(lake_dir):
    before = snapshot(lake_dir)

    plan, removed = expire_raw_lake(lake_dir, TODAY, RetentionConfig())

    assert len(plan.partitions) == 3 and removed == 0
    assert snapshot(lake_dir) == before


def test_apply_removes_exactly_the_old_raw_partitions_and_no_curated_folder(lake_dir):
    kept = {
        path: stat
        for path, stat in snapshot(lake_dir).items()
        if not (path.startswith("raw/") and any(f"event_date={day}" in path for day in DAYS[:3]))
    }

    plan, removed = expire_raw_lake(lake_dir, TODAY, RetentionConfig(), apply=True)

    assert removed == 3
    everything = [f"event_date={day}" for day in DAYS]
    assert partitions(lake_dir) == {
        str(area): everything[3:] if area == layout.RAW_EVENTS else everything
        for area in SPARK_AREAS
    }
    assert snapshot(lake_dir) == kept
    assert (lake_dir / DUCKLAKE_FILE).is_file()
    assert (lake_dir / layout.RAW_EVENTS / "not_a_partition").is_dir()
    assert not (lake_dir / TRASH).exists()
    assert expire_raw_lake(lake_dir, TODAY, RetentionConfig(), apply=True)[1] == 0


def test_on_the_spark_target_its_lake_partitions_folders_expire_too(lake_dir):
    config = RetentionConfig.from_env({"EVENTLAKE_DBT_TARGET": "spark"})
    assert config.areas == SPARK_AREAS
    assert RetentionConfig.from_env({}).areas == AREAS

    plan, removed = expire_raw_lake(lake_dir, TODAY, config, apply=True)

    assert removed == 9
    expected = [f"event_date={day}" for day in DAYS[3:]]
    assert partitions(lake_dir) == {str(area): expected for area in SPARK_AREAS}
    assert (lake_dir / DUCKLAKE_FILE).is_file()


def test_trash_of_an_interrupted_run_is_removed_by_the_next(lake_dir):
    half_deleted = lake_dir / TRASH / layout.RAW_EVENTS / "event_date=2020-01-01"
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
        glob = lake_dir / layout.RAW_EVENTS / "*" / "*.parquet"
        seen.append(duckdb.sql(f"select count(*) from read_parquet('{glob}')").fetchall()[0][0])
        rmtree(path, *args, **kwargs)

    monkeypatch.setattr("eventlake.lake.retention.shutil.rmtree", look_then_remove)
    expire_raw_lake(lake_dir, TODAY, RetentionConfig(), apply=True)

    assert seen[0] == 2 * 10 * 4, "the first moved partition is gone from the glob at once"


def test_in_a_bucket_apply_deletes_exactly_the_old_partitions_objects(s3_lake):
    """The same lake in a bucket: no rename there, the expired partitions' objects are deleted
    and every other object stays as it was."""
    table = pa.table({"n": list(range(10))})
    for area in SPARK_AREAS:
        for day in DAYS:
            for n in range(2):
                relative = f"{area.as_posix()}/event_date={day.isoformat()}/part-{n}.parquet"
                layout.publish_parquet(table, s3_lake, relative, row_group_size=10)
    layout.publish_parquet(table, s3_lake, DUCKLAKE_FILE.as_posix(), row_group_size=10)
    storage = lake_storage(s3_lake)
    before = {i.path: (i.size, i.mtime_ns) for i in storage.list_files("")}

    plan, removed = expire_raw_lake(s3_lake, TODAY, RetentionConfig(areas=SPARK_AREAS), apply=True)

    assert removed == 3 * 3
    assert {p.event_date for p in plan.partitions} == set(DAYS[:3])
    after = {i.path: (i.size, i.mtime_ns) for i in storage.list_files("")}
    expired = {path for path in before if any(f"={day}/" in path for day in DAYS[:3])}
    expired.discard(DUCKLAKE_FILE.as_posix())  # DuckLake's files are not retention's
    assert after == {path: v for path, v in before.items() if path not in expired}
    assert expire_raw_lake(s3_lake, TODAY, RetentionConfig(), apply=True)[1] == 0


def test_config_rejects_a_non_positive_window():
    with pytest.raises(ConfigError):
        RetentionConfig(keep_days=0)
    assert RetentionConfig.from_env({"EVENTLAKE_KEEP_DAYS": "30"}).keep_days == 30


def test_cli_prints_the_plan_per_area_and_applies_only_with_apply(lake_dir):
    env = {"EVENTLAKE_LAKE_DIR": str(lake_dir), "EVENTLAKE_DBT_TARGET": ""}
    args = ["retention", "--today", TODAY.isoformat(), "--skip-lakehouse"]
    before = snapshot(lake_dir)

    dry = CliRunner().invoke(cli, args, env=env)

    assert dry.exit_code == 0, dry.output
    assert f"events keep event_date >= {FIRST_KEPT}" in dry.output
    assert f"raw/events: 3 partitions ({DAYS[0]} .. {DAYS[2]}), 6 files" in dry.output
    assert "curated" not in dry.output
    assert snapshot(lake_dir) == before

    applied = CliRunner().invoke(cli, [*args, "--apply", "--keep-days", "729"], env=env)

    assert applied.exit_code == 0, applied.output
    assert "removed 4 partitions" in applied.output


# -- the lakehouse side: the expire_partitions macro in a project of its own -----------------------

MODELS = {
    "daily_events.sql": """
        {{ config(meta={'retention': {'date_column': 'event_date', 'keep': 'lake'}},
            partition_by='event_date') }}
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
        select date '2020-01-01' as event_date
    """,
    "never_built.sql": """
        {{ config(meta={'retention': {'date_column': 'event_date'}}) }}
        select date '2020-01-01' as event_date
    """,
    "untouched.sql": "select date '2020-01-01' as event_date",
}

# The project's own profile, shortened: dbt writes into schema build of a DuckLake catalog.
PROFILE = """
retention_test:
  target: prod
  outputs:
    prod:
      type: duckdb
      path: ":memory:"
      database: lakehouse
      schema: build
      threads: 1
      attach:
        - path: "ducklake:{{ env_var('EVENTLAKE_CATALOG') }}"
          alias: lakehouse
          options:
            data_path: "{{ env_var('EVENTLAKE_LAKE_DIR') }}/curated/"
            data_inlining_row_limit: 0
      settings:
        TimeZone: UTC
      plugins:
        - module: eventlake.dbt.plugin
"""


@pytest.fixture(scope="module")
def dbt_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The macro (with publish_build, which it calls, and failed_nodes, which that calls) and a
    few models, built into a DuckLake lakehouse (catalog and lake in the project's folder)."""
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
            vars:
              build_schema: build
            on-run-end:
              - "{{ publish_build(results) }}"
            models:
              retention_test:
                +materialized: table
            """
        )
    )
    (project / "profiles.yml").write_text(PROFILE)
    macros = (
        "retention/expire_partitions.sql",
        "publish/publish_build.sql",
        "publish/failed_nodes.sql",
    )
    for macro in macros:
        source = REPO / "macros" / macro
        (project / "macros" / source.name).write_text(source.read_text())
    for name, sql in MODELS.items():
        (project / "models" / name).write_text(textwrap.dedent(sql))
    subprocess.run(
        dbt_command("build", "-q", "--exclude", "never_built"),
        cwd=project,
        env=project_env(project),
        check=True,
    )
    return project


def project_env(project: Path) -> dict[str, str]:
    return dict(
        os.environ,
        EVENTLAKE_CATALOG=f"sqlite:{project / 'lakehouse.sqlite'}",
        EVENTLAKE_LAKE_DIR=str(project / "lake"),
    )


def lakehouse_dates(project: Path, schema: str) -> dict[str, list[date]]:
    """Each table's dates, in the build's tables or (schema main) the readers' views."""
    tables = {
        "daily_events": "event_date",
        "daily_rollup": "report_date",
        "untouched": "event_date",
    }
    env = project_env(project)
    with connect(env["EVENTLAKE_CATALOG"], env["EVENTLAKE_LAKE_DIR"], read_only=True) as db:
        return {
            table: [
                row[0]
                for row in db.sql(f"select {column} from {schema}.{table} order by 1").fetchall()
            ]
            for table, column in tables.items()
        }


@pytest.mark.slow
def test_expire_partitions_counts_on_a_dry_run_then_deletes_per_model_window_and_publishes(
    dbt_project, tmp_path, capfd, monkeypatch
):
    for name, value in project_env(dbt_project).items():
        monkeypatch.setenv(name, value)
    plan = plan_retention(tmp_path, TODAY, RetentionConfig())  # empty lake: dates only
    before = lakehouse_dates(dbt_project, "build")
    assert lakehouse_dates(dbt_project, "main") == before  # the build published
    before_files = table_files(dbt_project, "daily_events")

    assert expire_lakehouse(plan, dry_run=True, project_dir=dbt_project) == 0
    assert lakehouse_dates(dbt_project, "build") == before
    logged = capfd.readouterr().out
    assert f'"daily_events" would delete 4 rows with event_date before {FIRST_KEPT}' in logged
    assert "events_view skipped: a view stores no rows" in logged
    assert "never_built skipped: never_built does not exist" in logged

    assert expire_lakehouse(plan, dry_run=False, project_dir=dbt_project) == 0
    assert "publish_build: 4 models published" in capfd.readouterr().out
    rollup_kept = TODAY - timedelta(days=1825)
    for schema in ("build", "main"):
        after = lakehouse_dates(dbt_project, schema)
        assert after["daily_events"] == [d for d in before["daily_events"] if d >= FIRST_KEPT]
        assert min(before["daily_events"]) < FIRST_KEPT <= min(after["daily_events"])
        assert after["daily_rollup"] == [d for d in before["daily_rollup"] if d >= rollup_kept]
        assert min(before["daily_rollup"]) < rollup_kept == min(after["daily_rollup"])
        assert after["untouched"] == before["untouched"]
    # The expired dates left the table as whole files, no delete file written; time travel
    # keeps them on disk until maintenance expires the snapshots.
    after_files = table_files(dbt_project, "daily_events")
    assert len(after_files) == len(after["daily_events"])
    assert all(delete_file is None for _, delete_file in after_files)
    assert all(Path(path).is_file() for path, _ in before_files)


def table_files(project: Path, table: str) -> list[tuple[str, str | None]]:
    """(data file, delete file) of the build's table, from the catalog."""
    env = project_env(project)
    with connect(env["EVENTLAKE_CATALOG"], env["EVENTLAKE_LAKE_DIR"], read_only=True) as db:
        return db.sql(
            f"select data_file, delete_file from ducklake_list_files('lakehouse', '{table}', "
            "schema => 'build')"
        ).fetchall()


@pytest.mark.slow
def test_expire_partitions_rejects_a_malformed_date(dbt_project, tmp_path, capfd, monkeypatch):
    for name, value in project_env(dbt_project).items():
        monkeypatch.setenv(name, value)
    plan = plan_retention(tmp_path, TODAY, RetentionConfig())
    command = dbt_command(
        "run-operation", "expire_partitions", "--args", '{"before_date": "2024-1-4"}'
    )

    assert expire_lakehouse(plan, project_dir=dbt_project, command=command) != 0
    assert "expected before_date as YYYY-MM-DD, got '2024-1-4'" in capfd.readouterr().out
