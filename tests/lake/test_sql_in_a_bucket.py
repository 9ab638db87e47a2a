"""`eventlake sql` with the lake in a bucket (moto's S3 server): the init script it prints holds
no credential, yet the DuckDB CLI that runs it, and the unbilled shell, read the lakehouse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eventlake.lake.lakehouse import connect

pytestmark = [pytest.mark.slow]

DUCKDB = Path(sys.executable).parent / "duckdb"


@pytest.fixture
def bucket_lakehouse(s3_lake: str, tmp_path: Path) -> dict[str, str]:
    """A lakehouse whose one table's Parquet lies in the bucket: the environment to read it."""
    catalog = f"sqlite:{tmp_path / 'lakehouse.sqlite'}"
    with connect(catalog, s3_lake) as connection:
        connection.execute("create table answers as select 42 as answer")
    return dict(os.environ, EVENTLAKE_LAKE_DIR=s3_lake, EVENTLAKE_CATALOG=catalog)


def run(command: list[str], env: dict[str, str], cwd: Path, stdin: str = "") -> str:
    done = subprocess.run(
        command, env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_printed_init_holds_no_credential_and_the_cli_still_reads_the_bucket(
    bucket_lakehouse: dict[str, str], tmp_path: Path
) -> None:
    env = bucket_lakehouse
    eventlake_sql = [sys.executable, "-m", "eventlake.cli", "sql"]
    init = run([*eventlake_sql, "--print-init"], env, tmp_path)

    assert env["AWS_SECRET_ACCESS_KEY"] not in init
    assert f"'{env['AWS_ACCESS_KEY_ID']}'" not in init
    assert "SECRET getenv('AWS_SECRET_ACCESS_KEY')" in init
    (tmp_path / "init.sql").write_text(init)

    # The CLI resolves getenv when it runs the script: the secret carries the key id it read.
    read = run(
        [str(DUCKDB), "-init", str(tmp_path / "init.sql")],
        env,
        tmp_path,
        ".mode csv\n"
        "select answer from answers;\n"
        "select secret_string like '%key_id=' || getenv('AWS_ACCESS_KEY_ID') || ';%'"
        " as has_key_id from duckdb_secrets();\n",
    )
    # (first, the CREATE SECRET's own answer, as DuckDB prints it)
    assert read.splitlines()[-4:] == ["answer", "42", "has_key_id", "true"]

    # The unbilled shell runs the same script on the same environment.
    shell = run(
        [*eventlake_sql, "--allow-full-scan", "--", "-csv"], env, tmp_path, "from answers;\n"
    )
    assert shell.splitlines()[-2:] == ["answer", "42"]
