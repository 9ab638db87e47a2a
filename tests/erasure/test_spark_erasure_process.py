"""`eventlake erasure process` driving the Spark target (EVENTLAKE_DBT_TARGET=spark): a real
broker, the real loader, the dbt project built on a local Spark session. The subject must be
gone from the lake (raw and curated) and from every Parquet file of Spark's tables, and the
ledger `eventlake erasure status` and `audit` read (the lakehouse's control plane) must show
Spark's objects confirmed, the rollups once the pass's build has recomputed them.

Slow (a JVM per dbt invocation on Spark); needs the `spark` extra and Java: `make test-spark`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from eventlake.dbt.runner import run_dbt
from eventlake.erasure.orchestrator import ErasureConfig, process
from eventlake.erasure.subjects import ErasureRequest, subject_hash
from eventlake.erasure.topics import publish_requests
from eventlake.ingest.loader import Loader
from tests.dbt.test_spark_parity import SELECTION
from tests.dbt_support import copy_project, query
from tests.support import events, produce

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.broker]

USER = "user-5"  # tests.support's users: 3 events of every 997 each


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The dbt project copied to a folder of its own: a local Spark session keeps its Derby
    metastore in the working directory, which the orchestrator sets to the project's."""
    return copy_project(tmp_path / "project")


@pytest.fixture
def spark_settings(erasure_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("EVENTLAKE_SPARK_WAREHOUSE", str(tmp_path / "spark-warehouse"))
    return erasure_settings


def spark_dbt(settings, project: Path, *args: str) -> None:
    """dbt on the Spark target from the project's folder, as the orchestrator runs it there."""
    done = run_dbt(*args, cwd=project, env=settings.dbt_env(), target="spark", timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def files_holding(folder: Path, needles: set[str]) -> list[str]:
    """Parquet files under `folder` (hidden ones included) with a string or binary value equal
    to a needle; outside the control planes (the lake's, the lakehouse's ledger under
    curated/control, Spark's), which keep subject hashes by design."""
    found = []
    for path in sorted(folder.rglob("*.parquet")):
        ledger = path.relative_to(folder).parts[:2] == ("curated", "control")
        if ledger or "_control" in path.parts or "control.db" in path.parts:
            continue
        table = pq.read_table(path)
        for name in table.column_names:
            column = table[name]
            if pa.types.is_binary(column.type):
                column = pc.cast(column, pa.string())
            if (
                pa.types.is_string(column.type)
                and pc.any(pc.is_in(column, pa.array(sorted(needles)))).as_py()
            ):
                found.append(f"{path.relative_to(folder)}:{name}")
    return found


def ledger_steps(settings, request_id: str) -> dict[tuple[str, str], tuple[str, int | None, str]]:
    """(store, object) -> (status, rows_deleted, pass_id): the ledger's latest word."""
    rows = query(
        settings.lake_dir,
        settings.catalog,
        "select store, object, status, rows_deleted, pass_id from control.erasure_store_status"
        f" where request_id = '{request_id}'",
    )
    return {(store, name): (status, rows, pass_id) for store, name, status, rows, pass_id in rows}


def test_erasure_process_on_spark_erases_there_and_confirms_in_the_lakehouse_ledger(
    spark_settings, loader_config, project, tmp_path
):
    settings = spark_settings
    produce(settings, events(3000))
    Loader(settings, loader_config).run(once=True)
    spark_dbt(settings, project, "seed")
    spark_dbt(settings, project, "run", "--select", *SELECTION, "fct_training_events")

    needles = {USER, subject_hash(USER, settings.subject_hash_key)}
    spark_warehouse = tmp_path / "spark-warehouse"
    before = files_holding(settings.lake_dir, needles) + files_holding(spark_warehouse, needles)
    for expected in ("raw/events", "curated/fct_events", "curated/fct_training_events"):
        assert any(hit.startswith(expected) for hit in before), (expected, before)
    assert any(hit.startswith("eventlake.db/dim_user_features/") for hit in before), before

    publish_requests(settings, [ErasureRequest("req-spark", USER, datetime.now(UTC))])
    config = ErasureConfig.from_env(
        {"EVENTLAKE_DBT_TARGET": "spark", "EVENTLAKE_ERASURE_STREAM_STORES": ""}
    )
    report = process(settings, config, build=True, project_dir=project)

    assert report.requests_new == 1 and report.erased == ["req-spark"]
    assert report.build_ok is True
    assert files_holding(settings.lake_dir, needles) == []
    assert files_holding(spark_warehouse, needles) == []

    steps = ledger_steps(settings, "req-spark")
    for name in ("raw/events", "curated/fct_events", "curated/fct_training_events"):
        status, rows, _ = steps[("lake", name)]
        assert status == "confirmed" and rows > 0, (name, steps[("lake", name)])
    # Spark's own words, copied with the pass's id: the lake pass had already taken the facts.
    for name in ("fct_events", "fct_training_events", "agg_fraud_user_velocity"):
        assert steps[("warehouse", name)][::2] == ("confirmed", report.pass_id), name
    for name in ("dim_user_features", "int_users__last_seen"):  # one row per user
        assert steps[("warehouse", name)] == ("confirmed", 1, report.pass_id), name
    for rollup in ("agg_events_daily", "agg_events_hourly", "agg_funnel_daily"):
        assert steps[("warehouse", rollup)][0] == "confirmed", rollup
    assert [step for step in steps if step[0] == "lakehouse_storage"] == []
    state = "select state from control.erasure_status where request_id = 'req-spark'"
    assert query(settings.lake_dir, settings.catalog, state) == [("open",)], (
        "Kafka's retention has not passed"
    )
