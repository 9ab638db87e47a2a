"""`eventlake sql`: one query in the process (table, CSV, JSON), read-only, errors with a non-zero
exit; the DuckDB shell on the same init, piped and interactive; a shell left open in a
transaction while a build runs, which neither blocks the build nor sees it half-done."""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import io
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.lake_writer import write_raw_lake
from tests.dbt_support import dbt, query

pytestmark = [pytest.mark.slow]

START = dt.date(2026, 1, 10)
DUCKDB = Path(sys.executable).parent / "duckdb"
# eventlake sql refuses a query on events that no event_date condition prunes: the last two
# of the three days.
DAILY = (
    "select event_date, count(*) as events from events"
    f" where event_date > date '{START}' group by 1 order by 1"
)


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A lake of three days, built and published: (lake, catalog)."""
    work = tmp_path_factory.mktemp("sql")
    lake, catalog = work / "lake", f"sqlite:{work / 'lakehouse.sqlite'}"
    write_raw_lake(GeneratorConfig(events=3_000, days=3, start_date=START), lake)
    dbt(lake, catalog, "build")
    return lake, catalog


def environment(lake: Path, catalog: str) -> dict[str, str]:
    return dict(os.environ, EVENTLAKE_LAKE_DIR=str(lake), EVENTLAKE_CATALOG=catalog)


def eventlake_sql(
    lakehouse: tuple[Path, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess:
    lake, catalog = lakehouse
    return subprocess.run(
        [sys.executable, "-m", "eventlake.cli", "sql", *args],
        cwd=lake.parent,
        env=environment(lake, catalog),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_query_prints_an_aligned_table_and_its_row_count(lakehouse) -> None:
    done = eventlake_sql(lakehouse, "-c", DAILY)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"event_date \| +events", lines[0])
    assert set(lines[1]) == {"-", "+"}
    expected = query(*lakehouse, DAILY)
    assert [tuple(line.split(" | ")) for line in lines[2:-1]] == [
        (str(day), f"{events:>6}") for day, events in expected
    ]
    assert lines[-1] == f"({len(expected)} rows)"


def test_csv_has_a_header_row_then_one_line_per_row(lakehouse) -> None:
    done = eventlake_sql(lakehouse, "-c", DAILY, "--format", "csv")

    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == ["event_date", "events"]
    assert rows[1:] == [[str(day), str(events)] for day, events in query(*lakehouse, DAILY)]


def test_json_is_a_list_of_objects_with_iso_instants_and_numbers(lakehouse) -> None:
    sql = (
        "select user_id, revenue_30d, last_event_at, last_purchase_at from dim_user_features"
        " order by revenue_30d desc, user_id limit 3"
    )
    done = eventlake_sql(lakehouse, "-c", sql, "--format", "json")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {
            "user_id": user_id,
            "revenue_30d": float(revenue),
            "last_event_at": last_event.isoformat(),
            "last_purchase_at": last_purchase.isoformat() if last_purchase else None,
        }
        for user_id, revenue, last_event, last_purchase in query(*lakehouse, sql)
    ]
    empty = eventlake_sql(lakehouse, "-c", "select 1 as one where false", "--format", "json")
    assert json.loads(empty.stdout) == []


@pytest.mark.parametrize(
    "statement",
    [
        "delete from build.fct_events",
        "create table build.scratch as select 1 as one",
        "insert into control.erasure_suppressions values ('x', now())",
        "drop view events",
    ],
)
def test_the_lakehouse_is_read_only(lakehouse, statement: str) -> None:
    before = query(*lakehouse, "select count(*) from build.fct_events")

    done = eventlake_sql(lakehouse, "-c", statement)

    assert done.returncode != 0
    assert "read-only" in done.stderr and done.stderr.startswith("error: ")
    assert query(*lakehouse, "select count(*) from build.fct_events") == before
    assert query(*lakehouse, "select count(*) from control.erasure_suppressions") == [(0,)]


def test_a_failing_query_says_why_and_exits_non_zero(lakehouse, tmp_path: Path) -> None:
    done = eventlake_sql(lakehouse, "-c", "select * from no_such_model", "--format", "csv")

    assert done.returncode != 0 and done.stdout == ""
    assert "Table with name no_such_model does not exist" in done.stderr

    missing = tmp_path / "missing.sqlite"
    done = eventlake_sql((lakehouse[0], f"sqlite:{missing}"), "-c", "select 1")
    assert done.returncode != 0 and "dbt build" in done.stderr
    assert not missing.exists()


def test_the_duckdb_cli_answers_on_the_shells_init(lakehouse, tmp_path: Path) -> None:
    init = eventlake_sql(lakehouse, "--print-init")
    assert init.returncode == 0, init.stderr
    statements = [line for line in init.stdout.splitlines() if not line.startswith("--")]
    assert statements[0] == "SET autoinstall_known_extensions = false;"
    assert not [line for line in statements if line.upper().startswith("INSTALL")]
    (tmp_path / "init.sql").write_text(init.stdout)

    script = f"""
