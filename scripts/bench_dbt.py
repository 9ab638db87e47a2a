"""dbt layer benchmarks: what a build and a query cost as history grows.

    .venv/bin/python scripts/bench_dbt.py [--per-day 20000] [--repeat 3] [--scale-events 50000000]
        [--only incremental,pruning,rollups,scale]

1. incremental: lakes holding 7 and 365 days of events (same events per day, written straight
   into the raw lake); a full build of each, then `--repeat` times: add one day, `dbt build`.
   Prints medians of the incremental build (wall, and fct_events' own time from dbt's run
   results) per lake, the 365/7 ratio, and the full-build ratio beside it.
2. pruning: on the 365-day lake, bytes DuckDB reads for a last-7-days query against a full scan
   (footer cache warm, as in a dashboard's session; the cold first query is printed too).
3. rollups: dashboard queries on two years (730 days) of agg_events_daily / agg_funnel_daily:
   p50 and p99 latency over many runs in one DuckDB session.
4. scale: `--scale-events` events straight into a raw lake over 30 days, then one `dbt build`:
   wall time, events/s and peak RSS of the dbt process.
Everything runs under a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from eventlake.generator import GeneratorConfig
from eventlake.profiling import profile
from eventlake.rawlake import write_raw_lake

REPO = Path(__file__).resolve().parents[1]
DBT = Path(sys.executable).parent / "dbt"
START = dt.date(2025, 1, 1)


def run_dbt(work: Path, *args: str) -> tuple[float, dict[str, float]]:
    """Run dbt (`args`, e.g. "build") from work, on work/lake, work/warehouse.duckdb and, on the
    spark target, work/spark-warehouse (its metastore in work): (wall seconds, model -> seconds).
    """
    env = dict(
        os.environ,
        EVENTLAKE_LAKE_DIR=str(work / "lake"),
        EVENTLAKE_WAREHOUSE=str(work / "warehouse.duckdb"),
        EVENTLAKE_SPARK_WAREHOUSE=str(work / "spark-warehouse"),
        DBT_TARGET_PATH=str(work / "target"),
        DBT_LOG_PATH=str(work / "logs"),
    )
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    done = subprocess.run(
        [str(DBT), *args, "--profiles-dir", str(REPO), "--project-dir", str(REPO)],
        cwd=work, env=env, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"dbt {' '.join(args[:2])} failed:\n{done.stdout[-4000:]}")
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    return wall, {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results}


def dbt_build(work: Path, *args: str) -> tuple[float, dict[str, float]]:
    return run_dbt(work, "build", *args)


def lake_of(work: Path, days: int, per_day: int) -> None:
    config = GeneratorConfig(events=days * per_day, days=days, start_date=START, late_fraction=0)
    write_raw_lake(config, work / "lake")


def add_day(work: Path, day: dt.date, per_day: int, seed: int) -> None:
    config = GeneratorConfig(events=per_day, days=1, start_date=day, seed=seed, late_fraction=0)
    write_raw_lake(config, work / "lake", append=True)


def bench_incremental(root: Path, per_day: int, repeat: int) -> Path:
    rows = {}
    for days in (7, 365):
        work = root / f"lake{days}"
        lake_of(work, days, per_day)
        full_wall, full_models = dbt_build(work)
        walls, facts = [], []
        for k in range(repeat):
            add_day(work, START + dt.timedelta(days=days + k), per_day, seed=100 + k)
            wall, models = dbt_build(work)
            walls.append(wall)
            facts.append(models["fct_events"])
        rows[days] = (full_wall, full_models["fct_events"], statistics.median(walls),
                      statistics.median(facts))  # fmt: skip
        print(
            f"[incremental] {days:>3} days of history: full build {full_wall:6.1f} s "
            f"(fct_events {full_models['fct_events']:5.1f} s); add one day: dbt build "
            f"{statistics.median(walls):5.2f} s (fct_events {statistics.median(facts):5.2f} s), "
            f"median of {repeat}"
        )
    ratio = rows[365][2] / rows[7][2]
    print(
        f"[incremental] ratio 365/7 days: incremental build {ratio:.2f} "
        f"(fct_events {rows[365][3] / rows[7][3]:.2f}); full build {rows[365][0] / rows[7][0]:.2f} "
        f"(fct_events {rows[365][1] / rows[7][1]:.2f})"
    )
    return root / "lake365"


def bench_pruning(work: Path) -> None:
    folder = work / "lake" / "curated" / "fct_events"
    lake_bytes = sum(path.stat().st_size for path in folder.rglob("*.parquet"))
    last = (
        duckdb.connect(str(work / "warehouse.duckdb"), read_only=True)
        .sql("select max(event_date) from fct_events")
        .fetchall()[0][0]
    )
    week = f"""select country_code, event_type, count(*), sum(price) from fct_events
        where event_date > date '{last}' - interval 7 day group by all"""
    scan_all = "select country_code, event_type, count(*), sum(price) from fct_events group by all"
    every_column = "select * from fct_events"
    with duckdb.connect(str(work / "warehouse.duckdb"), read_only=True) as connection:
        connection.execute("set parquet_metadata_cache = true")
        cold = profile(connection, week)
        warm = profile(connection, week)
        full = profile(connection, scan_all)
        whole = profile(connection, every_column)
    print(
        f"[pruning] lake fct_events: {lake_bytes / 1e6:.1f} MB in {full.files_read} files; "
        f"last 7 days: {warm.files_read}/{warm.files_total} files, {warm.bytes_read / 1e6:.3f} MB "
        f"read = {warm.bytes_read / lake_bytes:.2%} of the lake (cold first query with every "
        f"footer: {cold.bytes_read / 1e6:.2f} MB); same query over all days: "
        f"{full.bytes_read / 1e6:.2f} MB; select *: {whole.bytes_read / 1e6:.1f} MB; "
        f"7-day/full-scan bytes ratio {warm.bytes_read / full.bytes_read:.4f}"
    )


DASHBOARD = {
    "revenue by country, last 30 days": """
        select country_code, sum(revenue) as revenue, sum(events) as events
        from agg_events_daily
        where event_date > (select max(event_date) from agg_events_daily) - interval 30 day
        group by 1 order by 2 desc""",
    "daily events by type, last 90 days": """
        select event_date, event_type, sum(events)
        from agg_events_daily
        where event_date > (select max(event_date) from agg_events_daily) - interval 90 day
        group by 1, 2""",
    "funnel by family, one year": """
        select product_family, sum(viewers), sum(carters), sum(purchasers)
        from agg_funnel_daily
        where event_date > (select max(event_date) from agg_funnel_daily) - interval 365 day
        group by 1""",
}


def bench_rollups(root: Path, per_day: int, runs: int = 200) -> None:
    work = root / "lake730"
    lake_of(work, 730, per_day)
    wall, _ = dbt_build(work)
    with duckdb.connect(str(work / "warehouse.duckdb"), read_only=True) as connection:
        rows = connection.sql("select count(*) from agg_events_daily").fetchall()[0][0]
        print(f"[rollups] 730 days, {rows} agg_events_daily rows (build {wall:.0f} s)")
        for name, sql in DASHBOARD.items():
            for _ in range(5):
                connection.sql(sql).fetchall()
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                connection.sql(sql).fetchall()
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            print(
                f"[rollups] {name}: p50 {statistics.median(times):.2f} ms, "
                f"p99 {times[int(len(times) * 0.99) - 1]:.2f} ms over {runs} runs"
            )


def bench_scale(root: Path, events: int) -> None:
    work = root / "scale"
    config = GeneratorConfig(events=events, days=30, start_date=START, late_fraction=0.02)
    started = time.perf_counter()
    write_raw_lake(config, work / "lake")
    written = time.perf_counter() - started
    raw = sum(p.stat().st_size for p in (work / "lake" / "raw").rglob("*.parquet"))
    wall, models = dbt_build(work)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    slowest = sorted(models.items(), key=lambda item: -item[1])[:4]
    print(
        f"[scale] {events:,} events over 30 days ({raw / 1e9:.2f} GB raw, written in "
        f"{written:.0f} s); dbt build {wall:.0f} s = {events / wall:,.0f} events/s; "
        f"peak RSS of dbt {peak:,.0f} MB; slowest: "
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in slowest)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale-events", type=int, default=50_000_000)
    parser.add_argument("--only", default="incremental,pruning,rollups,scale")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    root = Path(tempfile.mkdtemp(prefix="eventlake-bench-dbt-"))
    try:
        if parts & {"incremental", "pruning"}:
            year = bench_incremental(root, args.per_day, args.repeat)
            if "pruning" in parts:
                bench_pruning(year)
        if "rollups" in parts:
            bench_rollups(root, max(args.per_day // 4, 1000))
        if "scale" in parts:
            bench_scale(root, args.scale_events)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
