"""The same builds and erasure on DuckDB and on Spark (local[2]), over copies of one raw lake.

    .venv/bin/python scripts/bench_spark.py [--events 5000000] [--days 10] [--subjects 10]

Needs the `spark` extra (`make test-spark` installs it; `make bench-spark` runs this).
1. build: `dbt run --select +fct_events agg_events_daily dim_user_features` on each target: wall
   time, fct_events' own time (dbt's run results) and its events/s.
2. erasure of `--subjects` users (the most active ones, so every date is touched):
   DuckDB's path is the Python lake pass (raw and curated files) then `erase_subjects`;
   Spark's is `erase_subjects` alone, which rewrites the curated partitions in the engine.
   Then the next build (recomputes the rewritten dates downstream) on each.
Each dbt invocation on Spark starts a JVM (about 15 s here): the figures include it, as a
scheduled job pays it too. Everything runs under a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
from bench_dbt import run_dbt as dbt

from eventlake.erasure.lake_rewrite import Subject, erase_from_lake
from eventlake.erasure.subjects import subject_hash
from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.lake_writer import write_raw_lake

SELECTION = ["+fct_events", "agg_events_daily", "dim_user_features"]
KEY = "eventlake-dev-key"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--subjects", type=int, default=10)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="eventlake-bench-spark-"))
    try:
        config = GeneratorConfig(
            events=args.events, days=args.days, start_date=dt.date(2026, 1, 1), late_fraction=0
        )
        write_raw_lake(config, root / "duckdb" / "lake")
        shutil.copytree(root / "duckdb" / "lake", root / "spark" / "lake")
        targets = {"duckdb": (), "spark": ("--target", "spark")}

        for name, target in targets.items():
            wall, models = dbt(root / name, "run", "--select", *SELECTION, *target)
            print(
                f"[build] {name}: {args.events:,} events over {args.days} days: dbt run "
                f"{wall:.0f} s; fct_events {models['fct_events']:.1f} s = "
                f"{args.events / models['fct_events']:,.0f} events/s"
            )

        users = duckdb.sql(
            f"select user_id from read_parquet('{root}/duckdb/lake/curated/fct_events/*/*.parquet')"
            f" group by 1 order by count(*) desc, 1 limit {args.subjects}"
        ).fetchall()
        subjects = [
            Subject(f"bench-{n}", user, subject_hash(user, KEY)) for n, (user,) in enumerate(users)
        ]
        requests = json.dumps(
            {"requests": [{"request_id": s.request_id, "subject_hash": s.subject_hash}
                          for s in subjects]}
        )  # fmt: skip
        ids = [s.request_id for s in subjects]
        for name, target in targets.items():
            work = root / name
            dbt(work, "run-operation", "record_erasure_requests", "--args", requests, *target)
            lake_seconds, erase_args = 0.0, {"request_ids": ids}
            if name == "duckdb":
                started = time.perf_counter()
                lake = erase_from_lake(work / "lake", subjects)
                lake_seconds = time.perf_counter() - started
                erase_args["lake_partitions"] = {
                    key.removeprefix("curated/"): sorted(found.partitions)
                    for key, found in lake.objects.items()
                    if key.startswith("curated/") and found.partitions
                }
                erase_args["recompute_requests"] = ids
            macro, _ = dbt(
                work, "run-operation", "erase_subjects", "--args", json.dumps(erase_args), *target
            )
            rebuild, models = dbt(work, "run", "--select", *SELECTION, *target)
            print(
                f"[erasure] {name}: {len(subjects)} subjects on every date: lake pass "
                f"{lake_seconds:.1f} s, erase_subjects {macro:.1f} s, next dbt run {rebuild:.0f} s"
                f" (fct_events {models['fct_events']:.1f} s)"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
