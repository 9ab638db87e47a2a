"""SQL on the lakehouse for analysts, read-only: the DuckDB shell, and one query at a time.

`eventlake sql --allow-full-scan` starts the DuckDB CLI (PyPI package duckdb-cli), unbilled;
the default shell, which bills every statement, is shell.py. The CLI gets an init script that loads
the extensions installed from their wheels (nothing is downloaded: autoinstall is off), sets
the clock to UTC, attaches the lakehouse READ_ONLY and uses it, so `events`, the rollups and
the marts are the published views of schema `main`. A reader takes no lock: DuckLake readers
see one snapshot per query while builds, erasure and compaction commit new ones.

`eventlake sql -c` runs one statement in this process and prints its result as a table, CSV
(with a header row) or JSON (a list of objects).
"""

from __future__ import annotations

import contextlib
import csv
import decimal
import importlib.util
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TextIO

import duckdb
import orjson

from eventlake.exceptions import ConfigError, EventlakeError
from eventlake.lake.bill import (
    Bill,
    BillError,
    Budget,
    bill,
    checked_bill,
    refusals,
    required_partition_filters,
)
from eventlake.lake.lakehouse import ALIAS, attach_sql, connect, install_extensions
from eventlake.lake.maintenance import lakehouse_exists
from eventlake.lake.storage import lake_storage

FORMATS = ("table", "csv", "json")
BILLED = {
    duckdb.StatementType.SELECT,
    duckdb.StatementType.COPY,
    duckdb.StatementType.CREATE,
    duckdb.StatementType.INSERT,
}
FETCH_ROWS = 10_000
JSON_OPTIONS = orjson.OPT_NON_STR_KEYS
SCANNERS = {"sqlite": "sqlite_scanner", "postgres": "postgres_scanner"}


class QueryError(EventlakeError):
    """A query on the lakehouse failed: DuckDB's message, unchanged."""


def require_lakehouse(catalog: str) -> None:
    """Fail clearly when a SQLite catalog does not exist yet (attaching would create one)."""
    if not lakehouse_exists(catalog):
        raise ConfigError(
            f"expected a lakehouse at EVENTLAKE_CATALOG={catalog}, found no catalog there: "
            "`dbt build` creates it"
        )


def shell_init(catalog: str, lake_dir: Path | str) -> str:
    """The DuckDB CLI init script: extensions loaded offline, UTC, the lakehouse read-only.
    The ATTACH is every eventlake process's (relative paths are the current folder's): its
    DATA_PATH must be the one the catalog was created with. A bucket's credentials are not in
    it: the CLI reads them from its environment (getenv), so the script can be printed."""
    scanner = SCANNERS[catalog.partition(":")[0]]
    attach = attach_sql(catalog, lake_dir, read_only=True)
    secret = lake_storage(lake_dir).secret_sql(from_env=True)
    bucket = (
        [
            "-- The lake is in a bucket: httpfs, and the credentials of AWS_ACCESS_KEY_ID and",
            "-- AWS_SECRET_ACCESS_KEY read when the script runs (getenv is the DuckDB CLI's;",
            "-- another client puts its own values there). The script holds no secret.",
            "LOAD httpfs;",
            f"{secret};",
        ]
        if secret
        else []
    )
    return "\n".join(
        [
            "-- eventlake: the lakehouse, read-only. The extensions come from their PyPI",
            "-- wheels (python -m eventlake.lake.lakehouse installs them); nothing is downloaded.",
            "SET autoinstall_known_extensions = false;",
            "LOAD ducklake;",
            f"LOAD {scanner};",
            *bucket,
            "SET TimeZone = 'UTC';",
            f"{attach};",
            f"USE {ALIAS};",
            "",
        ]
    )


def duckdb_cli() -> str:
    """The DuckDB CLI: the binary of the duckdb-cli package (not its Python wrapper, which
    kills the shell on Ctrl-C), else `duckdb` beside this Python, else on PATH."""
    spec = importlib.util.find_spec("duckdb_cli")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(folder) / "duckdb"
        if binary.is_file():
            return str(binary)
    beside = Path(sys.executable).parent / "duckdb"
    if beside.is_file():
        return str(beside)
    found = shutil.which("duckdb")
    if found is None:
        raise ConfigError(
            f"expected the DuckDB CLI (pip install duckdb-cli=={duckdb.__version__}), found none"
        )
    return found


