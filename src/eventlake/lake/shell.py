"""The interactive SQL shell of `eventlake sql`: every statement billed before it runs.

The DuckDB CLI cannot be asked to bill a statement first, so the default shell is this one: it
reads statements (from a terminal, with line editing and history, or piped in), bills each
billable statement from the catalog (see bill.py) and runs it only when the budget allows:
the partition filters the models require and `--max-bytes` / EVENTLAKE_MAX_QUERY_BYTES. A
refused statement prints its bill and the reason; the shell goes on. One connection serves the
session, so a transaction spans statements as in any SQL shell.

Dot commands: `.mode table|csv|json`, `.bill` (the last statement's bill), `.quit`. The DuckDB
CLI itself, unbilled, is `eventlake sql --allow-full-scan` (arguments after `--` go to it).
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import duckdb

from eventlake.lake.bill import BillError, Budget, QueryRefused, checked_bill, summary
from eventlake.lake.lakehouse import connect
from eventlake.lake.sql import FORMATS, WRITERS, billed_statements, require_lakehouse

PROMPT, MORE = "D ", "· "
SHOWN_ROWS = 40
"""The table mode shows at most this many rows (DuckDB's own renderer elides the middle)."""
HELP = (
    ".mode table|csv|json   how results print\n"
    ".bill                  the bill of the last statement billed\n"
    ".quit                  leave (also .exit, Ctrl-D)\n"
)


class Shell:
    """A read-only session on the lakehouse whose statements are billed before they run."""

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        budget: Budget,
        out: TextIO,
        mode: str = "table",
    ) -> None:
        self.connection, self.budget, self.out, self.mode = connection, budget, out, mode
        self.last_bill = None
        self.failures = 0

    def run(self, text: str) -> bool:
        """Run one complete input (statements, or a dot command); False when it asks to quit.
        Returns after printing the result, the refusal or DuckDB's error."""
        command = text.strip()
        if command.startswith("."):
            return self._dot(command)
        try:
            statements = duckdb.extract_statements(command)
        except duckdb.Error as error:
            self._fail(f"Error: {error}")
            return True
        for statement in statements:
            if not self._statement(statement.query):
                break
        return True

    def _statement(self, sql: str) -> bool:
        try:
            for billable in billed_statements(sql):
                self.last_bill = checked_bill(self.connection, billable, self.budget)
            relation = self.connection.sql(sql)
            if relation is not None:
                self._print(relation)
        except QueryRefused as refused:
            self.last_bill = refused.bill
            self._fail(f"not run: {refused}\n{summary(refused.bill)}".rstrip())
            return False
        except (duckdb.Error, BillError) as error:
            self._fail(f"Error: {error}")
            return False
        return True

    def _fail(self, message: str) -> None:
        self.failures += 1
        self._say(message)

    def _print(self, relation: duckdb.DuckDBPyRelation) -> None:
        if self.mode == "table":
            self._say(_rendered(relation))
        else:
            WRITERS[self.mode](relation.columns, _batches(relation), self.out)
            self.out.flush()

    def _dot(self, command: str) -> bool:
        name, _, argument = command.partition(" ")
        argument = argument.strip().rstrip(";")
        if name in (".quit", ".exit", ".q"):
            return False
        if name == ".mode" and argument in FORMATS:
            self.mode = argument
        elif name == ".bill":
            self._say(summary(self.last_bill).rstrip() if self.last_bill else "nothing billed yet")
        else:
            self._say(f"unknown command {command!r}\n{HELP}".rstrip())
        return True

    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def _rendered(relation: duckdb.DuckDBPyRelation) -> str:
    """DuckDB's box rendering of the result, at most SHOWN_ROWS rows."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        relation.show(max_rows=SHOWN_ROWS)
    return buffer.getvalue().rstrip()


def _batches(relation: duckdb.DuckDBPyRelation) -> Iterator[list[tuple]]:
    relation.execute()
    while rows := relation.fetchmany(10_000):
        yield rows


def inputs(stream: TextIO, interactive: bool) -> Iterator[str]:
    """Complete inputs: a dot command line, or lines up to one ending a statement with `;`."""
    pending: list[str] = []
    while True:
        try:
            line = input(MORE if pending else PROMPT) if interactive else stream.readline()
        except EOFError:
            line = ""
        if not line and not interactive:
            break
        if interactive and line == "" and not pending:
            continue
        if not pending and line.lstrip().startswith("."):
            yield line
            continue
        pending.append(line.rstrip("\n"))
        if "\n".join(pending).rstrip().endswith(";"):
            yield "\n".join(pending)
            pending = []
    if pending and "\n".join(pending).strip():
        yield "\n".join(pending)


def run_shell(
    catalog: str,
    lake_dir: Path | str,
    budget: Budget,
    mode: str = "table",
    stream: TextIO | None = None,
    out: TextIO | None = None,
) -> int:
    """The shell on the lakehouse until `.quit` or end of input; returns the exit status: 0,
    or 1 when input was piped in and a statement failed or was refused."""
    stream, out = stream or sys.stdin, out or sys.stdout
    interactive = stream.isatty()
    if interactive:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (line editing and history for input())
    require_lakehouse(catalog)
    with connect(catalog, lake_dir, read_only=True) as connection:
        shell = Shell(connection, budget, out, mode)
        for text in inputs(stream, interactive):
            try:
                if not shell.run(text):
                    break
            except KeyboardInterrupt:  # Ctrl-C cancels the statement, not the shell
                shell.failures += 1
                out.write("interrupted\n")
    return 1 if shell.failures and not interactive else 0
