"""Right to erasure end to end: a real broker, the real loader, a real lake and lakehouse.

A subject's rows must be gone from every Parquet file present (temporary and orphaned files
included, the lakehouse's data files under curated/ too), from every table and view of the
lakehouse (the build's tables and the published views) and from every row of its catalog
(inlined data included); no snapshot older than the pass remains to time-travel to; every
other row must be intact, and every store must have confirmed; a repeated request changes
nothing and confirms again; bad requests delete nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer

from eventlake.dbt.runner import PRODUCTION_BUILD
from eventlake.erasure.control import Confirmation
from eventlake.erasure.orchestrator import ErasureConfig, process
from eventlake.erasure.subjects import ErasureRequest, subject_hash
from eventlake.erasure.topics import dlq_topic, publish_confirmation, publish_requests
from eventlake.ingest import kafka
from eventlake.ingest.loader import Loader
from tests.dbt_support import REPO, dbt, file_identities, query
from tests.support import event, produce, read_topic

pytestmark = [pytest.mark.broker, pytest.mark.slow]

KEY = "eventlake-dev-key"


def user(number: int) -> str:
    return f"user-{number % 997}"  # tests.support.event's user ids


def land_world(settings, loader_config, count: int = 6000) -> None:
    """Events over three recent days, plus malformed messages keyed by users (quarantine)."""
    messages = [event(n, days_ago=1 + n % 3) for n in range(count)]
    messages += [
        (user(n).encode(), b'{"user_id": "' + user(n).encode() + b'", "event_id": ')
        for n in range(0, 40, 4)
    ]
    produce(settings, messages)
    Loader(settings, loader_config).run(once=True)
    dbt(settings.lake_dir, settings.catalog, "build")


STREAMING = ErasureConfig(stream_stores=("online",), cleanup_grace_seconds=1)
"""A streaming store the requests wait for (it confirms on the confirmations topic)."""


def run_pass(settings, **kwargs):
    return process(settings, STREAMING, project_dir=REPO, **kwargs)


def parquet_files(lake: Path) -> list[Path]:
    """Every Parquet file present, hidden temporary ones included."""
    return sorted(p for p in lake.rglob("*") if p.is_file() and ".parquet" in p.name)


def subject_values(users: list[str]) -> set[str]:
    return set(users) | {subject_hash(u, KEY) for u in users}


CONTROL_PLANE = Path("curated", "control")
"""The lakehouse's control plane: keeps subject hashes by design, never a user id."""


def lake_findings(lake: Path, users: list[str]) -> tuple[dict[str, int], list[str]]:
    """(rows per folder of the lake, files holding any value equal to a subject's id or hash:
    any string column, any binary column's bytes, or an id quoted inside a message value).
    Every file is decoded, the lakehouse's under curated/ included; in its control plane only
    ids are looked for."""
    rows: dict[str, int] = {}
    found = []
    for path in parquet_files(lake):
        if "_control" in path.parts:
            continue
        in_control = path.relative_to(lake).parts[:2] == CONTROL_PLANE.parts
        needles = set(users) if in_control else subject_values(users)
        table = pq.read_table(path)
        folder = str(path.parent.relative_to(lake))
        rows[folder] = rows.get(folder, 0) + table.num_rows
        for name in table.column_names:
            column = table[name]
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                hit = pc.any(pc.is_in(column, pa.array(sorted(needles)))).as_py()
            elif pa.types.is_binary(column.type):
                values = [v for v in column.to_pylist() if v is not None]
                hit = any(v in {n.encode() for n in needles} for v in values) or any(
                    f'"{u}"'.encode() in v for v in values for u in users
                )
            else:
                continue
            if hit:
                found.append(f"{path.relative_to(lake)}:{name}")
    return rows, found


def lakehouse_relations(settings) -> list[tuple[str, str, list[str]]]:
    """(schema, name, varchar columns) of every table and view of the lakehouse: the build's
    tables, the published views in main, the control plane."""
    listed = query(
        settings.lake_dir,
        settings.catalog,
        """select schema_name, table_name, list(column_name order by column_index)
        filter (where data_type = 'VARCHAR')
        from duckdb_columns() where database_name = 'lakehouse' and not internal
        group by all order by all""",
    )
    return [(schema, name, columns or []) for schema, name, columns in listed]


