"""The dbt layer over a lake the real loader wrote from a real broker: incremental facts in the
lakehouse, additive schema evolution, the late window and its quarantine, idempotent rebuilds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from eventlake.ingest.loader import Loader
from eventlake.lake.storage import lake_storage
from tests.dbt_support import dbt, file_identities, query
from tests.support import event, produce

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def days_ago(days: int) -> date:
    return (datetime.now(UTC) - timedelta(days=days)).date()


def dated(number: int, days: int, **fields: object) -> tuple[bytes, bytes]:
    """Event `number` at noon `days` ago plus `number` seconds: its date never depends on the
    hour the test runs at."""
    noon = datetime.combine(days_ago(days), datetime.min.time(), UTC) + timedelta(hours=12)
    at = noon + timedelta(seconds=number % 40_000)
    return event(number, event_time=at.isoformat().replace("+00:00", "Z"), **fields)


def land(settings, loader_config, messages) -> None:
    produce(settings, messages)
    Loader(settings, loader_config).run(once=True)


def build(settings) -> str:
    return dbt(settings.lake_dir, settings.catalog, "build")


def sql(settings, text: str) -> list[tuple]:
    return query(settings.lake_dir, settings.catalog, text)


def curated(settings):
    return lake_storage(settings.lake_dir).uri("curated/build/fct_events")


def folders(names) -> set[str]:
    return {name.split("/")[0] for name in names}


def fct_events_changes_since(settings, snapshot: int) -> int:
    """Rows fct_events gained or lost in the snapshots after `snapshot`."""
    newest = sql(settings, "select max(snapshot_id) from lakehouse.snapshots()")[0][0]
    if newest == snapshot:
        return 0
    return sql(
        settings,
        "select count(*) from ducklake_table_changes("
        f"'lakehouse', 'build', 'fct_events', {snapshot + 1}, {newest})",
    )[0][0]


def test_version_2_fields_appear_as_columns_and_history_is_not_rewritten(
    settings, loader_config, lake_dir
):
    # Version 1 on three old dates.
    land(settings, loader_config, [dated(n, 10 + n % 3) for n in range(3000)])
    build(settings)
    history = file_identities(curated(settings))
    old_dates = sorted(days_ago(10 + k) for k in range(3))
    assert folders(history) == {f"event_date={day}" for day in old_dates}
    columns = {row[0] for row in sql(settings, "describe fct_events")}
    assert "coupon_code" not in columns and "referrer" not in columns
    before = sql(
        settings,
        """select event_date, event_type, country_code, count(*), sum(price)
        from fct_events group by all order by all""",
    )

    # Version 2 on two new dates: new optional fields.
    land(
        settings,
        loader_config,
        [
            dated(n, 1 + n % 2, schema_version=2, coupon_code=f"C{n % 7}",
                  referrer="https://search.example/")
            for n in range(3000, 4000)
        ],
    )  # fmt: skip
    build(settings)

    for model in ("build.fct_events", "fct_events", "events"):
        columns = [row[0] for row in sql(settings, f"describe {model}")]
        assert {"coupon_code", "referrer"} <= set(columns), model
    # Historical files were not rewritten: same inode, same mtime; the new dates have files.
    after = file_identities(curated(settings))
    assert {name: after[name] for name in history} == history
    assert folders(set(after) - set(history)) == {f"event_date={days_ago(k)}" for k in (1, 2)}
    # Historical rows read NULL for the new fields; new rows carry them.
    by_version = sql(
        settings,
        """select event_date in ({}) as old, count(coupon_code), count(*)
        from fct_events group by all order by all""".format(
            ", ".join(f"date '{day}'" for day in old_dates)
        ),
    )
    assert by_version == [(False, 1000, 1000), (True, 0, 3000)]
    # A query that does not mention the new fields answers as before.
    again = sql(
        settings,
        f"""select event_date, event_type, country_code, count(*), sum(price)
        from fct_events where event_date <= date '{old_dates[-1]}' group by all order by all""",
    )
    assert again == before


def test_late_events_merge_inside_the_window_and_are_quarantined_beyond_it(settings, loader_config):
    land(settings, loader_config, [dated(n, 6 + n % 5) for n in range(5000)])
    build(settings)
    first = file_identities(curated(settings))
    facts = sql(settings, "select count(*) from fct_events")[0][0]
    assert facts == 5000

    # Newest merged date: 6 days ago. Late window: 3 days.
    two_days_late = dated(90001, 8)
    four_days_late = dated(90002, 10)
    retried = dated(17, 6 + 17 % 5)  # a producer retry of an event already merged
    land(settings, loader_config, [two_days_late, four_days_late, retried])
    build(settings)

    assert sql(settings, "select count(*) from fct_events")[0][0] == 5001
    assert sql(settings, "select count(*) from fct_events where event_id = 'evt-000090001'") == [
        (1,)
    ]
    quarantined = sql(settings, "select event_id, event_date from fct_events_quarantine")
    assert quarantined == [("evt-000090002", days_ago(10))]
    # The late event was appended to its date; no file was rewritten, and the retry, already
    # merged, added none to its own date.
    second = file_identities(curated(settings))
    assert {name: second[name] for name in first} == first
    assert folders(set(second) - set(first)) == {f"event_date={days_ago(8)}"}

    # A rebuild with nothing new changes nothing: no file, no row.
    snapshot = sql(settings, "select max(snapshot_id) from lakehouse.snapshots()")[0][0]
    build(settings)
    assert file_identities(curated(settings)) == second
    assert fct_events_changes_since(settings, snapshot) == 0
    assert sql(settings, "select count(*) from fct_events_quarantine") == [(1,)]
