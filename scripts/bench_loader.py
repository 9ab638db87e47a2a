"""Loader benchmark: (a) a bare consume loop, (r) the minimal reference pipeline, (b) the loader.

    .venv/bin/python scripts/bench_loader.py [--events 1000000] [--repeat 3]

Starts its own broker on a free loopback port, produces the generator's traffic once, then
runs (a), (r) and (b) in turn `--repeat` times, each in a fresh process (so peak RSS and CPU
time are the run's own) and a fresh consumer group, all on the same topic. Every rate divides by
the time of the poll iterations that returned messages (group joins and idle polls excluded).
Prints the medians, each pipeline's ratio to (a), peak RSS and CPU seconds per million messages
(user + system time of the whole process, from getrusage).

(r) is the floor's reference: the bare loop plus `pyarrow.json.read_json` on the joined values,
an offset column and one zstd Parquet file per batch, with no contract, no sort, no Bloom filter,
no checkpoint. What the loader costs beyond (r) is its own machinery. The topic holds malformed
messages, so the floor does the least that lets it run at all: only values that start with `{`
and end with `}` are joined (checked in the loop that already touches every message), and a
read that fails is retried in 32 parts down to single messages, which are dropped.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import resource
import shutil
import socket
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq
from confluent_kafka import Consumer, KafkaError

from eventlake.config import LoaderConfig, Settings
from eventlake.ingest.contract import load_contract
from eventlake.ingest.kafka import consumer_config, ensure_topics
from eventlake.ops.broker import LocalBroker
from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.produce import produce


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cpu_seconds() -> float:
    """User + system time of this process so far, every thread."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _usage(cpu_before: float) -> dict:
    """Peak RSS (MB) and the CPU seconds spent since cpu_before (imports left out)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rss": rss, "cpu": _cpu_seconds() - cpu_before}


def _consumer(settings: Settings) -> Consumer:
    """The loader's consumer settings, reading the topic from its start."""
    return Consumer(
        consumer_config(
            settings.bootstrap_servers,
            settings.group_id,
            LoaderConfig.session_timeout_ms,
            **{"auto.offset.reset": "earliest"},
        )
    )


def raw_consume(settings: Settings, partitions: int, results: multiprocessing.Queue) -> None:
    """The limit: the same consumer settings, touching each value and nothing else."""
    cpu_before = _cpu_seconds()
    consumer = _consumer(settings)
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
    results.put({"messages": messages, "bytes": size, "seconds": busy, **_usage(cpu_before)})


_REFERENCE_PARSE = pa_json.ParseOptions(explicit_schema=load_contract().parse_schema)
_FIELDS = _REFERENCE_PARSE.explicit_schema.names


