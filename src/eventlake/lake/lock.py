"""The lake's maintenance lock: one writer of the lakehouse and of the raw lake's files at a time.

Jobs that remove raw files or maintain the lakehouse (compaction, retention, erasure, DuckLake
maintenance) hold it exclusively; `eventlake run-analytics` holds it while dbt builds
(ops.schedule). Readers take no lock. Which lock, by where the jobs run:
- a PostgreSQL catalog (production, any number of hosts): a session-level advisory lock in the
  catalog's database, keyed by the lake's location, held on a connection of its own for the job.
  Every host that shares the catalog shares the lock, and PostgreSQL releases it if the job's
  host dies (the session ends): no lock file to go stale;
- otherwise a file lock (`flock`): a hidden file at the lake's root, or for a lake in a bucket
  (no flock there) a file of this host's (`$XDG_RUNTIME_DIR` or the temporary folder, named
  after the lake's URI), which serialises the jobs of one host: the embedded SQLite catalog's
  deployment, which is one host anyway.
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
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from eventlake.lake.lakehouse import catalog_address
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
def hold_advisory(
    conninfo: str, key: int, *, stop: threading.Event | None = None
) -> Iterator[bool]:
    """Hold PostgreSQL's session-level advisory lock `key` on a connection of its own (libpq
    `conninfo`), waiting for it; yields True once held. With `stop`, the wait polls and yields
    False as soon as `stop` is set (the lock is then not held)."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as connection:
        held = connection.execute("select pg_try_advisory_lock(%s)", (key,)).fetchone()[0]
        if not held:
            log.info("waiting for the lake's lock in the catalog (a build or another job holds it)")
            while not held:
                if stop is None:
                    connection.execute("select pg_advisory_lock(%s)", (key,))
                    held = True
                elif stop.wait(0.5):
                    yield False
                    return
                else:
                    query = "select pg_try_advisory_lock(%s)"
                    held = connection.execute(query, (key,)).fetchone()[0]
        try:
            yield True
        finally:
            connection.execute("select pg_advisory_unlock(%s)", (key,))


def advisory_key(lake_dir: Path | str) -> int:
    """The advisory lock's key: a signed 64-bit number from the lake's location, so lakes that
    share a catalog database keep locks of their own."""
    location = str(lake_dir).rstrip("/")
    digest = hashlib.sha256(f"eventlake maintenance {location}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class LakeLock:
    """The maintenance lock of one lake (see the module): the catalog's advisory lock when the
    catalog is `postgres:<libpq string>`, else the lock file. A value a scheduler holds run
    after run."""

    lake_dir: Path | str
    catalog: str | None = None
    """EVENTLAKE_CATALOG; None or a SQLite catalog: the lock file."""

    def hold(self, stop: threading.Event | None = None) -> AbstractContextManager[bool]:
        """Yields True once held; False when `stop` was set while waiting (then not held)."""
        if self.catalog is not None and self.catalog.startswith("postgres:"):
            conninfo = self.catalog.removeprefix("postgres:")
            return hold_advisory(conninfo, advisory_key(self.lake_dir), stop=stop)
        return hold(lock_path(self.lake_dir), stop=stop)

    def __str__(self) -> str:
        if self.catalog is not None and self.catalog.startswith("postgres:"):
            return f"the lake's advisory lock in the catalog ({catalog_address(self.catalog)})"
        return str(lock_path(self.lake_dir))


@contextlib.contextmanager
def maintenance_lock(lake_dir: Path | str, catalog: str | None = None) -> Iterator[None]:
    """Exclusive hold of the lake's maintenance lock; waits.

    Jobs that remove raw files or maintain the lakehouse (compaction, retention, erasure) take
    it exclusively; `eventlake run-analytics` holds it while dbt builds, so a build never
    lists a merged file together with its inputs, nor a file that is removed before it is read,
    and never commits beside a merge or a retention pass.
    """
    with LakeLock(lake_dir, catalog).hold():
        yield
