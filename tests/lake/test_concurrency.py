"""Many readers, one lakehouse: reader processes query the published models while a build with a
new day, an erasure pass, compaction and retention run, on a SQLite and a PostgreSQL catalog;
and a build killed with SIGKILL leaves the previous build readable and the next one completes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from eventlake.dbt.runner import PRODUCTION_BUILD, dbt_command
from tests.concurrency_reader import QUERIES
from tests.dbt_support import REPO, dbt, dbt_target, query

pytestmark = pytest.mark.slow

EVENTLAKE = Path(sys.executable).parent / "eventlake"
START = date(2026, 11, 1)
DAYS = 10
NEW_DAY = START + timedelta(days=DAYS)
READERS = (
    ("events", False),
    ("events", True),  # a fresh connection per query, as a notebook cell or a BI refresh
    ("rollups", False),
    ("dim_user_features", False),
)
IDLE_SECONDS = 3.0
"""Readers run alone this long first: their idle latencies, to set beside the busy ones."""

# The published answer a reader must keep seeing until a build publishes: per date, the facts
# and the daily rollup's total.
PUBLISHED = """
select
    event_date,
    count(*) as events,
    count(distinct event_id) as event_ids,
    sum(price) as price,
    (
        select sum(rollups.events) from agg_events_daily as rollups
        where rollups.event_date = facts.event_date
    ) as rolled_up
