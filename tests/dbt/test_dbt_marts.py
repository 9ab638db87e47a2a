"""The consumer marts over a raw lake written straight to disk (no broker): fct_training_events
appends only the rows fct_events inserted, int_users__last_seen folded incrementally equals a
recomputation from all facts, and the feature marts follow the newest event."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.lake_writer import write_raw_lake
from tests.dbt_support import dbt, file_identities, query

pytestmark = [pytest.mark.slow]

START = dt.date(2026, 1, 1)


def folders(names) -> list[str]:
    return sorted({name.split("/")[0] for name in names})


def test_an_appended_day_adds_only_its_training_files(tmp_path: Path) -> None:
    lake, catalog = tmp_path / "lake", f"sqlite:{tmp_path / 'lakehouse.sqlite'}"
    write_raw_lake(GeneratorConfig(events=20_000, days=5, start_date=START, late_fraction=0), lake)
    dbt(lake, catalog, "build")
    training = lake / "curated" / "build" / "fct_training_events"
    first = file_identities(training)
    assert folders(first) == [f"event_date={START + dt.timedelta(days=k)}" for k in range(5)]

    # Nothing new: no file added or rewritten, the folded users unchanged.
    users = query(lake, catalog, "select * from int_users__last_seen order by user_id")
    dbt(lake, catalog, "build")
    assert file_identities(training) == first
    assert query(lake, catalog, "select * from int_users__last_seen order by user_id") == users

    # One more day: files are added in its folder only, the five others keep theirs.
    day = START + dt.timedelta(days=5)
    config = GeneratorConfig(events=4_000, days=1, start_date=day, seed=7, late_fraction=0)
    write_raw_lake(config, lake, append=True)
    dbt(lake, catalog, "build")
    after = file_identities(training)
    assert {name: after[name] for name in first} == first
    assert folders(set(after) - set(first)) == [f"event_date={day}"]

    # The incremental fold equals a recomputation over every fact.
    mismatches = query(
        lake,
        catalog,
        """
        with ranked as (
            select *, row_number() over (
                partition by user_id order by event_at desc, event_id desc) as rank
            from fct_events
        ),
        recomputed as (
            select
                user_id,
                max(case when rank = 1 then country_code end) as country_code,
                max(case when rank = 1 then device_type end) as device_type,
                min(event_at) as first_seen_at,
                max(event_at) as last_seen_at,
                max(case when event_type = 'purchase' then event_at end) as last_purchase_at
            from ranked
            group by 1
        )
        select count(*)
        from recomputed
        full outer join int_users__last_seen as folded using (user_id)
        where folded.user_id is null or recomputed.user_id is null
            or folded.country_code is distinct from recomputed.country_code
            or folded.device_type is distinct from recomputed.device_type
            or folded.first_seen_at != recomputed.first_seen_at
            or folded.last_seen_at != recomputed.last_seen_at
            or folded.last_purchase_at is distinct from recomputed.last_purchase_at
        """,
    )
    assert mismatches == [(0,)]

    # The feature marts are as of the newest event, which is on the new day.
    newest = query(lake, catalog, "select max(event_at) from fct_events")[0][0]
    assert query(lake, catalog, "select distinct features_as_of from dim_user_features") == [
        (newest,)
    ]
    assert query(lake, catalog, "select distinct window_end from agg_fraud_user_velocity") == [
        (newest,)
    ]
    assert query(lake, catalog, "select count(*) from fct_training_events") == query(
        lake, catalog, "select count(*) from fct_events"
    )
