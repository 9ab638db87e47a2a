"""Loader benchmark: (a) raw consume of the same messages, (b) the loader end to end.

    .venv/bin/python scripts/bench_loader.py [--events 1000000] [--repeat 3]

Starts its own broker on a free loopback port, produces the generator's traffic once, then
alternates (a) and (b) `--repeat` times, each in a fresh process (so peak RSS is the run's own)
and a fresh consumer group. Both rates divide by the time of the poll iterations that returned
messages (group joins and idle polls excluded). Prints the medians and the ratio b/a.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import socket
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, KafkaError

from eventlake.config import LoaderConfig, Settings
from eventlake.ingest.kafka import consumer_config, ensure_topics
from eventlake.ops.broker import LocalBroker
from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.produce import produce


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raw_consume(settings: Settings, partitions: int, results: multiprocessing.Queue) -> None:
    """The limit: the same consumer settings, touching each value and nothing else."""
    consumer = Consumer(
        consumer_config(
            settings.bootstrap_servers,
            settings.group_id,
            LoaderConfig.session_timeout_ms,
            **{"auto.offset.reset": "earliest"},
        )
    )
    consumer.subscribe([settings.topic])
    messages = size = 0
    busy = 0.0
    at_end: set[int] = set()
    while len(at_end) < partitions:
        started = time.perf_counter()
        batch = consumer.consume(LoaderConfig.batch_size, 1.0)
        for message in batch:
            error = message.error()
            if error is None:
                messages += 1
                size += len(message.value() or b"")
            elif error.code() == KafkaError._PARTITION_EOF:
                at_end.add(message.partition())
        if batch:
            busy += time.perf_counter() - started
    consumer.close()
    results.put({"messages": messages, "bytes": size, "seconds": busy, "rss": _peak_rss_mb()})


def load(settings: Settings, results: multiprocessing.Queue) -> None:
    from eventlake.ingest.loader import Loader

    progress = Loader(settings, LoaderConfig.from_env(), progress_every=3600).run(once=True)
    results.put(
        {
            "messages": progress.messages,
            "events": progress.events,
            "files": progress.files,
            "lake_bytes": progress.bytes_written,
            "seconds": progress.busy_seconds,
            "rss": _peak_rss_mb(),
        }
    )


def _run(target, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=target, args=(*args, results))
    process.start()
    outcome = results.get(timeout=1800)
    process.join()
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-loader-"))
    servers = f"127.0.0.1:{_free_port()}"
    broker = LocalBroker(servers, work / "broker")
    broker.start()
    try:
        topic = "bench-events"
        ensure_topics(servers, {topic: args.partitions, f"{topic}-dlq": 1})
        started = time.perf_counter()
        truth = produce(
            GeneratorConfig(events=args.events, days=args.days, malformed_fraction=0.0005),
            servers,
            topic,
        )
        produced = time.perf_counter() - started
        total = truth.events + truth.duplicates + truth.malformed
        print(f"produced {total:,} messages in {produced:.1f} s ({total / produced:,.0f} msg/s)")

        raw_runs, load_runs = [], []
        for run in range(args.repeat):

            def settings(kind: str, run: int = run) -> Settings:
                return Settings(
                    bootstrap_servers=servers,
                    topic=topic,
                    dlq_topic=f"{topic}-dlq",
                    group_id=f"bench-{kind}-{run}-{uuid.uuid4().hex[:6]}",
                    lake_dir=work / f"lake-{run}",
                )

            raw = _run(raw_consume, settings("raw"), args.partitions)
            loaded = _run(load, settings("load"))
            shutil.rmtree(work / f"lake-{run}", ignore_errors=True)
            for outcome in (raw, loaded):
                assert outcome["messages"] == total, (outcome, total)
            raw_runs.append(raw)
            load_runs.append(loaded)
            print(
                f"run {run + 1}: raw {raw['messages'] / raw['seconds']:,.0f} msg/s, "
                f"loader {loaded['messages'] / loaded['seconds']:,.0f} msg/s, "
                f"loader peak RSS {loaded['rss']:.0f} MB"
            )

        def median(runs: list[dict], key) -> float:
            return statistics.median(key(r) for r in runs)

        raw_rate = median(raw_runs, lambda r: r["messages"] / r["seconds"])
        load_rate = median(load_runs, lambda r: r["messages"] / r["seconds"])
        mb = raw_runs[0]["bytes"] / 1e6
        print()
        print(f"messages per run        {total:,} ({mb:,.0f} MB of JSON values)")
        print(f"(a) raw consume         {raw_rate:,.0f} msg/s  {mb * raw_rate / total:,.1f} MB/s")
        print(f"(b) loader to Parquet   {load_rate:,.0f} msg/s  {mb * load_rate / total:,.1f} MB/s")
        print(f"ratio b/a               {load_rate / raw_rate:.2f}")
        print(f"loader peak RSS         {max(r['rss'] for r in load_runs):.0f} MB (max of runs)")
        print(f"raw consume peak RSS    {max(r['rss'] for r in raw_runs):.0f} MB")
        lake_mb = statistics.median(r["lake_bytes"] for r in load_runs) / 1e6
        print(
            f"lake size               {lake_mb:,.1f} MB in {load_runs[0]['files']} files "
            f"({lake_mb * 1e6 / truth.events:.1f} bytes/event, JSON {mb * 1e6 / total:.0f})"
        )
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
