"""The SQLite connection both embedded stores use: WAL, so readers in other processes see
committed batches while the consumer writes; explicit transactions (BEGIN IMMEDIATE in the
stores); a 30 s busy timeout, so a second writer (a batch load) waits instead of failing."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect_wal(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    connection.execute("pragma journal_mode=wal")
    # A commit reaches the WAL; a power loss may drop the last commits, and then the stored
    # offsets roll back with the state they produced (the consumer re-reads them).
    connection.execute("pragma synchronous=normal")
    connection.execute("pragma temp_store=memory")
    connection.execute("pragma cache_size=-65536")  # 64 MiB of page cache
    return connection
