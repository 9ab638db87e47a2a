"""Run `dbt build` on a fixed interval, never two at once: the analytics view's refresh loop.

The next run starts at max(previous start + interval, previous end): a build that overruns its
interval is followed at once by the next, never overlapped. A failing build is logged with its
exit code and the loop goes on. SIGINT and SIGTERM stop the loop between runs; during a run they
are forwarded to dbt (started in its own process group, so a terminal's Ctrl-C reaches it once)
and the loop waits for it to finish before stopping.

dbt builds into the lakehouse named by EVENTLAKE_CATALOG and EVENTLAKE_LAKE_DIR (profiles.yml),
which the runs get from the caller's settings. Each run holds the lake's maintenance lock
exclusively: builds, erasure, compaction and retention write the lakehouse one at a time (a
SQLite catalog takes one writer), while readers, who take no lock, go on reading.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from eventlake.exceptions import ConfigError
from eventlake.lake.lock import LakeLock

log = logging.getLogger(__name__)

_INTERVAL = re.compile(r"^\s*(\d+)\s*([smh])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class ScheduleConfig:
    """What the loop runs and how often."""

    command: tuple[str, ...]
    """The command of one run (argv), for example dbt build with its flags."""
    every: float = 15 * 60
    """Seconds from the start of one run to the start of the next (unless a run overruns)."""
    cwd: Path | None = None
    """Working directory of the runs (the dbt project's root); the current one when None."""
    lock: LakeLock | None = None
    """The lake's maintenance lock, held during each run (erasure, compaction and retention
    take it too, so the lakehouse has one writer at a time); none when None."""
    then: tuple[tuple[str, ...], ...] = ()
    """Commands run in order after a successful run, as part of it (the online store's load of
    the batch features); the first failure ends the run with its exit status."""
    env: Mapping[str, str] | None = None
    """Variables set for the runs on top of this process's environment (Settings.dbt_env():
    the catalog and lake dbt builds into); none when None."""

    def __post_init__(self) -> None:
        if not self.command:
            raise ConfigError("expected a command to run, got an empty one")
        if self.every <= 0:
            raise ConfigError(f"expected a positive interval, got {self.every} seconds")


def parse_interval(text: str) -> float:
    """'30s', '15m', '1h' -> seconds."""
    match = _INTERVAL.match(text)
    if not match or int(match[1]) == 0:
        raise ConfigError(f"expected an interval like 30s, 15m or 1h (positive), got {text!r}")
    return float(int(match[1]) * _UNIT_SECONDS[match[2]])


def next_start(started: float, ended: float, every: float) -> float:
    """When the next run starts: an interval after the last start, but never before it ended."""
    return max(started + every, ended)


CRON_EXAMPLE = (
    "*/15 * * * * cd /path/to/eventlake && flock -n /tmp/eventlake-run-analytics.lock "
    ".venv/bin/eventlake run-analytics --once"
)


def exit_status(returncode: int) -> int:
    """A child killed by signal N reports -N; a shell says 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


class Scheduler:
    """The run loop; stop() (or a stop signal once handlers are installed) ends it cleanly."""

    def __init__(
        self, config: ScheduleConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.clock = clock
        self.runs = 0
        self.on_run: Callable[[int, float], None] | None = None
        """Called after each run with its exit status and wall time (the metrics observer)."""
        self._stop = threading.Event()
        self._signal = signal.SIGTERM
        self._child: subprocess.Popen | None = None

    def install_signal_handlers(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, lambda received, _frame: self.stop(received))

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """End the loop after the current run; a running child gets the signal too."""
        if not self._stop.is_set():
            log.info("stopping (signal %d)", signum)
            self._signal = signum
        self._stop.set()
        child = self._child
        if child is not None and child.poll() is None:
            log.info("forwarding signal %d to the running build (pid %d)", signum, child.pid)
            child.send_signal(signum)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @contextlib.contextmanager
    def _lake_lock(self) -> Iterator[bool]:
        """Hold the lake's lock; yields False when stopped while waiting for it."""
        if self.config.lock is None:
            yield True
            return
        with self.config.lock.hold(stop=self._stop) as locked:
            yield locked

    def run_once(self) -> int:
        """One run, to its end; returns its exit status."""
        with self._lake_lock() as locked:
            if not locked:
                log.info("stopped while waiting for %s: no run", self.config.lock)
                return 128 + self._signal
            started = self.clock()
            status = self._run_child(self.config.command)
            for command in self.config.then:
                if status != 0 or self._stop.is_set():
                    break
                status = self._run_child(command)
            self.runs += 1
            if self.on_run is not None:
                self.on_run(status, self.clock() - started)
            return status

    def _run_child(self, command: tuple[str, ...]) -> int:
        started = self.clock()
        log.info("run %d: %s", self.runs + 1, " ".join(command))
        env = None if self.config.env is None else {**os.environ, **self.config.env}
        self._child = subprocess.Popen(
            command, cwd=self.config.cwd, env=env, start_new_session=True
        )
        if self._stop.is_set():  # a signal came between the check and the start
            self._child.send_signal(self._signal)
        try:
            returncode = self._child.wait()
        finally:
            self._child = None
        status = exit_status(returncode)
        elapsed = self.clock() - started
        if status == 0:
            log.info("run %d: %s succeeded in %.1f s", self.runs + 1, command[0], elapsed)
        else:
            log.error(
                "run %d: %s failed with exit code %d after %.1f s",
                self.runs + 1,
                command[0],
                status,
                elapsed,
            )
        return status

    def run(self, *, once: bool = False) -> int:
        """Loop until stopped (0), or with once=True run once and return its exit status."""
        if once:
            return self.run_once()
        at = self.clock()
        while not self._stop.wait(max(at - self.clock(), 0.0)):
            started = self.clock()
            self.run_once()
            ended = self.clock()
            at = next_start(started, ended, self.config.every)
            if ended > started + self.config.every:
                log.warning(
                    "the run took %.0f s, longer than the %.0f s interval: the next starts now",
                    ended - started,
                    self.config.every,
                )
            elif not self._stop.is_set():
                log.info("next run in %.0f s", at - ended)
        log.info("stopped after %d runs", self.runs)
        return 0


def run_schedule(
    command: Sequence[str],
    every: float,
    *,
    once: bool = False,
    cwd: Path | None = None,
    lock: LakeLock | None = None,
    then: Sequence[Sequence[str]] = (),
    env: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    handle_signals: bool = True,
    on_run: Callable[[int, float], None] | None = None,
) -> int:
    """Run `command` every `every` seconds without overlap; see Scheduler.run for the result."""
    config = ScheduleConfig(
        tuple(command), every, cwd, lock, then=tuple(tuple(c) for c in then), env=env
    )
    scheduler = Scheduler(config, clock=clock)
    scheduler.on_run = on_run
    if handle_signals:
        scheduler.install_signal_handlers()
    return scheduler.run(once=once)
