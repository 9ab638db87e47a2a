"""Producing the simulated stream to Kafka (and timing the generator)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter

from eventlake.exceptions import BrokerError
from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.sessions import chunk_stream, generate
from eventlake.simulate.truth import GroundTruth

log = logging.getLogger(__name__)


def produce(
    cfg: GeneratorConfig,
    bootstrap_servers: str,
    topic: str,
    *,
    producer_config: dict | None = None,
    flush_timeout: float = 120.0,
) -> GroundTruth:
    """Send every generated message to ``topic``; return the ground truth once all are acked.

    Raises ``BrokerError`` (an ``EventlakeError``) when any delivery fails or does not finish
    within ``flush_timeout`` seconds after the last message.
    """
    from confluent_kafka import KafkaError, Producer

    from eventlake.ingest.kafka import produce as produce_with_backpressure
    from eventlake.ingest.kafka import producer_config as shared_config
    from eventlake.ingest.kafka_health import kafka_health

    errors: Counter[str] = Counter()
    fatal: list[str] = []
    health = kafka_health(bootstrap_servers)

    def on_delivery(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            errors[str(error)] += 1

    def on_error(error: KafkaError) -> None:
        health.on_error(error)  # an unreachable broker: one line, not one per retry
        if error.fatal():
            fatal.append(str(error))

    config = shared_config(
        bootstrap_servers,
        **{
            "linger.ms": 25,
            "batch.size": 1_000_000,
            "delivery.report.only.error": True,
            "on_delivery": on_delivery,
            "error_cb": on_error,
        },
    )
    config.update(producer_config or {})
    producer = Producer(config)
    send = producer.produce
    truth = GroundTruth()
    sent = 0
    started = time.perf_counter()
    for chunk in chunk_stream(cfg, truth):
        for key, value in zip(chunk.keys, chunk.values, strict=True):
            try:  # the hot path: a bound method, positional arguments
                send(topic, value, key)
            except BufferError:
                produce_with_backpressure(producer, topic, value, key=key)
        producer.poll(0)
        sent += len(chunk.values)
        if fatal:
            break
        log.debug("produced %d messages", sent)
    left = producer.flush(flush_timeout)
    elapsed = time.perf_counter() - started
    if errors or fatal or left:
        detail = "; ".join(
            [f"fatal: {f}" for f in fatal] + [f"{n} x {e}" for e, n in errors.items()]
        )
        raise BrokerError(
            f"expected all {sent} messages delivered to {topic!r} at {bootstrap_servers}, but "
            f"{errors.total()} failed and {left} were still queued {flush_timeout}s after the "
            f"last: {detail or 'no error detail'}"
        )
    log.info(
        "produced %d messages (%d events) to %s in %.1fs: %.0f events/s",
        sent,
        truth.events,
        topic,
        elapsed,
        truth.events / elapsed if elapsed else 0.0,
    )
    return truth


def bench(n: int = 1_000_000, **overrides: object) -> float:
    """Generate ``n`` events as ``Message`` lists and return (and log) valid events per second.

    Run by hand, e.g.
    ``python -c "from eventlake.simulate.produce import bench; print(bench())"``.
    """
    cfg = GeneratorConfig(events=n, start_date=dt.date(2025, 1, 1), **overrides)
    started = time.perf_counter()
    messages = sum(len(chunk) for chunk in generate(cfg))
    elapsed = time.perf_counter() - started
    rate = n / elapsed
    log.info(
        "generated %d events (%d messages) in %.2fs: %.0f events/s", n, messages, elapsed, rate
    )
    return rate
