"""A flush that wrote its files and never committed (the loader killed between steps 2 and 3 of
its protocol) is invisible: dbt builds without it and `eventlake sql` does not see it, on a
bucket (where the files carry their final names from the start) as on disk; the next loader
removes it."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from eventlake.ingest.loader import Loader
from eventlake.lake import layout
from eventlake.lake.storage import lake_storage
from tests.dbt_support import REPO, dbt
from tests.support import events, loader_env, produce

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def crashed_flush(settings, partition: int) -> str:
    """Steps 1 and 2 of a flush of `partition`, no step 3: a committed file's rows under new
    event ids and the offsets past next_offset, pending in the checkpoint. Returns its path."""
    storage = lake_storage(settings.lake_dir)
    checkpoint = layout.read_checkpoint(settings.lake_dir, settings.topic, partition)
    template = next(
        info.path
        for info in storage.list_files(str(layout.RAW_EVENTS), suffix=".parquet")
        if f"+{partition:05d}+" in info.base_name
    )
    with storage.fs.open_input_file(template) as source:
        table = pq.read_table(source)
    first = checkpoint.next_offset
    ghost_ids = pc.binary_join_element_wise(table["event_id"], pa.scalar("-ghost"), "")
    table = table.set_column(table.schema.get_field_index("event_id"), "event_id", ghost_ids)
    offsets = pa.array(range(first, first + table.num_rows), pa.int64())
    table = table.set_column(table.schema.get_field_index("_offset"), "_offset", offsets)
    name = layout.data_file_name(settings.topic, partition, first, first + table.num_rows - 1)
    relative = f"{template.rsplit('/', 1)[0]}/{name}"
    layout.write_checkpoint(
        settings.lake_dir,
        settings.topic,
        partition,
        layout.Checkpoint(checkpoint.next_offset, [relative]),
    )
    layout.publish_parquet(table, settings.lake_dir, relative, row_group_size=1 << 17)
    return relative


def eventlake_sql(settings, query: str) -> str:
    env = loader_env(settings)
    env["EVENTLAKE_CATALOG"] = settings.catalog
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "eventlake.cli",
            "sql",
            "-c",
            query,
            "--format",
            "csv",
            "--allow-full-scan",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_an_uncommitted_flush_is_read_by_no_build_and_no_query(settings, loader_config, lake_dir):
    produce(settings, events(2_000))
    Loader(settings, loader_config).run(once=True)
    ghost = crashed_flush(settings, 0)
    storage = lake_storage(settings.lake_dir)
    assert storage.exists(ghost)

    dbt(settings.lake_dir, settings.catalog, "build")

    answer = eventlake_sql(
        settings,
        "select count(*) as events, count(*) filter (where event_id like '%-ghost') as ghosts "
        "from fct_events where event_date >= date '2000-01-01'",
    )
    assert answer.splitlines()[1:] == ["2000,0"], answer
    arrived = eventlake_sql(
        settings, "select count(*) from build.int_event_files__arrived where file_path like '%'"
    )
    files = storage.list_files(str(layout.RAW_EVENTS), suffix=".parquet")
    assert int(arrived.splitlines()[1]) == len(files) - 1, "the uncommitted file was recorded"

    # The next loader to own the partition removes it; the lake holds what it held.
    Loader(settings, loader_config).run(once=True)
    assert not storage.exists(ghost)
    assert layout.read_checkpoint(settings.lake_dir, settings.topic, 0).pending == []
