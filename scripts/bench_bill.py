"""What a query's bill costs to produce, and what it says, as history grows.

    .venv/bin/python scripts/bench_bill.py [--days 7,365,730] [--per-day 1024] [--runs 30]
        [--work DIR] [--json FILE]

For each history length: a lake of that many days (`--per-day` events a day, written straight
into the raw lake) built with `dbt build` on a SQLite catalog. Then, on one warm read-only
connection, `--runs` bills each of a one-day and a last-7-days query on `events`
(`eventlake sql --bill`; nothing runs): the median time to produce the bill (target < 100 ms,
flat in history: ratio <= 1.5 between the longest and the shortest history), and the one-day
bill against the full-scan bill (target <= 2 / days).

Lakes live under a temporary folder, removed at the end, or under `--work`, kept and reused.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

from eventlake.dbt.runner import run_dbt
from eventlake.lake.bill import bill
from eventlake.lake.lakehouse import connect
from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.lake_writer import write_raw_lake

START = dt.date(2024, 1, 1)


def built_lake(work: Path, days: int, per_day: int) -> tuple[Path, str]:
    folder = work / f"days-{days}"
    lake, catalog = folder / "lake", f"sqlite:{folder / 'lakehouse.sqlite'}"
    if not (folder / "built").exists():
        config = GeneratorConfig(
            events=days * per_day, days=days, start_date=START, late_fraction=0.0
        )
        write_raw_lake(config, lake)
        done = run_dbt(
            "build",
            "--select",
            "+events",
            "--indirect-selection",
            "cautious",
            env={
                "EVENTLAKE_LAKE_DIR": str(lake),
                "EVENTLAKE_CATALOG": catalog,
                "DBT_TARGET_PATH": str(folder / "target"),
                "DBT_LOG_PATH": str(folder / "logs"),
            },
        )
        if done.returncode != 0:
            raise SystemExit(f"dbt build failed on {days} days:\n{done.stdout[-3000:]}")
        (folder / "built").touch()
    return lake, catalog


def measure(lake: Path, catalog: str, days: int, runs: int) -> dict[str, float]:
    last = START + dt.timedelta(days=days - 1)
    queries = {
        "one_day": f"select count(*), sum(price) from events where event_date = date '{last}'",
        "last_7_days": (
            "select country_code, count(*) from events"
            f" where event_date > date '{last}' - 7 group by 1"
        ),
    }
    figures: dict[str, float] = {}
    with connect(catalog, lake, read_only=True) as connection:
        full = bill(connection, "select * from events")
        for name, sql in queries.items():
            bill(connection, sql)  # warm: the first bill loads the catalog's tables
            seconds = []
            for _ in range(runs):
                started = time.perf_counter()
                billed = bill(connection, sql)
                seconds.append(time.perf_counter() - started)
            figures[f"{name}_ms"] = statistics.median(seconds) * 1000
            figures[f"{name}_bytes"] = billed.bytes
            figures[f"{name}_files"] = billed.files
        one_day = bill(connection, queries["one_day"].replace("count(*), sum(price)", "*"))
        figures["files_total"] = full.files_total
        figures["one_day_share_of_full_scan"] = one_day.bytes / full.bytes
        figures["two_over_days"] = 2 / days
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", default="7,365,730")
    parser.add_argument("--per-day", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    lengths = [int(days) for days in args.days.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-bill-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        results = {
            days: measure(*built_lake(work, days, args.per_day), days, args.runs)
            for days in lengths
        }
    shortest, longest = results[min(lengths)], results[max(lengths)]
    header = ("days", "files", "1-day ms", "7-day ms", "1-day/full", "2/days")
    print("{:>5} {:>6} {:>9} {:>9} {:>11} {:>8}".format(*header))
    for days, figures in results.items():
        print(
            f"{days:>5} {figures['files_total']:>6.0f} {figures['one_day_ms']:>9.1f}"
            f" {figures['last_7_days_ms']:>9.1f} {figures['one_day_share_of_full_scan']:>11.5f}"
            f" {figures['two_over_days']:>8.5f}"
        )
    ratios = {
        name: longest[f"{name}_ms"] / shortest[f"{name}_ms"] for name in ("one_day", "last_7_days")
    }
    print(
        f"bill time {max(lengths)}/{min(lengths)} days: one day x{ratios['one_day']:.2f},"
        f" last 7 days x{ratios['last_7_days']:.2f} (target <= 1.5); target < 100 ms"
    )
    if len(lengths) > 2:  # the shortest lake may hold no more than the 7-day query reads
        middle = results[sorted(lengths)[-2]]
        print(
            f"bill time {max(lengths)}/{sorted(lengths)[-2]} days: one day"
            f" x{longest['one_day_ms'] / middle['one_day_ms']:.2f}, last 7 days"
            f" x{longest['last_7_days_ms'] / middle['last_7_days_ms']:.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
