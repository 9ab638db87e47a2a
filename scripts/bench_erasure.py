"""Lake erasure benchmark: what finding costs, and one pass for many subjects against one each.

    .venv/bin/python scripts/bench_erasure.py [--work DIR] [--events 10000000] [--days 14]
        [--seed 7]

A raw lake of --events events over --days days is written once, straight from the generator
(write_raw_lake, as `eventlake generate-lake`), under --work and reused by later runs. Each run
copies it twice (cp -r), then:

1. on the first copy, one pass each erasing 1, 100 and 1,000 random users present in the lake
   (three disjoint sets);
2. on the second copy, the same 100 users as the 100-batch, one request and one pass each.

With --lakehouse, whole orchestrator passes (`eventlake erasure process`: intake through the
broker, the raw lake's rewrite, dbt's erase_subjects (DuckLake deletes in every model), the
dbt build that recomputes the rollups, and the lakehouse purge: files with deleted rows
rewritten, older snapshots expired, old files deleted): a local broker is started, and on
fresh copies of the lake a lakehouse is built (a SQLite catalog beside it), then one pass
erases the first user, and on another copy one pass erases the 100; with --passes N, N of the
100 are then erased one request and one pass each on a third copy. Each pass prints its wall
time and the purge's own figures (EVENTLAKE_ERASURE_CLEANUP_GRACE_SECONDS of it are the
readers' grace, --grace here).

Prints per pass: wall time (finding + rewriting), bytes read to find and their share of the
lake's bytes, files rewritten or removed against files in the lake; then the ratio of the 100
single passes to the 100-batch, and whether the one-subject pass touched exactly the files that
held the subject. The lake sits in the page cache: times are CPU, bytes are what was asked of
the file system (rchar).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from eventlake.config import Settings
from eventlake.erasure.lake_rewrite import LakeErasure, Subject, erase_from_lake
from eventlake.erasure.subjects import subject_hash
from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.lake_writer import write_raw_lake

START = dt.date(2025, 1, 1)
KEY = Settings().subject_hash_key
BATCHES = (1, 100, 1_000)


@dataclass
class Passes:
    """One or more erasure passes added up."""

    label: str
    passes: int = 0
    wall: float = 0.0
    find: float = 0.0
    rewrite: float = 0.0
    bytes_read: int = 0
    touched: int = 0
    files_in_lake: int = 0
    bytes_in_lake: int = 0

    def add(self, result: LakeErasure, wall: float) -> None:
        self.passes += 1
        self.wall += wall
        self.find += result.seconds_find
        self.rewrite += result.seconds_rewrite
        self.bytes_read += result.bytes_read_to_find
        self.touched += sum(o.files_rewritten + o.files_removed for o in result.objects.values())
        self.files_in_lake = result.files_in_lake
        self.bytes_in_lake = result.bytes_in_lake

    def row(self) -> str:
        share = self.bytes_read / self.passes / self.bytes_in_lake
        return (
            f"| {self.label:<28} | {self.wall:8.1f} | {self.find:7.1f} | {self.rewrite:9.1f} | "
            f"{self.bytes_read / 1e6:11.1f} | {share:9.2%} | "
            f"{self.touched:>6} / {self.files_in_lake} |"
        )


def cached_lake(work: Path, events: int, days: int) -> Path:
    """The benchmark's raw lake, written on the first run and reused (a marker says complete)."""
    lake_dir = work / f"lake-{events}-{days}d"
    marker = lake_dir / ".complete"
    if not marker.exists():
        shutil.rmtree(lake_dir, ignore_errors=True)
        started = time.perf_counter()
        write_raw_lake(GeneratorConfig(events=events, days=days, start_date=START), lake_dir)
        marker.touch()
        print(f"wrote the lake in {time.perf_counter() - started:.0f} s: {lake_dir}")
    return lake_dir


def copy_of(lake_dir: Path, target: Path) -> Path:
    subprocess.run(["cp", "-r", str(lake_dir), str(target)], check=True)
    return target


def erase(lake_dir: Path, users: list[str], into: Passes) -> LakeErasure:
    subjects = [Subject(f"bench-{n}", u, subject_hash(u, KEY)) for n, u in enumerate(users)]
    started = time.perf_counter()
    result = erase_from_lake(lake_dir, subjects)
    into.add(result, time.perf_counter() - started)
    return result


