"""dbt-duckdb plugin: the file operations SQL cannot do, as functions on the build's connection.

The `lake_partitions` materialization (macros/materializations/) writes each partition of a
curated lake table with DuckDB's COPY into a staging folder, then calls
``eventlake_swap_dir(staged, target)`` to put it in place: on Linux one ``renameat2`` with
``RENAME_EXCHANGE`` swaps the two folders atomically, so a reader globbing the table sees the
old partition or the new one, never a mix or a gap. Enabled in profiles.yml
(``plugins: [{module: eventlake.dbt_plugin}]``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
from pathlib import Path

from dbt.adapters.duckdb.plugins import BasePlugin

from eventlake.lake import fsync_dir

log = logging.getLogger(__name__)

AT_FDCWD = -100
RENAME_EXCHANGE = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the kernel or libc cannot."""
    if _renameat2 is None:
        return False
    result = _renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if result == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: no exchange on this filesystem
        return False
    raise OSError(errno, os.strerror(errno), f"{a} <-> {b}")


def swap_dir(staged: str, target: str) -> int:
    """Put the folder `staged` in place of `target` atomically; return its Parquet file count.

    The old `target` (if any) ends up at `staged` and is removed. Without RENAME_EXCHANGE the
    old folder is renamed away first, so readers may briefly see no partition, never a mix.
    """
    staged_path, target_path = Path(staged), Path(target)
    if not staged_path.is_dir():
        raise FileNotFoundError(f"eventlake_swap_dir: expected a staged folder at {staged}")
    target_path.parent.mkdir(parents=True, exist_ok=True)
    if target_path.exists():
        if not _exchange(staged_path, target_path):
            aside = staged_path.with_name(staged_path.name + ".old")
            os.rename(target_path, aside)
            os.rename(staged_path, target_path)
            staged_path = aside
        shutil.rmtree(staged_path)
    else:
        os.rename(staged_path, target_path)
    fsync_dir(target_path.parent)
    return sum(1 for _ in target_path.glob("*.parquet"))


def make_dirs(path: str) -> int:
    """Create the folder `path` and its parents (COPY creates only the last level)."""
    Path(path).mkdir(parents=True, exist_ok=True)
    return 1


def remove_dir(path: str) -> int:
    """Remove the folder `path` (renamed aside first, so no reader sees it half gone)."""
    target = Path(path)
    if not target.exists():
        return 0
    aside = target.with_name(f".{target.name}.removing")
    os.rename(target, aside)
    files = sum(1 for _ in aside.glob("*.parquet"))
    shutil.rmtree(aside)
    fsync_dir(target.parent)
    return files


class Plugin(BasePlugin):
    def configure_connection(self, conn) -> None:
        conn.create_function(
            "eventlake_swap_dir",
            swap_dir,
            ["VARCHAR", "VARCHAR"],
            "BIGINT",
            side_effects=True,
        )
        for name, function in (
            ("eventlake_make_dirs", make_dirs),
            ("eventlake_remove_dir", remove_dir),
        ):
            conn.create_function(name, function, ["VARCHAR"], "BIGINT", side_effects=True)