"{DUCKDB}" -init "{tmp_path / "init.sql"}" <<'SQL'
.mode csv
select count(*) as events from events;
select current_setting('TimeZone') as zone, current_database() as db;
select extension_name from duckdb_extensions() where loaded and extension_name in
    ('ducklake', 'sqlite_scanner') order by 1;
delete from build.fct_events;
SQL
"""
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )

    events = query(*lakehouse, "select count(*) from events")[0][0]
    assert done.stdout.splitlines() == [
        *("events", str(events)),
        *("zone,db", "UTC,lakehouse"),
        *("extension_name", "ducklake", "sqlite_scanner"),
    ]
    assert "read-only mode" in done.stderr


def test_the_shell_bills_each_statement_piped_in_and_runs_those_within_budget(lakehouse) -> None:
    script = (
        "select max(event_date) as last_date from events where event_date > date"
        f" '{START}';\n"
        "select count(*) from events;\n"
        f"select count(*) as events\n  from events where event_date = date '{START}';\n"
    )
    done = eventlake_sql(lakehouse, "--format", "csv", stdin=script)

    events = query(*lakehouse, f"select count(*) from events where event_date = date '{START}'")
    lines = done.stdout.splitlines()
    assert lines[:2] == ["last_date", str(START + dt.timedelta(days=2))]
    assert lines[2].startswith("not run: fct_events must be filtered on event_date"), lines
    assert lines[-2:] == ["events", str(events[0][0])]
    assert done.returncode == 1  # a statement was refused

    over = eventlake_sql(lakehouse, "--max-bytes", "1kB", stdin=script.splitlines()[0] + "\n")
    assert over.returncode == 1 and "over the budget of 1,000 bytes" in over.stdout


def test_the_duckdb_cli_itself_runs_unbilled_only_when_asked(lakehouse) -> None:
    done = eventlake_sql(
        lakehouse,
        "--allow-full-scan",
        "--",
        "-csv",
        stdin="select count(*) as events from events;\n",
    )
    events = query(*lakehouse, "select count(*) from events")[0][0]
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["events", str(events)]

    refused = eventlake_sql(lakehouse, "--", "-csv", stdin="select 1;\n")
    assert refused.returncode == 2 and "--allow-full-scan" in refused.stderr


class Terminal:
    """A process on a pseudo-terminal, driven as a person types: waits for what it prints."""

    # What the DuckDB shell asks a terminal (background colour, device attributes) and a reply.
    ANSWERS = {b"\x1b]11;?": b"\x1b]11;rgb:0000/0000/0000\x1b\\", b"\x1b[c": b"\x1b[?1;2c"}

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.process = subprocess.Popen(
            command, stdin=slave, stdout=slave, stderr=slave, env=dict(env, TERM="dumb"), cwd=cwd
        )
        os.close(slave)
        self.seen = b""

    def expect(self, pattern: str, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.seen.decode(errors="replace"))) is None:
            assert time.monotonic() < deadline, self.seen.decode(errors="replace")
            if select.select([self.master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the process closed the terminal
                    chunk = b""
                for question, answer in self.ANSWERS.items():
                    if question in chunk:
                        os.write(self.master, answer)
                self.seen += chunk
        self.seen = self.seen[found.end() :]
        return found

    def ask(self, sql: str, answer: str) -> str:
        """Type sql at the prompt; return the first group of `answer` in what comes back."""
        self.expect(r"D $")
        os.write(self.master, sql.encode() + b"\n")
        return self.expect(answer).group(1)

    def close(self) -> int:
        self.expect(r"D $")
        os.write(self.master, b".quit\n")
        code = self.process.wait(30)
        os.close(self.master)
        return code


def test_a_shell_open_in_a_transaction_never_blocks_a_build(lakehouse) -> None:
    """Runs last: it adds a day to the module's lakehouse."""
    lake, catalog = lakehouse
    last_date = f"select 'last=' || max(event_date) from events where event_date > '{START}';"
    day = r"last=(\d{4}-\d\d-\d\d)"
    shell = Terminal(
        [sys.executable, "-m", "eventlake.cli", "sql"], environment(lake, catalog), lake.parent
    )
    try:
        refused = shell.ask("select count(*) from events;", r"(not run: \w+ must be filtered)")
        assert refused == "not run: fct_events must be filtered"
        assert shell.ask("begin transaction;", r"(begin transaction;)")
        assert shell.ask(last_date, day) == str(START + dt.timedelta(days=2))

        new_day = GeneratorConfig(events=1_000, days=1, start_date=START + dt.timedelta(days=3))
        write_raw_lake(new_day, lake, append=True)
        started = time.monotonic()
        dbt(lake, catalog, "build")
        print(f"build beside an open shell: {time.monotonic() - started:.1f} s")

        # The transaction keeps its snapshot; once it ends the shell sees the new build.
        assert shell.ask(last_date, day) == str(START + dt.timedelta(days=2))
        assert shell.ask("commit;", r"(commit;)")
        assert shell.ask(last_date, day) == str(START + dt.timedelta(days=3))
    finally:
        code = shell.close()
    assert code == 0
