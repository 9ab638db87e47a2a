"""The lake in a bucket: loader throughput against local disk, and what a `+1 day` build costs
in requests and bytes.

    .venv/bin/python scripts/bench_s3.py [--events 1000000] [--repeat 3]     (make bench-s3)

Starts its own broker and an S3-compatible server on loopback (moto's server mode, with a
request counter in front: scripts/s3_counting_server.py, in a process of its own), produces the
generator's traffic once (14 days), then alternates the loader into (a) a folder on local disk
and (b) a bucket, `--repeat` times, each in a fresh process and consumer group; rates divide by
the time of the polls that returned messages. Then, on the last bucket lake: `dbt build`, one
more day of traffic loaded, and the `+1 day` build, whose requests (LIST, GET, HEAD, PUT, POST,
DELETE) and bytes are counted. Prints medians, the ratio b/a and the counts per operation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pyarrow.fs as pafs

from eventlake.config import LoaderConfig, Settings
from eventlake.dbt.runner import PRODUCTION_BUILD, PROJECT_DIR, run_dbt
from eventlake.ingest.kafka import ensure_topics
from eventlake.ops.broker import LocalBroker
from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.produce import produce

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_loader import _free_port, _run, load  # noqa: E402

BUCKET = "eventlake-bench"


def counts(endpoint: str, *, reset: bool) -> dict:
    """The counting server's tallies since the last reset (and start over when reset)."""
    request = urllib.request.Request(f"{endpoint}/_counts", method="POST" if reset else "GET")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def print_counts(title: str, tally: dict) -> None:
    requests = tally["requests"]
    print(f"{title}: {sum(requests.values()):,} requests")
    for kind in sorted(requests):
        print(
            f"  {kind:<7} {requests[kind]:>7,}  "
            f"up {tally['bytes_sent_to_server'].get(kind, 0) / 1e6:>9,.2f} MB  "
            f"down {tally['bytes_sent_by_server'].get(kind, 0) / 1e6:>9,.2f} MB"
        )


def erase_one_subject(endpoint: str, lake: str) -> None:
    """The erasure lake pass for one subject on the bucket, its requests counted: the user
    found in the most raw objects (as the demo erases the most active user: the worst case)."""
    import duckdb

    from eventlake.erasure.lake_rewrite import Subject, erase_from_lake
    from eventlake.erasure.subjects import subject_hash
    from eventlake.lake.lakehouse import install_extensions
    from eventlake.lake.storage import lake_storage

    storage = lake_storage(lake)
    with duckdb.connect() as connection:
        install_extensions(connection)
        storage.configure(connection)
        user_id, objects = connection.execute(
            "select user_id, count(distinct filename) from read_parquet(?, filename = true) "
            "group by 1 order by 2 desc, 1 limit 1",
            [storage.uri("raw/events/*/*.parquet")],
        ).fetchone()
    subject = Subject("bench-1", user_id, subject_hash(user_id, Settings().subject_hash_key))
    counts(endpoint, reset=True)
    result = erase_from_lake(lake, [subject])
    tally = counts(endpoint, reset=True)
    rewritten = sum(o.files_rewritten + o.files_removed for o in result.objects.values())
    rows = sum(sum(o.rows_deleted.values()) for o in result.objects.values())
    seconds = result.seconds_find + result.seconds_rewrite
    print()
    print_counts(
        f"erasure lake pass, one subject in {objects} raw objects ({result.files_in_lake} "
        f"objects searched, {rewritten} rewritten, {rows} rows; {seconds:.1f} s)",
        tally,
    )


