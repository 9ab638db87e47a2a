"""`eventlake up`: every long-lived process of one host, started together, stopped together.

    eventlake load                     Kafka events -> lake/raw
    eventlake stream online            Kafka events -> personalization online store
    eventlake stream fraud             Kafka events -> fraud store
    eventlake run-analytics --every …  dbt build into the lakehouse (then the online store's
                                       batch load from its published dim_user_features)

Each runs as its own child process (one crash cannot take the others' state with it). Ctrl-C or
SIGTERM is forwarded to every child, which finishes its batch and exits; the supervisor waits
for all of them. When one child exits on its own, the others are stopped too and `up` exits
non-zero, so whatever runs `up` (systemd, Kubernetes) restarts the whole set; every process
resumes from its own offsets, so a restart loses and repeats nothing. All of them read the
same environment (EVENTLAKE_CATALOG, EVENTLAKE_LAKE_DIR, ...): one lakehouse, one lake.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class Child:
    name: str
    command: tuple[str, ...]
    env: Mapping[str, str] | None = None
    """Variables set for the child on top of the supervisor's environment."""


def eventlake_command(*args: str) -> tuple[str, ...]:
    """This interpreter running the eventlake CLI: the same package the parent runs."""
    return (sys.executable, "-m", "eventlake.cli", *args)


def default_children(every: str) -> list[Child]:
    return [
        Child("loader", eventlake_command("load")),
        Child("online", eventlake_command("stream", "online")),
        Child("fraud", eventlake_command("stream", "fraud")),
        Child(
            "analytics",
            eventlake_command("run-analytics", "--every", every, "--materialize-online"),
        ),
    ]


def with_metrics_ports(
    children: Sequence[Child], ports: Sequence[int]
) -> tuple[list[Child], dict[str, str]]:
    """Each child serving its metrics on its own loopback port (EVENTLAKE_METRICS_PORT), and the
    URL of each, for the parent's single endpoint (eventlake.ops.federate)."""
    placed = [
        Child(c.name, c.command, {**(c.env or {}), "EVENTLAKE_METRICS_PORT": str(port)})
        for c, port in zip(children, ports, strict=True)
    ]
    urls = {c.name: f"http://127.0.0.1:{c.env['EVENTLAKE_METRICS_PORT']}/metrics" for c in placed}
    return placed, urls


class Supervisor:
    def __init__(self, children: Sequence[Child], *, grace_seconds: float = 60.0) -> None:
        self.children = list(children)
        self.grace_seconds = grace_seconds
        self._stop = threading.Event()
        self._signal = signal.SIGTERM
        self._running: dict[str, subprocess.Popen] = {}

    def install_signal_handlers(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, lambda received, _frame: self.stop(received))

    def stop(self, signum: int = signal.SIGTERM) -> None:
        self._signal = signum
        self._stop.set()

    def run(self) -> int:
        """Start every child; returns 0 after a requested stop, 1 when a child ended first."""
        for child in self.children:
            # Own session: a Ctrl-C at the terminal reaches the supervisor only, which then
            # stops the children in order instead of all of them at once mid-batch.
            env = None if child.env is None else {**os.environ, **child.env}
            self._running[child.name] = subprocess.Popen(
                child.command, env=env, start_new_session=True
            )
            log.info("started %s (pid %d)", child.name, self._running[child.name].pid)
        status = 0
        while not self._stop.wait(0.5):
            ended = [name for name, process in self._running.items() if process.poll() is not None]
            if ended:
                for name in ended:
                    log.error(
                        "%s exited with %d: stopping the others",
                        name,
                        self._running[name].returncode,
                    )
                status = 1
                break
        self._shutdown()
        return status

    def _shutdown(self) -> None:
        for name, process in self._running.items():
            if process.poll() is None:
                log.info("stopping %s (pid %d)", name, process.pid)
                process.send_signal(self._signal)
        deadline = time.monotonic() + self.grace_seconds
        for name, process in self._running.items():
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.error("%s did not stop in %.0f s: killed", name, self.grace_seconds)
                process.kill()
                process.wait()
            log.info("%s exited with %d", name, process.returncode)
