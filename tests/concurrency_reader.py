"""A reader process of tests/lake/test_concurrency.py: a dashboard or an analyst querying the
lakehouse read-only in a loop while builds and maintenance run beside it.

    python -m tests.concurrency_reader KIND CATALOG LAKE OUT [--reconnect]

KIND picks the query (QUERIES); --reconnect opens a connection per query (a notebook cell, a BI
refresh), whose time is not in the query's latency. Every query answers (newest_date, total,
duplicated, disagreeing) from ONE statement, so from one DuckLake snapshot: facts beside the
rollups or the features built from them. A sample is sound when nothing is duplicated and
nothing disagrees, which write-audit-publish guarantees. The loop runs until the file OUT.stop
exists, touches OUT.ready after its first answer, and writes its tally to OUT as JSON: samples,
errors, unsound samples ([wall-clock time, *answer]), latencies ([wall-clock time, ms]) and the
distinct (newest_date, total) answers in the order seen.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

from eventlake.lake.lakehouse import connect

# Facts of the last 7 days (newest date included) per date and type, beside the daily rollup
# of the same dates and types.
EVENTS_LAST_7_DAYS = """
with

newest as (

    select max(event_date) as event_date from events

),

facts as (

    select
        event_date,
        event_type,
        count(*) as events,
        count(distinct event_id) as event_ids
    from events
    where event_date > (select event_date from newest) - 7
    group by all

),

rollups as (

    select
        event_date,
        event_type,
        sum(events) as events
    from agg_events_daily
    where event_date > (select event_date from newest) - 7
    group by all

)

select
    (select event_date from newest) as newest_date,
    coalesce(sum(facts.events), 0) as total,
    coalesce(sum(facts.events - facts.event_ids), 0) as duplicated,
    count(*) filter (
        where facts.events is distinct from rollups.events
    ) as disagreeing
from facts
full outer join rollups
    on facts.event_date = rollups.event_date
    and facts.event_type = rollups.event_type
"""

# Both rollups against the facts, every date the facts hold (rollups outlive expired facts).
ROLLUPS = """
with

facts as (

    select
        event_date,
        count(*) as events
    from events
    group by 1

),

first_date as (

    select min(event_date) as event_date from facts

),

daily as (

    select
        event_date,
        sum(events) as events
    from agg_events_daily
    where event_date >= (select event_date from first_date)
    group by 1

),

hourly as (

    select
        event_date,
        sum(events) as events
    from agg_events_hourly
    where event_date >= (select event_date from first_date)
    group by 1

)

select
    max(daily.event_date) as newest_date,
    coalesce(sum(daily.events), 0) as total,
    0 as duplicated,
    count(*) filter (
        where facts.events is distinct from daily.events
        or hourly.events is distinct from daily.events
    ) as disagreeing
from facts
full outer join daily on facts.event_date = daily.event_date
full outer join hourly on coalesce(facts.event_date, daily.event_date) = hourly.event_date
"""

# The features' 7-day counts against the facts of the same 7 days (as dim_user_features counts).
USER_FEATURES = """
with

features as (

    select
        max(features_as_of) as as_of,
        count(*) as users,
        count(distinct user_id) as user_ids,
        coalesce(sum(events_7d), 0) as events_7d
    from dim_user_features

),

facts as (

    select count(*) as events_7d
    from events
    cross join features
    where
        events.event_date >= cast(features.as_of - interval 7 day as date)
        and events.event_at > features.as_of - interval 7 day
        and events.event_at <= features.as_of

)

select
    cast(features.as_of as date) as newest_date,
    features.events_7d as total,
    features.users - features.user_ids as duplicated,
    cast(features.events_7d != facts.events_7d as integer) as disagreeing
from features
cross join facts
"""

QUERIES = {"events": EVENTS_LAST_7_DAYS, "rollups": ROLLUPS, "dim_user_features": USER_FEATURES}
PAUSE_SECONDS = 0.1
"""Between two queries: a few queries a second, as a busy dashboard; four readers stay within
about half a core, so the build beside them is not starved."""
DEADLINE_SECONDS = 900
"""A reader whose test died stops by itself."""


def open_connection(catalog: str, lake: str) -> duckdb.DuckDBPyConnection:
    connection = connect(catalog, lake, read_only=True)
    connection.execute("set threads = 1")
    return connection


def run(kind: str, catalog: str, lake: str, out: Path, *, reconnect: bool) -> dict:
    """Query until OUT.stop exists; returns the tally."""
    sql = QUERIES[kind]
    stop, ready = out.with_suffix(".stop"), out.with_suffix(".ready")
    tally = {"kind": kind, "reconnect": reconnect, "samples": 0, "errors": [], "unsound": []}
    latencies: list[list[float]] = []
    answers: list[list] = []
    connection = None
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not stop.exists() and time.monotonic() < deadline:
        try:
            if connection is None:
                connection = open_connection(catalog, lake)
            started = time.perf_counter()  # the query's latency; a connection's is its own
            row = connection.execute(sql).fetchone()
        except duckdb.Error as error:
            tally["errors"].append(f"at {time.time():.3f}: {type(error).__name__}: {error}")
            connection = None
            time.sleep(PAUSE_SECONDS)
            continue
        latencies.append([time.time(), (time.perf_counter() - started) * 1000])
        if reconnect:
            connection.close()
            connection = None
        newest, total, duplicated, disagreeing = row
        answer = [str(newest), int(total)]
        if not answers or answers[-1] != answer:
            answers.append(answer)
        if duplicated or disagreeing:
            tally["unsound"].append(
                [time.time(), str(newest), int(total), int(duplicated), int(disagreeing)]
            )
        tally["samples"] += 1
        ready.touch()
        time.sleep(PAUSE_SECONDS)
    tally["latencies_ms"] = latencies
    tally["answers"] = answers
    return tally


def main(argv: list[str]) -> None:
    kind, catalog, lake, out = argv[:4]
    out_path = Path(out)
    tally = run(kind, catalog, lake, out_path, reconnect="--reconnect" in argv[4:])
    out_path.write_text(json.dumps(tally))


if __name__ == "__main__":
    main(sys.argv[1:])