def start_s3(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("s3_counting_server.py")),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            counts(endpoint, reset=True)
            return server
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_REGION="us-east-1",
    )
    s3 = start_s3(port)
    from eventlake.lake.storage import S3Settings

    S3Settings.from_env().filesystem(admin=True).create_dir(BUCKET)
    servers = f"127.0.0.1:{_free_port()}"
    broker = LocalBroker(servers, work / "broker")
    broker.start()
    try:
        topic = "bench-events"
        ensure_topics(servers, {topic: args.partitions, f"{topic}-dlq": 1})
        today = dt.datetime.now(dt.UTC).date()
        base = GeneratorConfig(
            events=args.events,
            days=args.days,
            start_date=today - dt.timedelta(days=args.days + 1),
            malformed_fraction=0.0005,
        )
        truth = produce(base, servers, topic)
        total = truth.events + truth.duplicates + truth.malformed
        print(f"produced {total:,} messages over {args.days} days")

        def settings(kind: str, run: int, lake: Path | str) -> Settings:
            return Settings(
                bootstrap_servers=servers,
                topic=topic,
                dlq_topic=f"{topic}-dlq",
                group_id=f"bench-{kind}-{run}-{uuid.uuid4().hex[:6]}",
                lake_dir=lake,
                catalog=f"sqlite:{work / 'lakehouse.sqlite'}",
            )

        disk_runs, bucket_runs, loads = [], [], []
        for run in range(args.repeat):
            disk = _run(load, settings("disk", run, work / f"lake-{run}"))
            shutil.rmtree(work / f"lake-{run}", ignore_errors=True)
            counts(endpoint, reset=True)
            bucket = _run(load, settings("s3", run, f"s3://{BUCKET}/lake-{run}"))
            loads.append(counts(endpoint, reset=True))
            for outcome in (disk, bucket):
                assert outcome["messages"] == total, (outcome, total)
            disk_runs.append(disk)
            bucket_runs.append(bucket)
            print(
                f"run {run + 1}: disk {disk['messages'] / disk['seconds']:,.0f} msg/s, "
                f"bucket {bucket['messages'] / bucket['seconds']:,.0f} msg/s "
                f"({bucket['files']} files)"
            )
        disk_rate = statistics.median(r["messages"] / r["seconds"] for r in disk_runs)
        bucket_rate = statistics.median(r["messages"] / r["seconds"] for r in bucket_runs)
        print()
        print(f"messages per run          {total:,}")
        print(f"(a) loader to local disk  {disk_rate:,.0f} msg/s")
        print(f"(b) loader to the bucket  {bucket_rate:,.0f} msg/s")
        print(f"ratio b/a                 {bucket_rate / disk_rate:.2f}")
        print_counts("one load into the bucket (the last run)", loads[-1])

        # The +1 day build on the last bucket lake.
        lake = f"s3://{BUCKET}/lake-{args.repeat - 1}"
        env = {
            "EVENTLAKE_LAKE_DIR": lake,
            "EVENTLAKE_CATALOG": f"sqlite:{work / 'lakehouse.sqlite'}",
            "DBT_TARGET_PATH": str(work / "target"),
            "DBT_LOG_PATH": str(work / "logs"),
        }

        def build(title: str) -> dict:
            counts(endpoint, reset=True)
            started = time.perf_counter()
            done = run_dbt(*PRODUCTION_BUILD, cwd=PROJECT_DIR, env=env, timeout=3600)
            seconds = time.perf_counter() - started
            assert done.returncode == 0, done.stdout[-4000:]
            tally = counts(endpoint, reset=True)
            print()
            print_counts(f"{title} ({seconds:.0f} s)", tally)
            return tally

        build("first build, every day")
        day = GeneratorConfig(
            events=args.events // args.days,
            days=1,
            start_date=today - dt.timedelta(days=1),
            seed=43,
            malformed_fraction=0.0005,
        )
        added = produce(day, servers, topic)
        loaded = _run(load, settings("s3", args.repeat, lake))
        print(f"\n+1 day: {loaded['messages']:,} messages loaded ({added.events:,} events)")
        build("+1 day build")
        listing = pafs.FileSelector(f"{BUCKET}/lake-{args.repeat - 1}", recursive=True)
        objects = [
            i
            for i in S3Settings.from_env().filesystem().get_file_info(listing)
            if i.type == pafs.FileType.File
        ]
        print(
            f"\nthe bucket lake: {len(objects):,} objects, "
            f"{sum(i.size for i in objects) / 1e6:,.1f} MB, "
            f"{truth.events + added.events:,} events"
        )
        erase_one_subject(endpoint, lake)
        print(f"loader config: {LoaderConfig.from_env()}")
    finally:
        broker.stop()
        s3.terminate()
        s3.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
