"""Whether this process reaches its Kafka brokers, said once (eventlake.ops.health).

Every client eventlake makes reports to the kafka Dependency of its bootstrap address through
its error callback (`on_error`, set by eventlake.ingest.kafka's configs): a failed connection
or name resolution, or "all brokers are down", marks it down, which logs one line naming the
address. It is marked up again by the consuming loops (`seen`: an assignment, a message, an
end-of-partition mark) or, while it is down and the loop idles, by a cheap metadata request
(`probe`): a broker that comes back to an idle topic is noticed too.
"""

from __future__ import annotations

import functools
import logging
import re
import time

from confluent_kafka import KafkaError, KafkaException

from eventlake.ingest.kafka_logs import CLIENT_LOG, CONNECT_FAILED
from eventlake.ops.health import Dependency

log = logging.getLogger(__name__)

PROBE_EVERY = 5.0
"""Seconds between two metadata requests while the brokers are down."""
PROBE_TIMEOUT = 1.0

_PREFIX = re.compile(r"^\S+/\S+: ")  # "127.0.0.1:9/bootstrap: "
_SUFFIX = re.compile(r"\s*\(after \d+ms in state \w+(, .*)?\)$")


def reason(text: str) -> str:
    """The gist of a connection error: `Connection refused` from librdkafka's
    `127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed: Connection refused (after 0ms
    in state CONNECT)`."""
    text = _SUFFIX.sub("", _PREFIX.sub("", text))
    _, found, rest = text.partition(" failed: ")
    return rest if found else text


class KafkaHealth:
    """The kafka Dependency of one bootstrap address, fed by its clients' callbacks."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.dependency = Dependency("kafka", bootstrap_servers, hint="KAFKA_BOOTSTRAP_SERVERS")
        self._probed = 0.0

    def on_error(self, error: KafkaError) -> None:
        """A client's error_cb (called from its poll, on the polling thread)."""
        code, text = error.code(), error.str()
        if code in (KafkaError._TRANSPORT, KafkaError._RESOLVE) and CONNECT_FAILED.search(text):
            self.dependency.down(reason(text))
        elif code == KafkaError._ALL_BROKERS_DOWN:
            self.dependency.down(self.dependency.reason or "all brokers are down")
        else:  # a dropped connection the client re-opens, a fatal error the caller raises...
            CLIENT_LOG.log(logging.ERROR if error.fatal() else logging.WARNING, "%s", text)

    def on_passive_error(self, error: KafkaError) -> None:
        """The error_cb of a client served only now and then (a DLQ producer, flushed once per
        flush): its connection errors wait in its queue until then and would report an outage
        that may be over, so they are left to the process's consumer, polled all the time."""
        code, text = error.code(), error.str()
        if code in (KafkaError._TRANSPORT, KafkaError._RESOLVE, KafkaError._ALL_BROKERS_DOWN):
            CLIENT_LOG.debug("%s", text)
        else:
            self.on_error(error)

    def seen(self) -> None:
        """The broker answered (an assignment, a message, an end-of-partition mark)."""
        self.dependency.up()

    def probe(self, client, topic: str) -> None:
        """While down, ask for `topic`'s metadata every PROBE_EVERY seconds (blocks up to
        PROBE_TIMEOUT): an answer marks the brokers up. `client` is a Consumer or a Producer
        of this address."""
        if self.dependency.is_up is not False:
            return
        now = time.monotonic()
        if now - self._probed < PROBE_EVERY:
            return
        self._probed = now
        try:
            client.list_topics(topic, timeout=PROBE_TIMEOUT)
        except KafkaException:
            return  # the error callback said why
        self.seen()


@functools.cache
def kafka_health(bootstrap_servers: str) -> KafkaHealth:
    """The one KafkaHealth of an address in this process: all its clients share it."""
    return KafkaHealth(bootstrap_servers)
