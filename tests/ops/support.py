"""Helpers for the operations tests: scrape a metrics endpoint over HTTP, the real way."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, its labels) -> value, parsed with prometheus_client's parser."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode("utf-8")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    """The sample's value; 0 when absent (a counter not incremented yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def matching(samples: dict, name: str, **labels: str) -> dict[frozenset, float]:
    """Every sample of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return {key: v for (n, key), v in samples.items() if n == name and wanted <= key}


def wait_for(condition: Callable[[], object], what: str, timeout: float = 120.0):
    """Poll until condition() is truthy and return it; fail naming `what` after `timeout` (a
    bound on a hang, not a performance assertion)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except OSError as error:  # the endpoint is not up yet
            last_error = error
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what} (last: {result!r}, {last_error})")
