"""The DuckLake lakehouse: where dbt builds, what analysts, dashboards and erasure read.

One setting names the catalog, ``EVENTLAKE_CATALOG``: ``sqlite:<path>`` (the default,
``sqlite:lakehouse.sqlite``: embedded, no server, many processes at once) or
``postgres:<libpq string>`` (production). The data files live under the lake directory, at
``<lake>/curated/``. Every process attaches the same catalog as ``lakehouse``:

- dbt (profiles.yml) writes the models into the schema ``build``;
- readers use the schema ``main``: one view per model, pinned to the DuckLake snapshot of the
  last build whose tests passed (macro ``publish_build``), so a dashboard never shows facts of
  one build beside rollups of another;
- the erasure plane lives in the schema ``control``.

DuckDB's extensions come from PyPI wheels (duckdb-extension-*), installed from their files:
nothing is downloaded at run time.

A PostgreSQL catalog that does not answer is UnreachableError (exit 1), one line naming its
host and port, not DuckDB's IO error with a traceback.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path

import duckdb

from eventlake.exceptions import ConfigError, UnreachableError
from eventlake.lake.storage import lake_storage

ALIAS = "lakehouse"
BUILD_SCHEMA = "build"
PUBLISHED_SCHEMA = "main"
DEFAULT_CATALOG = "sqlite:lakehouse.sqlite"
PINNED_VERSION = re.compile(r"\bAT\s*\(\s*VERSION\s*=>\s*(\d+)\s*\)", re.IGNORECASE)
"""The snapshot a published view is pinned to, in its SQL (see the dbt macro publish_build)."""
PINNED_TABLE = re.compile(
    r"\bFROM\s+(?:\{?\w+\}?\.)?(?P<schema>\w+)\.(?P<table>\w+)\s+" + PINNED_VERSION.pattern,
    re.IGNORECASE,
)
"""A published view's table and the snapshot it is pinned to: groups schema, table, then the
version (group 3); in DuckDB's view SQL or in the catalog's, which names the lakehouse
{DUCKLAKE_CATALOG}."""
EXTENSIONS = ("ducklake", "sqlite_scanner", "postgres_scanner", "httpfs")


def catalog_from_env(env: Mapping[str, str] | None = None) -> str:
    """EVENTLAKE_CATALOG, checked: `sqlite:<path>` or `postgres:<libpq string>`."""
    env = os.environ if env is None else env
    catalog = env.get("EVENTLAKE_CATALOG") or DEFAULT_CATALOG
    kind, _, rest = catalog.partition(":")
    if kind not in ("sqlite", "postgres") or not rest:
        raise ConfigError(
            "EVENTLAKE_CATALOG must be sqlite:<path> or postgres:<libpq string>, "
            f"got {catalog!r} (a DuckDB file would lock out every other process)"
        )
    return catalog


def data_path(lake_dir: Path | str) -> str:
    """Where DuckLake writes the models' Parquet files: <lake>/curated/."""
    return f"{str(lake_dir).rstrip('/')}/curated/"


def attach_sql(catalog: str, lake_dir: Path | str, *, read_only: bool = False) -> str:
    """The ATTACH statement a reader (BI tool, notebook, the DuckDB CLI) runs."""
    options = [f"DATA_PATH '{_escape(data_path(lake_dir))}'", "DATA_INLINING_ROW_LIMIT 0"]
    if read_only:
        options.append("READ_ONLY")
    return f"ATTACH 'ducklake:{_escape(catalog)}' AS {ALIAS} ({', '.join(options)})"


def install_extensions(connection: duckdb.DuckDBPyConnection | None = None) -> list[str]:
    """Install the extensions from their PyPI wheels' files; returns those installed now."""
    own = connection is None
    connection = connection or duckdb.connect()
    try:
        installed = {
            name
            for name, done in connection.execute(
                "select extension_name, installed from duckdb_extensions()"
            ).fetchall()
            if done
        }
        added = []
        for name in EXTENSIONS:
            if name in installed:
                continue
            connection.execute(f"install '{_escape(str(_extension_file(name)))}'")
            added.append(name)
        return added
    finally:
        if own:
            connection.close()


def prepare_catalog(catalog: str) -> None:
    """A SQLite catalog is put in WAL mode before DuckLake first opens it: readers then never
    block the writer, nor the writer the readers (the mode is kept in the file)."""
    kind, _, location = catalog.partition(":")
    if kind != "sqlite":
        return
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as database:
        if database.execute("pragma journal_mode").fetchone()[0] != "wal":
            database.execute("pragma journal_mode = wal")


def connect(
    catalog: str, lake_dir: Path | str, *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (in memory) with the lakehouse attached and in use, clock in UTC."""
    connection = duckdb.connect()
    install_extensions(connection)
    connection.execute("set TimeZone = 'UTC'")
    lake_storage(lake_dir).configure(connection)  # a bucket: httpfs and its secret
    if not read_only:
        # A reader leaves the catalog file alone: the writer that created it set WAL mode, and
        # a connection of its own, opened and closed beside the readers and the writers, would
        # be one more process checkpointing the WAL when it happens to close last.
        prepare_catalog(catalog)
    try:
        connection.execute(attach_sql(catalog, lake_dir, read_only=read_only))
    except duckdb.IOException as error:
        connection.close()
        if not catalog.startswith("postgres:") or POSTGRES_UNREACHABLE not in str(error):
            raise
        said = str(error).partition(POSTGRES_UNREACHABLE)[2].splitlines()[0]
        reason = said.partition('": ')[2].split(" failed: ")[-1].strip() or said
        if reason.startswith("FATAL"):  # it answered: a wrong database, user or password
            raise ConfigError(
                f"the catalog at {catalog_address(catalog)} refused the connection: "
                f"{' '.join(reason.split())} (EVENTLAKE_CATALOG)"
            ) from None
        raise UnreachableError(
            f"catalog unreachable at {catalog_address(catalog)} ({reason}): is PostgreSQL "
            "running there? (EVENTLAKE_CATALOG)",
            reason=reason,
        ) from None
    connection.execute(f"use {ALIAS}")
    return connection


POSTGRES_UNREACHABLE = "Unable to connect to Postgres"
"""What DuckDB's postgres extension says when it gets no connection: the server does not
answer (refused, timed out, unknown host), or it refused (FATAL: a wrong database, user or
password)."""


def catalog_address(catalog: str) -> str:
    """Where a catalog lives, without its password: the file of `sqlite:`, host:port/dbname of
    `postgres:` (libpq's keyword string)."""
    kind, _, rest = catalog.partition(":")
    if kind != "postgres":
        return rest
    words = dict(word.split("=", 1) for word in rest.split() if "=" in word)
    address = f"{words.get('host', 'localhost')}:{words.get('port', '5432')}"
    return f"{address}/{words['dbname']}" if "dbname" in words else address


def _extension_file(name: str) -> Path:
    package = f"duckdb_extension_{name}"
    try:
        module = __import__(package)
    except ImportError:
        raise ConfigError(
            f"DuckDB extension {name!r} is missing: pip install "
            f"duckdb-extension-{name.replace('_', '-')}=={duckdb.__version__}"
        ) from None
    files = sorted(Path(module.__file__).parent.rglob(f"{name}.duckdb_extension"))
    if not files:
        raise ConfigError(f"the wheel {package} holds no {name}.duckdb_extension")
    return files[-1]


def _escape(text: str) -> str:
    return text.replace("'", "''")


if __name__ == "__main__":  # make install: the extensions, once, offline
    print("installed:", ", ".join(install_extensions()) or "nothing new")
