"""Consumer lag, from what a consumer has seen fetched rather than from broker watermarks alone.

The local broker (Tansu) answers a watermark query (ListOffsets) with a wrong high watermark
(0..1 whatever the partition holds), while the watermark carried by each fetch response is
right. So the end of a partition is the larger of the fetch-cached high watermark and the
consumer's own position, never the queried one:

- a running consumer (`PartitionLag`): end = max(cached high watermark, position), lag = end
  minus the group's committed position (the lake checkpoint, the store's offsets);
- `eventlake status` (`group_lag`), with no consumer running: a throw-away consumer assigned at
  the group's committed offsets fetches one message per partition; that fetch brings the high
  watermark, and the message's timestamp says how old the oldest unprocessed message is.

Lag in seconds for a running consumer is kafka-lag-exporter's estimate: the process remembers
when the partition's end reached each offset, and the lag is how long ago the end was where the
committed position is now (interpolated), 0 when caught up.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from eventlake.exceptions import BrokerError


class LagTracker:
    """(end offset, time) samples per partition, and the lag in seconds they imply."""

    def __init__(self, keep: int = 720, clock: Callable[[], float] = time.time) -> None:
        self.keep = keep
        self.clock = clock
        self._ends: dict[tuple[str, int], deque[tuple[int, float]]] = {}

    def observe(self, key: tuple[str, int], end: int, committed: int) -> tuple[int, float]:
        """Note the partition's end now; (lag in messages, lag in seconds)."""
        now = self.clock()
        history = self._ends.setdefault(key, deque(maxlen=self.keep))
        if not history or end > history[-1][0]:
            history.append((end, now))
        messages = max(end - committed, 0)
        if messages == 0:
            return 0, 0.0
        ends = [offset for offset, _ in history]
        index = bisect_right(ends, committed)  # the first sample whose end passed committed
        if index >= len(history):
            return messages, 0.0
        end_after, at_after = history[index]
        if index == 0:
            return messages, max(now - at_after, 0.0)  # before our memory: a lower bound
        end_before, at_before = history[index - 1]
        share = (committed - end_before) / (end_after - end_before)
        reached = at_before + share * (at_after - at_before)
        return messages, max(now - reached, 0.0)


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int
    """The group's next offset to process (-1: nothing committed: from the start)."""
    end: int
    """The partition's end as a fetch saw it."""
    messages: int
    seconds: float
    """Now minus the timestamp of the oldest message not processed (0 when caught up)."""


def group_lag(
    bootstrap_servers: str,
    group_id: str,
    topic: str,
    *,
    timeout: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> list[PartitionLag]:
    """Lag of `group_id` on every partition of `topic`, read from the topic and the group's
    committed offsets (no member of the group needs to run). BrokerError when the broker does
    not answer or the topic is missing."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=timeout)
        except Exception as error:  # noqa: BLE001 - KafkaException and friends
            raise BrokerError(f"no Kafka broker answered at {bootstrap_servers}: {error}") from None
        if topic not in metadata.topics or metadata.topics[topic].error is not None:
            raise BrokerError(f"topic {topic!r} does not exist on {bootstrap_servers}")
        partitions = [TopicPartition(topic, p) for p in sorted(metadata.topics[topic].partitions)]
        committed = {tp.partition: tp.offset for tp in consumer.committed(partitions, timeout)}
        # The group's own offsets are read, never moved: this consumer commits nothing.
        consumer.assign(
            [
                TopicPartition(topic, p, offset if offset >= 0 else OFFSET_BEGINNING)
                for p, offset in committed.items()
            ]
        )
        oldest: dict[int, float] = {}
        answered: set[int] = set()
        deadline = time.monotonic() + timeout
        while answered < set(committed) and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None:
                continue
            error = message.error()
            if error is not None and error.code() != KafkaError._PARTITION_EOF:
                continue
            if message.partition() in answered:
                continue
            answered.add(message.partition())
            if error is None:
                _, stamp = message.timestamp()
                oldest[message.partition()] = stamp / 1000 if stamp > 0 else clock()
                consumer.pause([TopicPartition(topic, message.partition())])
        if answered < set(committed):
            missing = sorted(set(committed) - answered)
            raise BrokerError(f"{topic!r} partitions {missing} gave no fetch in {timeout:.0f} s")
        now = clock()
        lags = []
        for partition, offset in committed.items():
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), cached=True
            )
            start = offset if offset >= 0 else max(low, 0)
            end = max(high, start)
            messages = end - start
            seconds = max(now - oldest[partition], 0.0) if partition in oldest else 0.0
            lags.append(PartitionLag(topic, partition, offset, end, messages, seconds))
        return lags
    finally:
        consumer.close()