def lakehouse_findings(settings, users: list[str]) -> tuple[dict[str, int], list[str]]:
    """(rows per relation, relation columns holding a subject's id; or, outside the control
    schema, a subject's hash)."""
    rows, found = {}, []
    with contextlib.closing(settings.connect(read_only=True)) as connection:
        for schema, name, columns in lakehouse_relations(settings):
            relation = f'"{schema}"."{name}"'
            rows[relation] = connection.execute(f"select count(*) from {relation}").fetchone()[0]
            needles = set(users) if schema == "control" else subject_values(users)
            for column in columns:
                (hits,) = connection.execute(
                    f'select count(*) from {relation} where "{column}" = any($needles)',
                    {"needles": sorted(needles)},
                ).fetchone()
                if hits:
                    found.append(f"{relation}.{column}")
    return rows, found


def data_rows(rows: dict[str, int]) -> dict[str, int]:
    """Rows per relation outside the control plane (whose log grows with every pass)."""
    return {relation: n for relation, n in rows.items() if not relation.startswith('"control"')}


def subject_rows(settings, users: list[str]) -> dict[str, int]:
    """Rows of the subjects per user-keyed relation (the count erasure must take away)."""
    counts = {}
    with contextlib.closing(settings.connect(read_only=True)) as connection:
        for schema, name, columns in lakehouse_relations(settings):
            relation = f'"{schema}"."{name}"'
            for column, needles in (("user_id", users), ("user_key", subject_values(users))):
                if column in columns:
                    counts[relation] = connection.execute(
                        f"select count(*) from {relation} where {column} = any($n)",
                        {"n": sorted(needles)},
                    ).fetchone()[0]
    return counts


def catalog_findings(catalog: str, users: list[str]) -> list[str]:
    """Rows of the SQLite catalog (every table: snapshots, files, column statistics, inlined
    data) holding a subject's id, or a subject's hash outside the statistics of the control
    plane's tables (which keep hashes by design)."""
    path = catalog.removeprefix("sqlite:")
    hashes = {subject_hash(u, KEY) for u in users}
    found = []
    with contextlib.closing(sqlite3.connect(path)) as database:
        control = {
            table_id
            for (table_id,) in database.execute(
                "select table_id from ducklake_table inner join ducklake_schema using "
                "(schema_id) where schema_name = 'control'"
            )
        }
        for (table,) in database.execute("select name from sqlite_master where type = 'table'"):
            columns = [row[1] for row in database.execute(f"pragma table_info('{table}')")]
            for row in database.execute(f'select * from "{table}"'):
                values = {str(v) for v in row if v is not None}
                excused = "table_id" in columns and row[columns.index("table_id")] in control
                if values & set(users) or (values & hashes and not excused):
                    found.append(f"{table}: {row}")
    return found


def inlined_data_tables(catalog: str) -> list[tuple[str, int]]:
    """(name, rows) of the catalog's inlined-data tables (inlining is off: none, or empty)."""
    with contextlib.closing(sqlite3.connect(catalog.removeprefix("sqlite:"))) as database:
        names = [
            name
            for (name,) in database.execute(
                "select name from sqlite_master where type = 'table' "
                "and name like 'ducklake_inlined_data%'"
            )
        ]
        return [(n, database.execute(f'select count(*) from "{n}"').fetchone()[0]) for n in names]


def snapshot_times(settings) -> list[datetime]:
    return [t for (t,) in query(settings.lake_dir, settings.catalog, "select snapshot_time "
            "from lakehouse.snapshots()")]  # fmt: skip