def orchestrated(
    source: Path, runs: Path, one: list[str], hundred: list[str], singles: int, grace: int
) -> None:
    """Whole orchestrator passes on the lakehouse: the first user in one, the 100 in one, then
    `singles` of them one each."""
    import os
    import socket
    import statistics

    from eventlake.dbt.runner import PRODUCTION_BUILD
    from eventlake.erasure.orchestrator import Dbt, ErasureConfig, process
    from eventlake.erasure.subjects import ErasureRequest
    from eventlake.erasure.topics import publish_requests
    from eventlake.ops.broker import LocalBroker

    repo = Path(__file__).resolve().parents[1]
    os.environ["DBT_TARGET_PATH"] = str(runs / "target")
    os.environ["DBT_LOG_PATH"] = str(runs / "logs")
    config = ErasureConfig(stream_stores=(), cleanup_grace_seconds=grace)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        servers = f"127.0.0.1:{probe.getsockname()[1]}"
    broker = LocalBroker(servers, runs / "broker")
    broker.start()
    print(
        "| pass | wall s | raw lake s | purge s | files rewritten (raw) | lakehouse files "
        "rewritten | snapshots expired | files deleted |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    timings: dict[str, list[float]] = {}
    try:
        plan = [("one", [one]), ("batch", [hundred])]
        if singles:
            plan.append(("single", [[u] for u in hundred[:singles]]))
        for label, batches in plan:
            lake_dir = copy_of(source, runs / f"{label}-lake")
            settings = Settings(
                bootstrap_servers=servers,
                lake_dir=lake_dir,
                catalog=f"sqlite:{runs / f'{label}.sqlite'}",
                erasure_topic=f"erasure-{label}",
                confirmation_topic=f"confirmations-{label}",
            )
            started = time.perf_counter()
            Dbt(settings, repo)(*PRODUCTION_BUILD)
            print(f"({label}: dbt build of the lakehouse {time.perf_counter() - started:.0f} s)")
            for n, batch in enumerate(batches):
                now = dt.datetime.now(dt.UTC)
                requests = [ErasureRequest(f"{label}-{n}-{i}", u, now) for i, u in enumerate(batch)]
                started = time.perf_counter()
                publish_requests(settings, requests)
                report = process(settings, config, project_dir=repo)
                wall = time.perf_counter() - started
                timings.setdefault(label, []).append(wall)
                assert len(report.erased) == len(batch) and report.build_ok, report
                assert report.purge is not None and report.purge.done, report.purge
                lake, purge = report.lake, report.purge
                raw = sum(o.files_rewritten + o.files_removed for o in lake.objects.values())
                print(
                    f"| {len(batch)} subject(s), {label} | {wall:.1f} | "
                    f"{lake.seconds_find + lake.seconds_rewrite:.1f} | {purge.seconds:.1f} | "
                    f"{raw} / {lake.files_in_lake} | {purge.files_rewritten} | "
                    f"{purge.snapshots_expired} | {purge.files_removed} |"
                )
    finally:
        broker.stop()
    one_pass, batch = timings["one"][0], timings["batch"][0]
    print(f"orchestrator: 1 subject in one pass {one_pass:.1f} s, 100 in one pass {batch:.1f} s")
    if singles:
        single = statistics.median(timings["single"])
        print(
            f"one request a pass: median {single:.1f} s over {len(timings['single'])} passes; "
            f"100 of them would take {100 * single / batch:.1f}x the 100 in one pass"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench-erasure")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--lakehouse",
        action="store_true",
        help="Also time whole orchestrator passes on the lakehouse: 1 subject, the 100 in one.",
    )
    parser.add_argument(
        "--passes",
        type=int,
        default=0,
        help="Also this many of the 100 one request and one pass each (implies --lakehouse).",
    )
    parser.add_argument(
        "--grace", type=int, default=10, help="The purge's cleanup grace, seconds (default 10)."
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    source = cached_lake(args.work, args.events, args.days)
    raw = f"{source}/raw/events/*/*.parquet"
    users = sorted(u for (u,) in duckdb.sql(f"select distinct user_id from '{raw}'").fetchall())
    drawn = random.Random(args.seed).sample(users, sum(BATCHES))
    one, hundred, thousand = drawn[:1], drawn[1:101], drawn[101:]
    holding_one = duckdb.execute(
        f"select count(distinct filename) from read_parquet('{raw}', filename = true) "
        "where user_id = ?",
        one,
    ).fetchall()[0][0]

    runs = Path(tempfile.mkdtemp(prefix="run-", dir=args.work))
    try:
        batched = copy_of(source, runs / "batched")
        singles = copy_of(source, runs / "singles")
        rows = {n: Passes(f"{n:,} in one pass") for n in BATCHES}
        first = erase(batched, one, rows[1])
        erase(batched, hundred, rows[100])
        erase(batched, thousand, rows[1_000])
        each = Passes("the 100, one pass each")
        for user in hundred:
            erase(singles, [user], each)
        shutil.rmtree(batched)
        shutil.rmtree(singles)
        if args.lakehouse or args.passes:
            orchestrated(source, runs, one, hundred, args.passes, args.grace)
    finally:
        shutil.rmtree(runs, ignore_errors=True)

    print(
        f"lake: {args.events:,} events over {args.days} days, {first.files_in_lake} files, "
        f"{first.bytes_in_lake / 1e6:.1f} MB, {len(users):,} users"
    )
    print(
        "| subjects                     |   wall s |  find s | rewrite s | MB read to find "
        "| % of lake | files touched / in lake |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for passes in (*rows.values(), each):
        print(passes.row())
    print("(% of lake: per pass; for the 100 single passes, their mean)")
    print(f"100 single passes / 100 in one pass, wall time: {each.wall / rows[100].wall:.1f}x")
    touched = rows[1].touched
    print(
        f"one subject: {touched} files touched, {holding_one} held it "
        f"({'exactly those' if touched == holding_one else 'MISMATCH'}); finding read "
        f"{rows[1].bytes_read / rows[1].bytes_in_lake:.2%} of the lake's bytes"
    )


if __name__ == "__main__":
    main()
