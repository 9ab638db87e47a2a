"""A dependency says its outage once and its recovery once; the Kafka client's own lines stay
few. The clock is an argument, so minutes of outage take no time here."""

from __future__ import annotations

import logging
import time

import pytest
from confluent_kafka import Consumer
from prometheus_client import REGISTRY

from eventlake.exceptions import UnreachableError
from eventlake.ingest.kafka import consumer_config
from eventlake.ingest.kafka_logs import ClientLogFilter
from eventlake.ops.health import Dependency
from tests.conftest import free_port


def up(name: str) -> float | None:
    return REGISTRY.get_sample_value("eventlake_up", {"dependency": name})


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def said(caplog, logger: str) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == logger]


def test_an_outage_is_one_line_a_reminder_now_and_then_and_one_line_when_it_ends(caplog):
    caplog.set_level(logging.INFO)
    clock = Clock()
    store = Dependency("test-store", "127.0.0.1:1", remind_every=300, clock=clock)
    assert store.is_up is None and up("test-store") is None  # not known: not exported

    for _ in range(200):  # a client retrying every second for 200 s
        store.down("Connection refused")
        clock.now += 1
    assert said(caplog, "eventlake.ops.health") == [
        ("ERROR", "test-store unreachable at 127.0.0.1:1 (Connection refused); retrying"),
    ]
    assert up("test-store") == 0
    assert store.down_for() == 200

    clock.now += 100
    store.down("Connection refused")
    clock.now += 1
    store.down("Connection refused")
    store.up()
    store.up()
    assert said(caplog, "eventlake.ops.health")[1:] == [
        ("ERROR", "test-store still unreachable at 127.0.0.1:1 after 5 min (Connection refused); "
                  "retrying"),
        ("INFO", "test-store reachable again at 127.0.0.1:1 (after 5 min)"),
    ]  # fmt: skip
    assert up("test-store") == 1
    assert store.down_for() == 0


def test_a_one_shot_command_gives_up_after_the_bounded_wait_with_exit_code_1():
    clock = Clock()
    kafka = Dependency("test-broker", "127.0.0.1:9", hint="KAFKA_BOOTSTRAP_SERVERS", clock=clock)
    kafka.give_up_after(30)  # not known to be down: no reason to give up
    kafka.down("Connection refused")
    clock.now += 29
    kafka.give_up_after(30)
    clock.now += 1
    with pytest.raises(UnreachableError) as raised:
        kafka.give_up_after(30)
    assert str(raised.value) == (
        "test-broker unreachable at 127.0.0.1:9 for 30 s (Connection refused); gave up: "
        "is it running? (KAFKA_BOOTSTRAP_SERVERS)"
    )
    assert raised.value.exit_code == 1


def record(message: str, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("client-test", level, __file__, 1, "%s", (message,), None)


def test_the_client_log_filter_lets_one_line_of_a_kind_through_a_minute():
    clock = Clock()
    limit = ClientLogFilter(every=60, clock=clock)
    passed = []
    for n in range(120):  # two minutes of one kind of line, numbers varying
        line = record(
            f"FAIL [rdkafka#consumer-1] 10.0.0.{n % 3}:9092/1: Disconnected (after {n}ms)"
        )
        if limit.filter(line):
            passed.append(line.getMessage())
        clock.now += 1
    assert passed == [
        "FAIL [rdkafka#consumer-1] 10.0.0.0:9092/1: Disconnected (after 0ms)",
        "FAIL [rdkafka#consumer-1] 10.0.0.0:9092/1: Disconnected (after 60ms) "
        "(59 more like it in the last 60 s)",
    ]
    assert limit.filter(record("another kind of line"))


def test_the_client_log_filter_leaves_connection_failures_to_the_dependency():
    limit = ClientLogFilter()
    failure = record(
        "FAIL [rdkafka#consumer-1] [thrd:127.0.0.1:9/bootstrap]: 127.0.0.1:9/bootstrap: "
        "Connect to ipv4#127.0.0.1:9 failed: Connection refused (after 0ms in state CONNECT)",
        logging.ERROR,
    )
    logging.getLogger("client-test").setLevel(logging.INFO)
    assert not limit.filter(failure)
    logging.getLogger("client-test").setLevel(logging.DEBUG)  # -v
    failure.levelno, failure.levelname = logging.ERROR, "ERROR"
    assert limit.filter(failure) and failure.levelname == "DEBUG"


def test_a_consumer_of_a_dead_broker_logs_one_line_naming_it_and_nothing_raw(caplog, capfd):
    caplog.set_level(logging.DEBUG, logger="eventlake.ops.health")
    caplog.set_level(logging.INFO, logger="eventlake.kafka.client")
    address = f"127.0.0.1:{free_port()}"
    consumer = Consumer(consumer_config(address, "faults", 6000))
    consumer.subscribe(["events"])
    deadline = time.monotonic() + 2  # librdkafka retries every ~50 ms: ~40 attempts
    while time.monotonic() < deadline:
        consumer.consume(100, 0.2)
    consumer.close()

    assert said(caplog, "eventlake.ops.health") == [
        ("ERROR", f"kafka unreachable at {address} (Connection refused); retrying"),
    ]
    assert said(caplog, "eventlake.kafka.client") == []
    assert "%3|" not in capfd.readouterr().err  # librdkafka's own stderr lines