def _read_json(values: list[bytes], offsets: list[int]) -> list[pa.Table]:
    """The batch's objects: the contract's fields, typed as in the loader, and their offsets.

    A read that fails is retried in 32 parts down to single messages, and a single message that
    fails is dropped: the floor routes no rejects."""
    try:
        table = pa_json.read_json(io.BytesIO(b"\n".join(values)), parse_options=_REFERENCE_PARSE)
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        if len(values) == 1:
            return []
    else:
        if table.num_rows == len(values):
            return [table.select(_FIELDS).append_column("_offset", pa.array(offsets, pa.int64()))]
        if len(values) == 1:
            return []
    step = -(-len(values) // 32)
    return [
        part
        for i in range(0, len(values), step)
        for part in _read_json(values[i : i + step], offsets[i : i + step])
    ]


def reference(settings: Settings, partitions: int, results: multiprocessing.Queue) -> None:
    """The floor's reference: the bare loop, read_json on the joined values, an offset column
    and one zstd Parquet file per batch."""
    out = Path(settings.lake_dir) / "reference"
    out.mkdir(parents=True, exist_ok=True)
    cpu_before = _cpu_seconds()
    consumer = _consumer(settings)
    consumer.subscribe([settings.topic])
    messages = size = rows = files = written = 0
    busy = 0.0
    at_end: set[int] = set()
    while len(at_end) < partitions:
        started = time.perf_counter()
        batch = consumer.consume(LoaderConfig.batch_size, 1.0)
        values, offsets = [], []
        for message in batch:
            error = message.error()
            if error is None:
                value = message.value()
                messages += 1
                if value:
                    size += len(value)
                    if value[0] == 123 and value[-1] == 125:  # only objects reach the reader
                        values.append(value)
                        offsets.append(message.offset())
            elif error.code() == KafkaError._PARTITION_EOF:
                at_end.add(message.partition())
        tables = _read_json(values, offsets) if values else []
        if tables:
            table = pa.concat_tables(tables)
            path = out / f"{files:06d}.parquet"
            pq.write_table(table, path, compression="zstd")
            rows += table.num_rows
            files += 1
            written += path.stat().st_size
        if batch:
            busy += time.perf_counter() - started
    consumer.close()
    results.put(
        {
            "messages": messages,
            "bytes": size,
            "events": rows,
            "files": files,
            "lake_bytes": written,
            "seconds": busy,
            **_usage(cpu_before),
        }
    )


def load(settings: Settings, results: multiprocessing.Queue) -> None:
    from eventlake.ingest.loader import Loader

    loader = Loader(settings, LoaderConfig.from_env(), progress_every=3600)
    cpu_before = _cpu_seconds()
    progress = loader.run(once=True)
    results.put(
        {
            "messages": progress.messages,
            "events": progress.events,
            "files": progress.files,
            "lake_bytes": progress.bytes_written,
            "seconds": progress.busy_seconds,
            "handoff_wait": progress.handoff_wait_seconds,
            "writer_wait": progress.writer_wait_seconds,
            "consumer_cpu": progress.consumer_cpu_seconds,
            "writer_cpu": progress.writer_cpu_seconds,
            **_usage(cpu_before),
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
    parser.add_argument(
        "--pipelines",
        default="raw,reference,loader",
        help="comma-separated subset of raw,reference,loader (e.g. to profile one alone)",
    )
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

        pipelines = {
            "raw": ("(a) bare consume loop", raw_consume, (args.partitions,)),
            "reference": ("(r) reference pipeline", reference, (args.partitions,)),
            "loader": ("(b) loader to Parquet", load, ()),
        }
        chosen = [name for name in pipelines if name in args.pipelines.split(",")]
        runs: dict[str, list[dict]] = {name: [] for name in chosen}
        for run in range(args.repeat):

            def settings(kind: str, run: int = run) -> Settings:
                return Settings(
                    bootstrap_servers=servers,
                    topic=topic,
                    dlq_topic=f"{topic}-dlq",
                    group_id=f"bench-{kind}-{run}-{uuid.uuid4().hex[:6]}",
                    lake_dir=work / f"lake-{run}-{kind}",
                )

            line = []
            for name in chosen:
                _, target, extra = pipelines[name]
                outcome = _run(target, settings(name), *extra)
                shutil.rmtree(work / f"lake-{run}-{name}", ignore_errors=True)
                assert outcome["messages"] == total, (name, outcome, total)
                runs[name].append(outcome)
                line.append(
                    f"{name} {outcome['messages'] / outcome['seconds']:,.0f} msg/s "
                    f"({outcome['rss']:.0f} MB, {outcome['cpu']:.1f} s CPU)"
                )
            print(f"run {run + 1}: " + ", ".join(line), flush=True)

        def median(name: str, key) -> float:
            return statistics.median(key(r) for r in runs[name])

        def rate(r: dict) -> float:
            return r["messages"] / r["seconds"]

        base = median(chosen[0], rate)
        mb = max(r[0].get("bytes", 0) for r in runs.values()) / 1e6  # the loader counts none
        print()
        print(f"messages per run           {total:,} ({mb:,.0f} MB of JSON values)")
        print(f"{'':26} {'msg/s':>9} {'MB/s':>6} {'ratio':>6} {'peak RSS':>9} {'CPU s/M msg':>12}")
        for name in chosen:
            label = pipelines[name][0]
            median_rate = median(name, rate)
            cpu = median(name, lambda r: r["cpu"]) / total * 1e6
            rss = max(r["rss"] for r in runs[name])
            print(
                f"{label:26} {median_rate:9,.0f} {mb * median_rate / total:6.1f} "
                f"{median_rate / base:6.2f} {rss:6.0f} MB {cpu:12.1f}"
            )
        print(f"(medians of {args.repeat} runs; ratio to {pipelines[chosen[0]][0]}; RSS: max)")
        if "loader" in runs:
            print(
                "loader threads (medians): consuming thread "
                f"{median('loader', lambda r: r['consumer_cpu']):.1f} s CPU, waited "
                f"{median('loader', lambda r: r['handoff_wait']):.1f} s for the writer; "
                f"writing thread {median('loader', lambda r: r['writer_cpu']):.1f} s CPU, "
                f"waited {median('loader', lambda r: r['writer_wait']):.1f} s for batches; "
                f"busy {median('loader', lambda r: r['seconds']):.1f} s"
            )
            lake_mb = median("loader", lambda r: r["lake_bytes"]) / 1e6
            print(
                f"lake size                  {lake_mb:,.1f} MB in {runs['loader'][0]['files']} "
                f"files ({lake_mb * 1e6 / truth.events:.1f} bytes/event, JSON "
                f"{mb * 1e6 / total:.0f})"
            )
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
