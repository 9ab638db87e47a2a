"""The lake's maintenance lock: one writer of the lakehouse and of the raw lake's files at a time.

A hidden file at the lake's root. Jobs that remove raw files or maintain the lakehouse
(compaction, retention, erasure, DuckLake maintenance) hold it exclusively; `eventlake
run-analytics` holds it while dbt builds (ops.schedule). Readers take no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_NAME = ".maintenance.lock"


@contextlib.contextmanager
def hold(path: Path, *, stop: threading.Event | None = None) -> Iterator[bool]:
    """Hold the lock file `path` exclusively, waiting for it; yields True once held. With `stop`,
    the wait polls and yields False as soon as `stop` is set (the lock is then not held)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for %s (a build or another maintenance job holds it)", path)
            if stop is None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            else:
                while True:
                    if stop.wait(0.5):
                        yield False
                        return
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        continue
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def lock_path(lake_dir: Path) -> Path:
    """The maintenance lock of the lake at `lake_dir`."""
    return lake_dir / LOCK_NAME


@contextlib.contextmanager
def maintenance_lock(lake_dir: Path) -> Iterator[None]:
    """Exclusive hold of the lake's maintenance lock (a hidden file at the lake's root).

    Jobs that remove raw files or maintain the lakehouse (compaction, retention, erasure) take
    it exclusively; `eventlake run-analytics` holds it while dbt builds, so a build never
    lists a merged file together with its inputs, nor a file that is removed before it is read,
    and never commits beside a merge or a retention pass. Waits.
    """
    with hold(lock_path(lake_dir)):
        yield
