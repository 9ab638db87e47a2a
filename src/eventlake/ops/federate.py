"""One metrics endpoint for every child of `eventlake up`: the parent scrapes its children.

Each child serves its own metrics on a loopback port the parent chose; at every scrape of the
parent, the parent fetches each child's page, parses it with prometheus_client's parser and
re-exports every sample with a `child` label (loader, online, fraud, analytics), merging
families of the same name. Prometheus is pointed at one address and sees every child, plus
`eventlake_child_up{child}`: 0 when a child did not answer (stopped, hung, restarting).

Why not prometheus_client's multiprocess mode: it needs a shared directory and gauge modes
chosen per metric, and it cannot say that a child stopped answering; a scrape can.
"""

from __future__ import annotations

import logging
import socket
import urllib.request
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from eventlake.ops.metrics import CHILD_UP

log = logging.getLogger(__name__)


def free_ports(count: int) -> list[int]:
    """Loopback ports free now (bound together, then released) for the children to serve on."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


class ChildrenCollector:
    """Scrapes every child's metrics page and re-exports them labelled with `child`."""

    def __init__(self, urls: Mapping[str, str], timeout: float = 5.0) -> None:
        self.urls = dict(urls)
        self.timeout = timeout

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        up = Metric(CHILD_UP._name, CHILD_UP._documentation, "gauge")  # noqa: SLF001
        for child, url in self.urls.items():
            try:
                with urllib.request.urlopen(url, timeout=self.timeout) as response:
                    text = response.read().decode("utf-8")
            except OSError as error:
                log.debug("child %s did not answer at %s: %s", child, url, error)
                up.add_sample("eventlake_child_up", {"child": child}, 0.0)
                continue
            up.add_sample("eventlake_child_up", {"child": child}, 1.0)
            for family in text_string_to_metric_families(text):
                target = merged.get(family.name)
                if target is None:
                    target = merged[family.name] = Metric(
                        family.name, family.documentation, family.type, family.unit
                    )
                for sample in family.samples:
                    target.add_sample(sample.name, {**sample.labels, "child": child}, sample.value)
        yield up
        yield from merged.values()


def children_registry(urls: Mapping[str, str]) -> CollectorRegistry:
    """A registry holding the children's metrics only (the parent's own would add nothing)."""
    registry = CollectorRegistry()
    registry.register(ChildrenCollector(urls))
    return registry
