"""Reading DuckLake's own catalog tables (ducklake_data_file, ducklake_file_column_stats, ...).

The query bill reads the catalog, never the data files. Through the attached metadata database
each query on a SQLite catalog is a full copy of the tables it names: DuckDB's sqlite scanner
pushes no filter down, so the statistics of one file cost as much as those of every file, and
the bill would grow with history. A SQLite catalog is therefore read with SQLite itself (one
read-only connection, one read transaction: one consistent catalog state); any other catalog
(PostgreSQL, whose scanner pushes filters down) through the metadata database DuckLake attached.

Queries name the catalog's tables as `{catalog}ducklake_...` and use SQL both dialects share.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import duckdb
import pyarrow as pa

from eventlake.lake.lakehouse import ALIAS

METADATA = f"__ducklake_metadata_{ALIAS}"

DUCKDB_TYPES = {
    "int8": "TINYINT",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "uint8": "UTINYINT",
    "uint16": "USMALLINT",
    "uint32": "UINTEGER",
    "uint64": "UBIGINT",
    "float32": "FLOAT",
    "float64": "DOUBLE",
}
"""DuckLake's type names that DuckDB spells otherwise (DuckLake's int8 is one byte, DuckDB's
INT8 eight); the others (date, timestamptz, varchar, decimal(18,2), ...) DuckDB reads as they
are."""


def duckdb_type(ducklake_type: str) -> str:
    return DUCKDB_TYPES.get(ducklake_type, ducklake_type)


class CatalogReader:
    """Queries on the catalog of the lakehouse attached to a DuckDB connection."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._duckdb = connection
        self._sqlite: sqlite3.Connection | None = None
        (path,) = connection.execute(
            "select path from duckdb_databases() where database_name = ?", [ALIAS]
        ).fetchone()
        kind, _, location = str(path).partition(":")
        if kind == "sqlite":
            self._sqlite = sqlite3.connect(
                f"file:{location}?mode=ro", uri=True, isolation_level=None
            )
            self._sqlite.execute("begin")
        self.prefix = "" if self._sqlite else f"{METADATA}."

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()

    @staticmethod
    def ids(column: str, ids: Sequence[int] | None) -> str:
        """`column` is one of `ids` (None: any). Integers, written into the SQL: both dialects
        then narrow the read (SQLite by its own plan, DuckDB's PostgreSQL scanner pushes the
        list down as a range)."""
        if ids is None:
            return "true"
        return f"{column} in ({', '.join(str(int(value)) for value in ids)})" if ids else "false"

    def rows(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple]:
        text = sql.format(catalog=self.prefix)
        if self._sqlite is not None:
            return self._sqlite.execute(text, list(parameters)).fetchall()
        return self._duckdb.execute(text, list(parameters)).fetchall()

    def value(self, sql: str, parameters: Sequence[object] = ()) -> object:
        found = self.rows(sql, parameters)
        return found[0][0] if found else None

    def table(self, sql: str, parameters: Sequence[object], schema: pa.Schema) -> pa.Table:
        """The rows as an Arrow table of `schema` (for DuckDB to join and prune on)."""
        rows = self.rows(sql, parameters)
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
        arrays = [
            pa.array(values, type=field.type) for values, field in zip(columns, schema, strict=True)
        ]
        return pa.table(arrays, schema=schema)