def lake_subject_rows(lake: Path, users: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in parquet_files(lake):
        table = pq.read_table(path)
        folder = str(path.parent.relative_to(lake))
        for column, needles in (("user_id", users), ("user_key", subject_values(users))):
            if column in table.column_names:
                hits = pc.sum(pc.is_in(table[column], pa.array(sorted(needles)))).as_py() or 0
                counts[folder] = counts.get(folder, 0) + hits
        if "key" in table.column_names:
            keys = pa.array([u.encode() for u in users], pa.binary())
            hits = pc.sum(pc.is_in(table["key"], keys)).as_py() or 0
            counts[folder] = counts.get(folder, 0) + hits
    return counts


def store_status(settings) -> dict[tuple[str, str, str], str]:
    return {
        (r, s, o): status
        for r, s, o, status in query(
            settings.lake_dir,
            settings.catalog,
            "select request_id, store, object, status from control.erasure_store_status",
        )
    }


def states(settings) -> dict[str, str]:
    sql = "select request_id, state from control.erasure_status"
    return dict(query(settings.lake_dir, settings.catalog, sql))


def lakehouse_query(settings, sql: str) -> list[tuple]:
    return query(settings.lake_dir, settings.catalog, sql)


def outside_control(identities: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """Files outside the lakehouse's control plane (each pass appends to its log)."""
    return {
        name: identity
        for name, identity in identities.items()
        if Path(name).parts[:2] != CONTROL_PLANE.parts
    }


def test_erasing_k_subjects_removes_them_everywhere_and_keeps_everyone_else(
    erasure_settings, loader_config
):
    settings = erasure_settings
    land_world(settings, loader_config)
    with contextlib.closing(settings.connect()) as connection:  # an analyst's dev build's copy
        connection.execute("create schema dbt_analyst")
        connection.execute("create table dbt_analyst.fct_events as from build.fct_events")
    rng = random.Random(7)
    users = [user(n) for n in rng.sample(range(0, 40, 4), 2) + rng.sample(range(40, 997), 3)]
    lake_before, found = lake_findings(settings.lake_dir, users)
    assert found, "the check must see the subjects before erasure, or it proves nothing"
    assert any(hit.startswith("curated/build/fct_events/") for hit in found), found
    lake_erased = lake_subject_rows(settings.lake_dir, users)
    assert lake_erased["quarantine/events"] > 0 and sum(lake_erased.values()) > 50
    lakehouse_before, found = lakehouse_findings(settings, users)
    assert {
        '"main"."fct_events".user_id',
        '"build"."fct_events".user_id',
        '"dbt_analyst"."fct_events".user_id',
    } <= set(found)
    lakehouse_erased = subject_rows(settings, users)
    daily_before = lakehouse_query(settings, "select sum(events) from agg_events_daily")[0][0]
    facts_erased = lakehouse_query(
        settings, f"select count(*) from fct_events where user_id in {tuple(users)}"
    )[0][0]
    untouched = {
        name: identity
        for name, identity in file_identities(settings.lake_dir / "raw").items()
        if not lake_subject_rows(settings.lake_dir / "raw" / Path(name).parent, users)
    }
    # An incremental table naming nobody: DuckLake has no delete to apply to its files.
    arrivals = settings.lake_dir / "curated" / "build" / "int_event_files__arrived"
    arrivals_before = file_identities(arrivals)
    assert arrivals_before

    requests = [ErasureRequest(f"req-{i}", u, datetime.now(UTC)) for i, u in enumerate(users)]
    publish_requests(settings, requests)
    began = datetime.now(UTC)
    report = run_pass(settings)

    assert report.requests_new == len(users) and report.requests_rejected == 0
    assert report.build_ok and report.purge is not None and report.purge.done
    assert report.purge.files_rewritten > 0 and report.purge.files_removed > 0
    # Every Parquet file of the lake, decoded: raw, quarantine and the lakehouse's data files.
    lake_after, found = lake_findings(settings.lake_dir, users)
    assert found == []
    for folder, rows in lake_before.items():
        if not folder.startswith("curated/"):  # the lakehouse's files are counted by SQL below
            assert lake_after.get(folder, 0) == rows - lake_erased.get(folder, 0), folder
    assert {
        name: identity
        for name, identity in file_identities(settings.lake_dir / "raw").items()
        if name in untouched
    } == untouched, "files without a subject must not be rewritten"
    arrivals_after = file_identities(arrivals)
    assert {n: i for n, i in arrivals_after.items() if n in arrivals_before} == arrivals_before, (
        "DuckLake rewrites only the files that held deleted rows"
    )
    # Every table and view of the lakehouse: the build's tables and the published views.
    lakehouse_after, found = lakehouse_findings(settings, users)
    assert found == []
    for relation, erased in lakehouse_erased.items():
        assert lakehouse_after[relation] == lakehouse_before[relation] - erased, relation
    assert (
        lakehouse_query(settings, "select sum(events) from agg_events_daily")[0][0]
        == daily_before - facts_erased
    )
    # Every row of the catalog; inlining is off, and its tables (if any) hold nothing.
    assert catalog_findings(settings.catalog, users) == []
    assert all(rows == 0 for _, rows in inlined_data_tables(settings.catalog))
    # Beside the rows: no deleted row lingers in the catalog file's free pages either.
    catalog_bytes = Path(settings.catalog.removeprefix("sqlite:")).read_bytes()
    assert [u for u in users if f"{u}".encode() in catalog_bytes] == []
    # Time travel restarts at the pass: no snapshot older than it is left to read old files.
    assert min(snapshot_times(settings)) >= began

    steps = store_status(settings)
    for request in requests:
        mine = {(s, o): status for (r, s, o), status in steps.items() if r == request.request_id}
        assert mine[("lake", "raw/events")] == "confirmed"
        assert mine[("warehouse", "fct_events")] == "confirmed"
        assert mine[("warehouse", "snap_user_attributes")] == "confirmed"
        assert mine[("warehouse", "agg_events_daily")] == "confirmed"
        assert mine[("lakehouse_storage", "curated/")] == "confirmed"
        assert mine[("kafka", next(o for s, o in mine if s == "kafka"))] == "pending"
        assert mine[("online", "online")] == "pending"
    assert not any(o.startswith("curated/") for (_, s, o) in steps if s == "lake")
    assert set(states(settings).values()) == {"open"}, "Kafka's retention has not passed"

    # Retention passes, but the streaming store has not confirmed: still open.
    later = datetime.now(UTC) + timedelta(hours=STREAMING.topic_retention_hours + 1)
    run_pass(settings, now=later, build=False)
    steps = store_status(settings)
    assert {status for (_, s, _), status in steps.items() if s == "kafka"} == {"confirmed"}
    assert set(states(settings).values()) == {"open"}

    # The store confirms on its topic; the next pass collects it and every request is complete.
    for request in requests:
        publish_confirmation(
            settings, Confirmation(request.request_id, "online", "online", "confirmed")
        )
    run_pass(settings, now=later, build=False)
    assert set(states(settings).values()) == {"complete"}

    # The same request again: nothing changes, every store confirms again.
    files = outside_control(file_identities(settings.lake_dir))
    count = "select count(*) from control.erasure_confirmations"
    confirmations = lakehouse_query(settings, count)
    publish_requests(settings, requests[:1])
    again = run_pass(settings, build=False)
    assert again.requests_new == 0 and again.erased == ["req-0"]
    assert outside_control(file_identities(settings.lake_dir)) == files
    assert data_rows(lakehouse_findings(settings, users)[0]) == data_rows(lakehouse_after)
    assert lakehouse_query(settings, count) > confirmations
    reconfirmed = lakehouse_query(
        settings,
        f"""select store, object, rows_deleted from control.erasure_store_status
        where request_id = 'req-0' and pass_id = '{again.pass_id}' and status = 'confirmed'""",
    )
    assert {(s, o) for s, o, _ in reconfirmed} >= {
        ("lake", "raw/events"),
        ("warehouse", "dim_user_features"),
        ("lakehouse_storage", "curated/"),
    }
    assert all(rows in (0, None) for _, _, rows in reconfirmed)

    # The next build reads the rewritten files as nothing new: no row comes back or doubles.
    dbt(settings.lake_dir, settings.catalog, "build")
    assert data_rows(lakehouse_findings(settings, users)[0]) == data_rows(lakehouse_after)


def test_bad_requests_go_to_the_dlq_and_delete_nothing(erasure_settings, loader_config):
    settings = erasure_settings
    land_world(settings, loader_config, count=1500)
    files = outside_control(file_identities(settings.lake_dir))
    rows = lakehouse_findings(settings, [])[0]
    at = "2026-01-01T00:00:00Z"
    payloads = [
        b"not json",
        b'{"request_id": "r1", "user_id": "user-1"}',
        json.dumps({"request_id": "r2", "user_id": "user-1' or '1'='1", "requested_at": at}),
        json.dumps(
            {
                "request_id": "r3'); delete from dim_user_features; --",
                "user_id": "u",
                "requested_at": at,
            }
        ),
    ]
    payloads = [p.encode() if isinstance(p, str) else p for p in payloads]
    producer = Producer(kafka.producer_config(settings.bootstrap_servers))
    kafka.ensure_topics(settings.bootstrap_servers, {settings.erasure_topic: 1})
    for payload in payloads:
        kafka.produce(producer, settings.erasure_topic, payload, key=b"bad")
    assert producer.flush(30) == 0

    report = run_pass(settings, build=False)

    assert report.requests_rejected == len(payloads) and report.erased == []
    assert outside_control(file_identities(settings.lake_dir)) == files
    assert data_rows(lakehouse_findings(settings, [])[0]) == data_rows(rows)
    dead = read_topic(settings.bootstrap_servers, dlq_topic(settings.erasure_topic), len(payloads))
    assert sorted(m.value() for m in dead) == sorted(payloads)
    assert all(dict(m.headers())["eventlake.reason"] for m in dead)

    # The macro itself refuses an injection payload before running any statement.
    output = dbt(
        settings.lake_dir,
        settings.catalog,
        "run-operation",
        "erase_subjects",
        "--args",
        '{request_ids: ["x\'); delete from main.dim_user_features; --"]}',
        check=False,
    )
    assert "rejected id" in output and "nothing was deleted" in output
    assert data_rows(lakehouse_findings(settings, [])[0]) == data_rows(rows)


def test_a_pass_without_a_build_is_confirmed_by_the_next_scheduled_build(
    erasure_settings, loader_config
):
    settings = erasure_settings
    land_world(settings, loader_config, count=1500)
    publish_requests(settings, [ErasureRequest("req-later", user(7), datetime.now(UTC))])

    report = run_pass(settings, build=False)

    assert report.erased == ["req-later"] and report.build_ok is None
    recomputed = {
        step
        for step, status in store_status(settings).items()
        if step[:2] == ("req-later", "warehouse") and status == "pending"
    }
    assert ("req-later", "warehouse", "agg_events_daily") in recomputed
    # The scheduled build recomputes the rollups from the deletes and, every node passed,
    # confirms them (its on-run-end hook); no erasure pass runs in between.
    dbt(settings.lake_dir, settings.catalog, *PRODUCTION_BUILD)
    assert {store_status(settings)[step] for step in recomputed} == {"confirmed"}


def landed_others(lake: Path, subject: str) -> int:
    """Rows of everyone but the subject in the committed raw files (not temporary ones)."""
    rows = 0
    for path in (lake / "raw" / "events").glob("event_date=*/[!.]*.parquet"):
        users = pq.read_table(path, columns=["user_id"])["user_id"]
        rows += pc.sum(pc.not_equal(users, subject)).as_py() or 0
    return rows


def test_erasure_while_the_loader_ingests_loses_no_one_else(erasure_settings, loader_config):
    settings = erasure_settings
    subject = user(5)
    produced: list[tuple[bytes, bytes]] = []
    stop = threading.Event()

    def traffic() -> None:
        number = 0
        while not stop.is_set():
            batch = [event(n, days_ago=1 + n % 2) for n in range(number, number + 500)]
            produce(settings, batch)
            produced.extend(batch)
            number += 500
            time.sleep(0.05)

    loader = Loader(settings, dataclasses.replace(loader_config, rotate_seconds=1))
    loading = threading.Thread(target=loader.run)
    producing = threading.Thread(target=traffic)
    loading.start()
    producing.start()
    try:
        deadline = time.monotonic() + 60
        while not parquet_files(settings.lake_dir / "raw") and time.monotonic() < deadline:
            time.sleep(0.2)
        publish_requests(settings, [ErasureRequest("req-live", subject, datetime.now(UTC))])
        report = run_pass(settings, build=False)
        assert report.erased == ["req-live"]
        time.sleep(2)  # the subject keeps sending events after the erasure
    finally:
        stop.set()
        producing.join()
    # Let the loader drain what was produced, then stop it.
    others = sum(1 for key, _ in produced if key != subject.encode())
    deadline = time.monotonic() + 60
    while (landed := landed_others(settings.lake_dir, subject)) < others:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    loader.stop()
    loading.join()

    _, found = lake_findings(settings.lake_dir, [subject])
    assert found == []
    assert landed == others
    assert sum(1 for key, _ in produced if key == subject.encode()) > 0
