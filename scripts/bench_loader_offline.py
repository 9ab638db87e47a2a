"""The loader's writing path without a consume loop: CPU time per message of decode and flush.

    .venv/bin/python scripts/bench_loader_offline.py [--events 300000] [--repeat 3]

Each run, in a fresh process, generates the benchmark's traffic in memory as confluent_kafka
`Message` objects (keys hashed to 4 partitions; each poll holds one run of every partition, as
librdkafka returns them) and hands it, one poll of `EVENTLAKE_BATCH_SIZE` at a time, to the code
the writing thread runs: `Loader._handle`, the rotation, and the final flush (sort, Parquet,
checkpoints, the DLQ). Nothing else runs in the process, so its CPU time is the writing path's
alone: on a shared machine a far steadier figure than the end-to-end rates of
`bench_loader.py`, whose loader thread waits for CPU as often as for work. Starts its own broker
for the DLQ topic; the consumer group is never joined.
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
import zlib
from pathlib import Path

from confluent_kafka import Message

from eventlake.config import LoaderConfig, Settings
from eventlake.ingest.kafka import ensure_topics
from eventlake.ops.broker import LocalBroker
from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.sessions import chunk_stream

TOPIC = "bench-events"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _polls(events: int, partitions: int, batch_size: int) -> list[list[Message]]:
    """The generator's messages, keyed to partitions, cut into polls of runs per partition."""
    by_partition: list[list[Message]] = [[] for _ in range(partitions)]
    config = GeneratorConfig(events=events, days=14, malformed_fraction=0.0005)
    for chunk in chunk_stream(config):
        for key, value in zip(chunk.keys, chunk.values, strict=True):
            partition = zlib.crc32(key or b"") % partitions
            messages = by_partition[partition]
            messages.append(
                Message(
                    topic=TOPIC, partition=partition, offset=len(messages), key=key, value=value
                )
            )
    per_run = batch_size // partitions
    longest = max(len(messages) for messages in by_partition)
    return [
        [m for messages in by_partition for m in messages[start : start + per_run]]
        for start in range(0, longest, per_run)
    ]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_path(
    servers: str, lake_dir: Path, events: int, partitions: int, results: multiprocessing.Queue
) -> None:
    from eventlake.ingest.loader import Loader

    config = LoaderConfig.from_env()
    polls = _polls(events, partitions, config.batch_size)
    settings = Settings(
        bootstrap_servers=servers,
        topic=TOPIC,
        dlq_topic=f"{TOPIC}-dlq",
        group_id="bench-offline",
        lake_dir=lake_dir,
    )
    loader = Loader(settings, config, progress_every=3600)
    loader._assigned.update(range(partitions))  # what the rebalance callback would do
    cpu_before, started = _cpu_seconds(), time.perf_counter()
    for poll in polls:
        loader._handle(poll)
        loader._rotate()
    loader._flush_all()
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
    loader.dead_letters.close()
    results.put(
        {
            "messages": loader.progress.messages,
            "seconds": seconds,
            "cpu": cpu,
            "files": loader.progress.files,
            "lake_bytes": loader.progress.bytes_written,
            "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-offline-"))
    servers = f"127.0.0.1:{_free_port()}"
    broker = LocalBroker(servers, work / "broker")
    broker.start()
    try:
        ensure_topics(servers, {f"{TOPIC}-dlq": 1})
        context = multiprocessing.get_context("spawn")
        runs = []
        for run in range(args.repeat):
            results = context.Queue()
            lake_dir = work / f"lake-{run}"
            process = context.Process(
                target=write_path,
                args=(servers, lake_dir, args.events, args.partitions, results),
            )
            process.start()
            outcome = results.get(timeout=1800)
            process.join()
            shutil.rmtree(lake_dir, ignore_errors=True)
            runs.append(outcome)
            print(
                f"run {run + 1}: {outcome['messages']:,} messages, "
                f"{outcome['cpu'] / outcome['messages'] * 1e6:.2f} us CPU a message, "
                f"{outcome['messages'] / outcome['seconds']:,.0f} msg/s wall, "
                f"{outcome['files']} files, {outcome['lake_bytes'] / 1e6:.1f} MB",
                flush=True,
            )
        cpu = statistics.median(r["cpu"] / r["messages"] * 1e6 for r in runs)
        rate = statistics.median(r["messages"] / r["seconds"] for r in runs)
        print(
            f"median of {args.repeat}: {cpu:.2f} us CPU a message ({cpu:.1f} CPU s per million), "
            f"{rate:,.0f} msg/s on one thread, peak RSS {max(r['rss'] for r in runs):.0f} MB"
        )
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
