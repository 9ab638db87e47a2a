"""The services a process depends on (Kafka, Redis, the catalog): up or down, said once.

A dead broker used to print twenty client lines a second, forever. Instead a process holds one
`Dependency` per service and marks it down on each failure and up on each success; only the
changes speak:
- the first failure logs ONE line at ERROR naming the service, its address and the reason
  (`kafka unreachable at 127.0.0.1:9 (Connection refused); retrying`); more failures say
  nothing, but a reminder every `remind_every` seconds, so a long outage stays visible in the
  log without flooding it;
- the recovery logs one INFO line, with how long the service was gone;
- `eventlake_up{dependency=...}` is 1 up, 0 down, for the alert (EventlakeDependencyDown).

A following process retries forever; a one-shot command (`--once`) gives up once the service
has been unreachable for a bounded wait (`give_up_after`), raising UnreachableError (exit 1).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from eventlake.exceptions import UnreachableError
from eventlake.ops.metrics import DEPENDENCY_UP

log = logging.getLogger(__name__)

T = TypeVar("T")

REMIND_EVERY = 300.0
"""Seconds between two reminders that a service is still down."""


class Dependency:
    """One service this process needs, at one address. Thread-safe: a client's callbacks and a
    metrics scrape may run on other threads than the one that marks it up."""

    def __init__(
        self,
        name: str,
        address: str,
        *,
        hint: str = "",
        remind_every: float = REMIND_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        """The `dependency` label: kafka, redis, catalog."""
        self.address = address
        """Where the process looks for it, as the operator configured it (no password)."""
        self.hint = hint
        """What to check when giving up, e.g. the variable that holds the address."""
        self.remind_every = remind_every
        self.clock = clock
        self.reason = ""
        """Why the last failure failed (the client's own words)."""
        self._up: bool | None = None  # None: not known yet
        self._since = clock()  # of the last change; since creation while unknown
        self._said = 0.0
        self._lock = threading.Lock()

    @property
    def is_up(self) -> bool | None:
        """True up, False down, None before the first success or failure."""
        return self._up

    def down(self, reason: str) -> None:
        """A call failed: log the first failure (and a reminder now and then), set the gauge."""
        with self._lock:
            now = self.clock()
            self.reason = reason
            if self._up is not False:
                self._up, self._since, self._said = False, now, now
                DEPENDENCY_UP.labels(self.name).set(0)
                log.error("%s unreachable at %s (%s); retrying", self.name, self.address, reason)
            elif now - self._said >= self.remind_every:
                self._said = now
                log.error(
                    "%s still unreachable at %s after %s (%s); retrying",
                    self.name,
                    self.address,
                    _duration(now - self._since),
                    reason,
                )

    def up(self) -> None:
        """A call succeeded: after an outage, say so once."""
        if self._up:  # the common case, without the lock
            return
        with self._lock:
            now = self.clock()
            if self._up is False:
                log.info(
                    "%s reachable again at %s (after %s)",
                    self.name,
                    self.address,
                    _duration(now - self._since),
                )
            self._up, self._since = True, now
            DEPENDENCY_UP.labels(self.name).set(1)

    def down_for(self) -> float:
        """Seconds since the service was last seen up (since this object was made when it
        never was): 0 while it is up or not known to be down."""
        if self._up is not False:
            return 0.0
        with self._lock:
            return self.clock() - self._since

    def give_up_after(self, seconds: float) -> None:
        """Raise UnreachableError once the service has been down for `seconds`: the bounded
        wait of a one-shot command."""
        down_for = self.down_for()
        if down_for >= seconds:
            raise self.unreachable(down_for)

    def unreachable(self, down_for: float | None = None) -> UnreachableError:
        """The error a one-shot command ends with."""
        waited = f" for {_duration(down_for)}" if down_for else ""
        hint = f": is it running? ({self.hint})" if self.hint else ""
        return UnreachableError(
            f"{self.name} unreachable at {self.address}{waited} ({self.reason}); gave up{hint}"
        )


def wait_for(
    dependency: Dependency,
    attempt: Callable[[], T],
    failures: tuple[type[BaseException], ...],
    *,
    give_up_after: float | None,
    retry_every: float = 1.0,
    stopped: Callable[[], bool] = lambda: False,
    reason: Callable[[BaseException], str] = lambda error: getattr(error, "reason", str(error)),
) -> T | None:
    """attempt() until it succeeds, marking the dependency down on each failure of one of
    `failures` and up on success. With give_up_after (a one-shot command), UnreachableError
    once the service has been down that long; without, forever. None when stopped() first."""
    while True:
        try:
            result = attempt()
        except failures as error:
            dependency.down(reason(error))
            if give_up_after is not None:
                dependency.give_up_after(give_up_after)
        else:
            dependency.up()
            return result
        deadline = time.monotonic() + retry_every
        while time.monotonic() < deadline:
            if stopped():
                return None
            time.sleep(min(0.1, retry_every))


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
