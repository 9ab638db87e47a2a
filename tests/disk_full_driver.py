"""The lake-disk-full run of tests/ops/test_faults.py, inside its own user and mount namespace:

    unshare --user --map-root-user --mount \
        sh -c 'mount -t tmpfs -o size=4m tmpfs DIR && python -m tests.disk_full_driver DIR ROOM'

A tmpfs lives as long as the namespace's processes, so everything that needs the full disk runs
here: fill DIR (the lake's disk) up to ROOM free bytes with a filler file, run `eventlake load
--once` (configured by the environment: broker, topic, group; the broker is on loopback, which
the namespace shares), record what it said and what the lake and the group hold afterwards,
delete the filler, run the loader again, and read back every event id the lake holds. The
findings go to stdout as one JSON object for the test to judge.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from confluent_kafka import Consumer, TopicPartition

from eventlake.ingest.kafka import consumer_config
from eventlake.lake import layout


def fill(disk: Path, room: int) -> Path:
    """A filler file that leaves `room` bytes free on the disk."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    filler = disk / "filler"
    with open(filler, "wb") as sink:
        sink.truncate(0)
        sink.write(b"\0" * max(free - room, 0))
    return filler


def load_once(lake: Path) -> dict:
    env = dict(os.environ, EVENTLAKE_LAKE_DIR=str(lake))
    done = subprocess.run(
        [sys.executable, "-m", "eventlake.cli", "load", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def lake_state(lake: Path, topic: str, partitions: int) -> dict:
    """Checkpoints, every file (hidden ones too) and the event ids of every Parquet file."""
    files = sorted(str(p.relative_to(lake)) for p in lake.rglob("*") if p.is_file())
    ids = []
    for path in sorted((lake / layout.RAW_EVENTS).rglob("*.parquet")):
        ids.extend(pq.read_table(path, columns=["event_id"])["event_id"].to_pylist())
    checkpoints = {
        str(p): layout.read_checkpoint(lake, topic, p).next_offset for p in range(partitions)
    }
    return {"files": files, "event_ids": ids, "checkpoints": checkpoints}


def group_offsets(topic: str, partitions: int) -> dict:
    """The loader group's committed Kafka offsets (negative: none)."""
    consumer = Consumer(
        consumer_config(
            os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["EVENTLAKE_GROUP_ID"], 6000
        )
    )
    try:
        committed = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=10
        )
    finally:
        consumer.close()
    return {str(tp.partition): tp.offset for tp in committed}


def main(disk: Path, room: int) -> None:
    topic = os.environ["EVENTLAKE_TOPIC"]
    partitions = int(os.environ.get("DRIVER_PARTITIONS", "4"))
    lake = disk / "lake"
    lake.mkdir()
    filler = fill(disk, room)
    full = load_once(lake)
    after_full = lake_state(lake, topic, partitions)
    offsets_after_full = group_offsets(topic, partitions)
    filler.unlink()
    freed = load_once(lake)
    print(
        json.dumps(
            {
                "full": full,
                "after_full": after_full,
                "group_offsets_after_full": offsets_after_full,
                "freed": freed,
                "after_freed": lake_state(lake, topic, partitions),
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
