"""The Kafka client's (librdkafka's) log lines through Python logging, kept readable.

Left to itself the client writes `%3|...|FAIL|rdkafka#consumer-1| ...` to stderr, one line per
reconnect attempt: twenty a second while a broker is down. Every client eventlake makes gets
CLIENT_LOG as its `logger` (eventlake.ingest.kafka), so its lines take the process's log format
and level, and ClientLogFilter keeps them few:
- a failed connection (connect refused, name not resolved) is logged at DEBUG: the kafka
  Dependency (eventlake.ingest.kafka_health) says it once, naming the address, from the
  client's error callback; `-v` still shows every attempt;
- any other line is let through once per `every` seconds for each shape (the message with its
  numbers masked), and the next one that passes says how many like it were held back.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

CONNECT_FAILED = re.compile(r"Connect to \S+ failed|Failed to resolve|Connection setup timed out")
"""What librdkafka says (facility FAIL) when a connection attempt fails."""

_NUMBERS = re.compile(r"\d+")


class ClientLogFilter(logging.Filter):
    """Demote connection failures to DEBUG; let each other shape through once per `every` s."""

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every = every
        self.clock = clock
        self._last: dict[tuple[int, str], tuple[float, int]] = {}  # shape -> (passed at, held)
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno > logging.DEBUG and CONNECT_FAILED.search(message):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
                return False
        shape = (record.levelno, _NUMBERS.sub("#", message))
        now = self.clock()
        with self._lock:
            passed_at, held = self._last.get(shape, (None, 0))
            if passed_at is not None and now - passed_at < self.every:
                self._last[shape] = (passed_at, held + 1)
                return False
            self._last[shape] = (now, 0)
            if len(self._last) > 1000:  # forget the shapes that would pass again anyway
                self._last = {k: v for k, v in self._last.items() if now - v[0] < self.every}
        if held:
            record.msg = f"{message} ({held} more like it in the last {self.every:.0f} s)"
            record.args = ()
        return True


CLIENT_LOG = logging.getLogger("eventlake.kafka.client")
"""The `logger` of every Kafka client eventlake makes."""
CLIENT_LOG.addFilter(ClientLogFilter())