def open_shell(catalog: str, lake_dir: Path | str, args: Sequence[str] = ()) -> int:
    """Run the DuckDB shell on the lakehouse until it exits; returns its exit status. Ctrl-C
    belongs to the shell (it cancels the running query), not to this process."""
    require_lakehouse(catalog)
    install_extensions()
    with tempfile.TemporaryDirectory(prefix="eventlake-sql-") as folder:
        init = Path(folder) / "lakehouse.sql"
        init.write_text(shell_init(catalog, lake_dir))
        with _sigint_ignored():
            return subprocess.call([duckdb_cli(), "-init", str(init), *args])


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    # A handler, not SIG_IGN: the child would inherit an ignored signal, not a handler.
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_sql(
    catalog: str,
    lake_dir: Path | str,
    sql: str,
    output_format: str,
    out: TextIO,
    budget: Budget | None = None,
) -> int:
    """Run `sql` on the lakehouse, read-only, and write the last statement's result to `out`;
    returns the rows written. With a `budget`, each statement is billed first and none runs if
    one is refused (QueryRefused). A failing statement raises QueryError."""
    if output_format not in FORMATS:
        raise ConfigError(f"expected a format among {', '.join(FORMATS)}, got {output_format!r}")
    require_lakehouse(catalog)
    try:
        with connect(catalog, lake_dir, read_only=True) as connection:
            if budget is not None:
                for statement in billed_statements(sql):
                    checked_bill(connection, statement, budget)
            connection.execute(sql)
            if connection.description is None:  # nothing to print
                return 0
            columns = [column[0] for column in connection.description]
            return WRITERS[output_format](columns, _batches(connection), out)
    except (duckdb.Error, BillError) as error:
        raise QueryError(str(error)) from None


def bill_sql(
    catalog: str, lake_dir: Path | str, sql: str, budget: Budget
) -> tuple[Bill, list[str]]:
    """The bill of one statement, nothing run, and the reasons it would be refused (if any)."""
    require_lakehouse(catalog)
    statements = billed_statements(sql)
    if len(statements) != 1:
        raise ConfigError(f"--bill takes one query, got {len(statements)} billable statements")
    try:
        with connect(catalog, lake_dir, read_only=True) as connection:
            billed = bill(connection, statements[0])
            return billed, refusals(billed, budget, required_partition_filters(connection))
    except BillError as error:
        raise QueryError(str(error)) from None


def billed_statements(sql: str) -> list[str]:
    """The statements of `sql` that read tables and can be billed (queries, COPY of a query,
    CREATE ... AS): their text."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise QueryError(str(error)) from None
    return [statement.query for statement in statements if statement.type in BILLED]


def _batches(connection: duckdb.DuckDBPyConnection) -> Iterator[list[tuple]]:
    while rows := connection.fetchmany(FETCH_ROWS):
        yield rows


def write_csv(columns: list[str], batches: Iterator[list[tuple]], out: TextIO) -> int:
    """A header row, then one line per row; NULL is an empty field."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for rows in batches:
        writer.writerows([_text(value, null="") for value in row] for row in rows)
        count += len(rows)
    return count


def write_json(columns: list[str], batches: Iterator[list[tuple]], out: TextIO) -> int:
    """A JSON list of objects, one per line; instants in ISO-8601, decimals as numbers."""
    count = 0
    out.write("[")
    for rows in batches:
        for row in rows:
            item = orjson.dumps(
                dict(zip(columns, row, strict=True)), default=_json_default, option=JSON_OPTIONS
            )
            out.write(("\n" if count == 0 else ",\n") + item.decode())
            count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write_table(columns: list[str], batches: Iterator[list[tuple]], out: TextIO) -> int:
    """Aligned columns under a header (numbers to the right), every row, then the count."""
    rows = [row for batch in batches for row in batch]
    cells = [[_text(value, null="NULL") for value in row] for row in rows]
    widths = [
        max([len(name), *(len(line[index]) for line in cells)])
        for index, name in enumerate(columns)
    ]
    numeric = [all(_is_number(row[index]) for row in rows) for index in range(len(columns))]

    def line(texts: list[str]) -> str:
        padded = (
            text.rjust(width) if right else text.ljust(width)
            for text, width, right in zip(texts, widths, numeric, strict=True)
        )
        return " | ".join(padded).rstrip() + "\n"

    out.write(line(columns) + "-+-".join("-" * width for width in widths) + "\n")
    for texts in cells:
        out.write(line(texts))
    out.write(f"({len(rows)} row{'' if len(rows) == 1 else 's'})\n")
    return len(rows)


WRITERS = {"table": write_table, "csv": write_csv, "json": write_json}


def _is_number(value: object) -> bool:
    return value is None or (
        isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)
    )


def _text(value: object, *, null: str) -> str:
    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        return orjson.dumps(value, default=_json_default, option=JSON_OPTIONS).decode()
    return str(value)


def _json_default(value: object) -> object:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
