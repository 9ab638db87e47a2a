"""The analytics loop with stand-in commands: intervals, exit codes, no overlap, clean stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from eventlake.cli.main import cli
from eventlake.config import Settings
from eventlake.dbt.runner import build_command
from eventlake.exceptions import ConfigError
from eventlake.lake.lock import LakeLock
from eventlake.ops.schedule import (
    CRON_EXAMPLE,
    ScheduleConfig,
    Scheduler,
    next_start,
    parse_interval,
    run_schedule,
)
from tests.dbt_support import dbt_target


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def recorder(log: Path, *, seconds: float = 0.0, exit_code: int = 0) -> list[str]:
    """A command that appends its start and end times to log, sleeps, and exits exit_code."""
    return python(
        "import json, sys, time\n"
        "start = time.time()\n"
        f"time.sleep({seconds})\n"
        f"with open({str(log)!r}, 'a') as out:\n"
        "    out.write(json.dumps([start, time.time()]) + '\\n')\n"
        f"sys.exit({exit_code})\n"
    )


def runs(log: Path) -> list[tuple[float, float]]:
    if not log.exists():
        return []
    return [tuple(json.loads(line)) for line in log.read_text().splitlines()]


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30.0), ("15m", 900.0), ("1h", 3600.0), (" 2m ", 120.0)]
)
def test_parse_interval_reads_seconds_minutes_and_hours(text, seconds):
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "0m", "1d", "-5m", "1.5h", "m"])
def test_parse_interval_rejects_anything_else(text):
    with pytest.raises(ConfigError, match="expected an interval like 30s, 15m or 1h"):
        parse_interval(text)


def test_next_run_starts_an_interval_after_the_last_start_but_never_before_its_end():
    assert next_start(started=100.0, ended=130.0, every=60.0) == 160.0
    assert next_start(started=100.0, ended=175.0, every=60.0) == 175.0


def test_build_command_is_dbt_build_from_the_repository_root_with_the_selection():
    command = build_command(("tag:hourly", "fct_events+"))

    assert Path(command[0]).name == "dbt"
    assert command[1:] == (
        "build",
        "--exclude-resource-type",
        "unit_test",
        "--profiles-dir",
        ".",
        "--project-dir",
        ".",
        "--select",
        "tag:hourly",
        "fct_events+",
    )


def test_the_scheduled_build_runs_below_the_readers_cpu_priority():
    """run-analytics builds at EVENTLAKE_BUILD_NICENESS (10): nice(1) execs dbt, so the
    scheduler's signals still reach it; 0 runs dbt itself."""
    command = build_command(("fct_events",), niceness=10)

    assert command[:3] == ("nice", "-n", "10")
    assert command[3:] == build_command(("fct_events",))
    niced = subprocess.run(
        [*command[:3], sys.executable, "-c", "import os; print(os.nice(0))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(niced.stdout) == os.nice(0) + 10


@pytest.mark.parametrize("code", [0, 3])
def test_once_exits_with_the_commands_exit_code(code):
    command = python(f"import sys; sys.exit({code})")

    assert run_schedule(command, 60, once=True, handle_signals=False) == code


def test_runs_never_overlap_and_a_failed_run_does_not_stop_the_loop(tmp_path):
    log = tmp_path / "runs.jsonl"
    scheduler = Scheduler(ScheduleConfig(tuple(recorder(log, seconds=0.4, exit_code=1)), every=0.2))
    threading.Thread(
        target=lambda: (wait_for(lambda: len(runs(log)) >= 3), scheduler.stop()), daemon=True
    ).start()

    assert scheduler.run() == 0

    seen = runs(log)
    assert len(seen) >= 3
    for (_, previous_end), (start, _) in zip(seen, seen[1:], strict=False):
        assert start >= previous_end


def test_a_quick_run_waits_for_the_interval(tmp_path):
    log = tmp_path / "runs.jsonl"
    scheduler = Scheduler(ScheduleConfig(tuple(recorder(log)), every=0.6))
    threading.Thread(
        target=lambda: (wait_for(lambda: len(runs(log)) >= 3), scheduler.stop()), daemon=True
    ).start()

    scheduler.run()

    starts = [start for start, _ in runs(log)]
    assert all(b - a >= 0.55 for a, b in zip(starts, starts[1:], strict=False))


def scheduler_process(tmp_path: Path, command: list[str], *args: str) -> subprocess.Popen:
    """The scheduler in a process of its own, with its signal handlers installed."""
    script = (
        "import sys\n"
        "from eventlake.ops.schedule import run_schedule\n"
        f"sys.exit(run_schedule({command!r}, 60, once={'--once' in args}))\n"
    )
    return subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path)


def test_sigterm_between_runs_stops_the_loop_at_once(tmp_path):
    log = tmp_path / "runs.jsonl"
    process = scheduler_process(tmp_path, recorder(log))
    wait_for(lambda: len(runs(log)) == 1)

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=10) == 0
    assert len(runs(log)) == 1


def build_that_finishes_on_sigterm(marker: Path) -> list[str]:
    """Says when it started; on SIGTERM notes it, finishes its work and exits 0."""
    return python(
        "import signal, sys, time\n"
        f"marker = {str(marker)!r}\n"
        "def finish(signum, frame):\n"
        "    time.sleep(0.5)\n"
        "    open(marker, 'a').write(f'got {signum}, finished\\n')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, finish)\n"
        "open(marker, 'a').write('started\\n')\n"
        "time.sleep(60)\n"
        "sys.exit(5)\n"
    )


def test_sigterm_during_a_run_is_forwarded_and_the_run_is_waited_for(tmp_path):
    marker = tmp_path / "build.log"
    process = scheduler_process(tmp_path, build_that_finishes_on_sigterm(marker))
    wait_for(lambda: marker.exists())

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=10) == 0
    assert marker.read_text() == f"started\ngot {int(signal.SIGTERM)}, finished\n"


