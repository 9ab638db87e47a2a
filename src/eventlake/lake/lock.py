"""The lake's maintenance lock: one writer of the lakehouse and of the raw lake's files at a time.

A hidden file at the lake's root. A bucket has no flock: for a lake in a bucket the lock is a
file of this host's (`$XDG_RUNTIME_DIR` or the temporary folder, named after the lake's URI),
which serialises the jobs of one host: the embedded SQLite catalog's deployment. Across hosts
(the PostgreSQL catalog) it would be the catalog's, a PostgreSQL advisory lock held for the
job, or an object in the bucket created by a conditional PUT (`If-None-Match: *`), which
pyarrow's S3 client cannot send; neither is built (docs/lake.md#on-a-bucket). Jobs that
remove raw files or maintain the lakehouse (compaction, retention, erasure, DuckLake
maintenance) hold it exclusively; `eventlake run-analytics` holds it while dbt builds
(ops.schedule). Readers take no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from eventlake.lake.storage import is_remote

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


def lock_path(lake_dir: Path | str) -> Path:
    """The maintenance lock of the lake at `lake_dir` (a host-local file for a bucket)."""
    if is_remote(lake_dir):
        digest = hashlib.sha256(str(lake_dir).encode()).hexdigest()[:16]
        runtime = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
        return Path(runtime) / "eventlake-locks" / f"{digest}{LOCK_NAME}"
    return Path(lake_dir) / LOCK_NAME


@contextlib.contextmanager
def maintenance_lock(lake_dir: Path | str) -> Iterator[None]:
    """Exclusive hold of the lake's maintenance lock (a hidden file at the lake's root).

    Jobs that remove raw files or maintain the lakehouse (compaction, retention, erasure) take
    it exclusively; `eventlake run-analytics` holds it while dbt builds, so a build never
    lists a merged file together with its inputs, nor a file that is removed before it is read,
    and never commits beside a merge or a retention pass. Waits.
    """
    with hold(lock_path(lake_dir)):
        yield
