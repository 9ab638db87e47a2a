"""A dependency says its outage once and its recovery once. The clock is an argument, so
minutes of outage take no time here."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from eventlake.exceptions import UnreachableError
from eventlake.ops.health import Dependency


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