def test_sigint_during_a_once_run_exits_with_the_builds_code(tmp_path):
    marker = tmp_path / "build.log"
    command = python(
        "import sys, time\n"
        f"open({str(marker)!r}, 'w').write('started')\n"
        "try:\n"
        "    time.sleep(60)\n"
        "except KeyboardInterrupt:\n"
        "    sys.exit(2)\n"
    )
    process = scheduler_process(tmp_path, command, "--once")
    wait_for(lambda: marker.exists())

    process.send_signal(signal.SIGINT)

    assert process.wait(timeout=10) == 2


def test_each_run_holds_the_lake_lock_exclusively(tmp_path):
    lock = tmp_path / "lake" / ".maintenance.lock"
    probe = python(
        "import fcntl, sys\n"
        f"handle = open({str(lock)!r}, 'a')\n"
        "try:\n"
        "    fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)\n"
        "except BlockingIOError:\n"
        "    sys.exit(7)  # neither another build nor erasure, compaction or retention\n"
    )

    code = run_schedule(
        probe, 60, once=True, lock=LakeLock(tmp_path / "lake"), handle_signals=False
    )

    assert code == 7


def test_the_runs_get_the_lakehouse_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("EVENTLAKE_CATALOG", "sqlite:elsewhere.sqlite")
    seen = tmp_path / "env.json"
    probe = python(
        "import json, os\n"
        f"open({str(seen)!r}, 'w').write(json.dumps([os.environ['EVENTLAKE_CATALOG'], "
        "os.environ['EVENTLAKE_LAKE_DIR'], os.environ['EVENTLAKE_TOPIC']]))\n"
    )
    monkeypatch.setenv("EVENTLAKE_TOPIC", "clicks")
    settings = Settings(lake_dir=tmp_path / "lake", catalog=f"sqlite:{tmp_path / 'l.sqlite'}")

    code = run_schedule(probe, 60, once=True, env=settings.dbt_env(), handle_signals=False)

    assert code == 0
    assert json.loads(seen.read_text()) == [settings.catalog, str(settings.lake_dir), "clicks"]


def test_a_run_waits_while_compaction_holds_the_lake_lock(tmp_path):
    from eventlake.lake.lock import maintenance_lock

    log = tmp_path / "runs.jsonl"
    lake_dir = tmp_path / "lake"
    scheduler = Scheduler(ScheduleConfig(tuple(recorder(log)), every=60, lock=LakeLock(lake_dir)))
    with maintenance_lock(lake_dir):
        worker = threading.Thread(target=scheduler.run, kwargs={"once": True})
        worker.start()
        time.sleep(1.0)
        assert runs(log) == []
        released = time.time()
    worker.join(timeout=20)

    assert len(runs(log)) == 1 and runs(log)[0][0] >= released


def test_help_shows_the_equivalent_cron_line():
    result = CliRunner().invoke(cli, ["run-analytics", "--help"])

    assert result.exit_code == 0
    assert CRON_EXAMPLE in result.output
    assert CRON_EXAMPLE.startswith("*/15 * * * * ")


@pytest.mark.parametrize(("build_code", "then_runs"), [(0, 1), (2, 0)])
def test_the_follow_up_runs_only_after_a_successful_build(tmp_path, build_code, then_runs):
    build, then = tmp_path / "build.jsonl", tmp_path / "then.jsonl"
    code = run_schedule(
        recorder(build, exit_code=build_code),
        60,
        once=True,
        then=[recorder(then, exit_code=4)],
        handle_signals=False,
    )

    assert len(runs(then)) == then_runs
    assert code == (4 if then_runs else build_code)


@pytest.mark.slow
def test_one_scheduled_build_publishes_and_loads_the_online_store(tmp_path):
    """`run-analytics --once --materialize-online` on a real lake: dbt builds into the lakehouse
    named by the settings, publishes, and the online store gets the published dim_user_features."""
    from eventlake.simulate.config import GeneratorConfig
    from eventlake.simulate.lake_writer import write_raw_lake
    from tests.dbt_support import REPO, query

    lake, catalog = tmp_path / "lake", f"sqlite:{tmp_path / 'lakehouse.sqlite'}"
    write_raw_lake(GeneratorConfig(events=2_000, days=2), lake)
    env = dict(
        os.environ,
        EVENTLAKE_LAKE_DIR=str(lake),
        EVENTLAKE_CATALOG=catalog,
        EVENTLAKE_ONLINE_BACKEND="sqlite",
        EVENTLAKE_ONLINE_PATH=str(tmp_path / "online.sqlite"),
        DBT_TARGET_PATH=dbt_target(tmp_path),
        DBT_LOG_PATH=str(tmp_path / "logs"),
    )

    def eventlake(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "eventlake.cli", *args]
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)

    done = eventlake("run-analytics", "--once", "--materialize-online")

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ran = json.loads((Path(env["DBT_TARGET_PATH"]) / "run_results.json").read_text())["results"]
    kinds = {result["unique_id"].split(".")[0] for result in ran}
    assert {"model", "test", "snapshot"} <= kinds and "unit_test" not in kinds, kinds
    user_id, events_30d, as_of = query(
        lake,
        catalog,
        "select user_id, events_30d, features_as_of from dim_user_features"
        " order by events_30d desc, user_id limit 1",
    )[0]
    found = eventlake("features", "get", "--user-id", user_id)
    assert found.returncode == 0, found.stderr
    features = json.loads(found.stdout)
    assert features["batch"]["events_30d"] == events_30d
    assert features["as_of"] == as_of.isoformat()