from events as facts
group by 1
order by 1
"""


@pytest.fixture(params=["sqlite", "postgres"])
def catalog(request: pytest.FixtureRequest, settings) -> str:
    """Both catalogs: the settings' SQLite file and a PostgreSQL database of the test's own."""
    if request.param == "sqlite":
        return settings.catalog
    return request.getfixturevalue("postgres_catalog")


def cli_env(settings, catalog: str) -> dict[str, str]:
    """The environment `eventlake` runs with: this test's topics, lake and catalog, dbt's target
    and logs beside the lake, no streaming store to wait for."""
    work = settings.lake_dir.parent
    return dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
        EVENTLAKE_TOPIC=settings.topic,
        EVENTLAKE_DLQ_TOPIC=settings.dlq_topic,
        EVENTLAKE_ERASURE_TOPIC=f"{settings.topic}-erasure",
        EVENTLAKE_CONFIRMATION_TOPIC=f"{settings.topic}-confirmations",
        EVENTLAKE_LAKE_DIR=str(settings.lake_dir),
        EVENTLAKE_CATALOG=catalog,
        EVENTLAKE_ERASURE_STREAM_STORES="",
        DBT_TARGET_PATH=dbt_target(work),
        DBT_LOG_PATH=str(work / "logs"),
    )


def eventlake(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(EVENTLAKE), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, (
        f"eventlake {' '.join(args)}:\n{done.stdout[-4000:]}\n" + (done.stderr[-4000:])
    )
    return done.stdout


def generate(env: dict[str, str], truth: Path, *args: str) -> dict:
    """generate-lake; returns its ground truth (valid unique events per day)."""
    eventlake(env, "generate-lake", "--truth", str(truth), *args)
    return json.loads(truth.read_text())


# Readers ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def readers(catalog: str, lake: Path, folder: Path) -> Iterator[list[dict]]:
    """The READERS as processes, looping until the block ends; yields the list their tallies
    (tests/concurrency_reader.py) fill once they have stopped."""
    folder.mkdir()
    started = []
    for number, (kind, reconnect) in enumerate(READERS):
        out = folder / f"{number}-{kind}.json"
        argv = [sys.executable, "-m", "tests.concurrency_reader", kind, catalog, str(lake)]
        argv += [str(out), "--reconnect"] if reconnect else [str(out)]
        started.append((out, subprocess.Popen(argv, cwd=REPO)))
    tallies: list[dict] = []
    try:
        wait_for(
            lambda: all(out.with_suffix(".ready").exists() for out, _ in started),
            timeout=120,
            alive=[process for _, process in started],
        )
        yield tallies
    finally:
        for out, _ in started:
            out.with_suffix(".stop").touch()
        for out, process in started:
            process.wait(timeout=120)
            assert process.returncode == 0, f"reader {out.name} exited with {process.returncode}"
            tallies.append(json.loads(out.read_text()))


def wait_for(condition: Callable[[], bool], *, timeout: float, alive=()) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for process in alive:
            assert process.poll() is None, f"{process.args} exited with {process.returncode}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def latency_report(tallies: list[dict], phases: dict[str, tuple[float, float]]) -> str:
    """Per reader and phase (idle, each step): samples, median and p99 latency in ms."""
    lines = []
    for number, tally in enumerate(tallies):
        cells = []
        for phase, (begin, end) in phases.items():
            spent = [ms for at, ms in tally["latencies_ms"] if begin <= at < end]
            if spent:
                p99 = statistics.quantiles(spent, n=100)[98] if len(spent) > 1 else spent[0]
                median = statistics.median(spent)
                cells.append(f"{phase} n={len(spent)} p50={median:.0f} p99={p99:.0f}")
        kind = tally["kind"] + (" (reconnecting)" if tally["reconnect"] else "")
        lines.append(f"  reader {number} {kind}: " + "; ".join(cells))
    return "\n".join(lines)


# Test 1 ----------------------------------------------------------------------------------------


class Steps:
    """The writers' steps, one after another, each timed. A step whose command fails ends there
    and is recorded, and the next step still runs: the readers are judged over all of them."""

    def __init__(self) -> None:
        self.spans: dict[str, tuple[float, float]] = {}
        self.failures: dict[str, str] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        began = time.time()
        try:
            yield
        except Exception as error:  # a failed command, a timeout: judged after the readers
            self.failures[name] = f"{type(error).__name__}: {str(error)[-3000:]}"
        finally:
            self.spans[name] = (began, time.time())

    def during(self, instants: list[float]) -> dict[str, int]:
        """How many of these instants fall in each step."""
        counts: dict[str, int] = {}
        for instant in instants:
            name = next((n for n, (b, e) in self.spans.items() if b <= instant < e), "between")
            counts[name] = counts.get(name, 0) + 1
        return counts


def write_beside_the_readers(settings, catalog: str, step: Steps, folder: Path) -> str:
    """The writers, one after another: a build with a new day, an erasure pass (of the new day's
    heaviest user), compaction, retention (the first two dates). Returns the erased user."""
    lake = settings.lake_dir
    env = cli_env(settings, catalog)
    with step("idle"):
        time.sleep(IDLE_SECONDS)
    with step("build"):
        generate(env, folder / "truth-1.json", "--append", "--events", "5000")
        dbt(lake, catalog, "build")
    user_id = query(
        lake, catalog,
        f"select user_id from events where event_date = date '{NEW_DAY}' "
        "group by 1 order by count(*) desc, 1 limit 1",
    )[0][0]  # fmt: skip
    with step("erasure"):
        # Deletes the user's facts, then the pass's build recomputes the rollups: readers must
        # never see the facts without the user beside rollups that still count them.
        eventlake(env, "erase", "--user-id", user_id)
        eventlake(env, "erasure", "process")
    with step("compaction"):
        eventlake(env, "compact", "--apply", "--target-mb", "64")
    with step("retention"):
        today = NEW_DAY + timedelta(days=2)  # 10 days back: the first two dates expire
        eventlake(env, "retention", "--apply", "--today", today.isoformat(), "--keep-days", "10")
    with step("after"):
        time.sleep(1.0)
    return user_id


def test_readers_see_one_whole_build_while_builds_erasure_compaction_and_retention_run(
    settings, catalog: str, tmp_path: Path
) -> None:
    lake = settings.lake_dir
    generate(cli_env(settings, catalog), tmp_path / "truth-0.json", "--events", "50000",
             "--days", str(DAYS), "--start-date", START.isoformat())  # fmt: skip
    dbt(lake, catalog, "build")
    before = query(lake, catalog, QUERIES["events"])[0]
    assert before[0] == NEW_DAY - timedelta(days=1)
    step = Steps()

    with readers(catalog, lake, tmp_path / "readers") as tallies:
        user_id = write_beside_the_readers(settings, catalog, step, tmp_path)
        final = {kind: query(lake, catalog, sql)[0] for kind, sql in QUERIES.items()}

    print(f"\nreader latencies (ms), catalog {catalog.partition(':')[0]}:")
    print(latency_report(tallies, step.spans))
    print("steps (s): " + ", ".join(f"{n} {e - b:.1f}" for n, (b, e) in step.spans.items()))

    # Every build and pass succeeded, every sample answered, and every answer agreed with
    # itself: facts beside rollups or features of the same build.
    assert step.failures == {}
    for tally in tallies:
        assert tally["errors"] == [], tally["errors"][:5]
        assert tally["samples"] >= 10, tally["samples"]
    unsound = {
        f"{number}-{tally['kind']}": step.during([sample[0] for sample in tally["unsound"]])
        for number, tally in enumerate(tallies)
        if tally["unsound"]
    }
    assert unsound == {}, "samples whose facts and rollups or features disagree, per step"
    # The readers saw the lake move, from the first build to the last state.
    for tally in tallies:
        if tally["kind"] == "events":
            assert tally["answers"][0] == [str(before[0]), before[1]]
        answer = final[tally["kind"]]
        assert tally["answers"][-1] == [str(answer[0]), answer[1]]
        assert answer[0] == NEW_DAY
    # The passes did what they say.
    erased = f"select count(*) from events where user_id = '{user_id}'"
    assert query(lake, catalog, erased) == [(0,)]
    erased = f"select count(*) from dim_user_features where user_id = '{user_id}'"
    assert query(lake, catalog, erased) == [(0,)]
    first_date = query(lake, catalog, "select min(event_date) from events")[0][0]
    assert first_date == START + timedelta(days=2)


# Test 2 ----------------------------------------------------------------------------------------

KILL_POINTS = (
    # (the debug log's last words before the kill, what the build was doing)
    ("On model.eventlake.fct_events: BEGIN", "fct_events writing the new day's data files"),
    ("On model.eventlake.fct_events: COMMIT", "fct_events committing to the catalog"),
    ("create schema if not exists lakehouse.main;", "publishing"),
)


def start_build(env: dict[str, str]) -> subprocess.Popen:
    """`dbt build` on the test's lake and catalog, not waited for."""
    return subprocess.Popen(
        list(dbt_command(*PRODUCTION_BUILD)),
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kill_when_logged(process: subprocess.Popen, log: Path, offset: int, line: str) -> str:
    """SIGKILL the build as soon as its debug log (from offset) holds `line`; returns the log's
    last line before the kill."""
    tail = ""
    deadline = time.monotonic() + 300
    while line not in tail:
        assert process.poll() is None, f"the build ended ({process.returncode}) before {line!r}"
        assert time.monotonic() < deadline, f"no {line!r} in the log"
        time.sleep(0.002)
        with contextlib.suppress(FileNotFoundError), open(log, encoding="utf-8") as handle:
            handle.seek(offset)
            tail = handle.read()
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    return [text for text in tail.splitlines() if text.strip()][-1]


def test_a_build_killed_mid_commit_leaves_the_previous_build_readable_and_the_next_completes(
    settings, tmp_path: Path
) -> None:
    lake, catalog = settings.lake_dir, settings.catalog
    env = cli_env(settings, catalog)
    first = generate(env, tmp_path / "truth-0.json", "--events", "20000", "--days", "5",
                     "--start-date", START.isoformat())  # fmt: skip
    dbt(lake, catalog, "build")
    published = query(lake, catalog, PUBLISHED)
    new_day = START + timedelta(days=5)
    second = generate(env, tmp_path / "truth-1.json", "--append", "--events", "5000")

    truth = Counter(first["by_day"]) + Counter(second["by_day"])
    days = [START + timedelta(days=n) for n in range(6)]
    complete = [(day, truth[str(day)]) for day in days]

    log = lake.parent / "logs" / "dbt.log"
    for expected, doing in KILL_POINTS:
        offset = log.stat().st_size
        last = kill_when_logged(start_build(env), log, offset, expected)
        now = query(lake, catalog, PUBLISHED)
        built = query(
            lake, catalog, f"select count(*) from build.fct_events where event_date = '{new_day}'"
        )[0][0]
        print(
            f"\nkilled while {doing} (last log line {last[-80:]!r}): the build's fct_events "
            f"{'holds' if built else 'lacks'} the new day, readers see the "
            f"{'new' if now != published else 'previous'} build"
        )
        # Readers see the previous build exactly, facts and rollups; only a kill after the
        # publishing commit shows the new build, and then all of it.
        if now != published:
            assert doing == "publishing"
            assert [(row[0], row[1]) for row in now] == complete
            assert all(row[1] == row[2] == row[4] for row in now)

    dbt(lake, catalog, "build")
    after = query(lake, catalog, PUBLISHED)
    assert after[: len(published)] == published
    assert [(row[0], row[1], row[2], row[4]) for row in after] == [
        (day, count, count, count) for day, count in complete
    ]
