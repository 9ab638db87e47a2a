"""The lake's storage: a path or a bucket URI from the environment, DuckDB's S3 secret from the
standard AWS variables, a staged write that publishes nothing when it fails, and the rules by
which readers skip a flush the loader has not committed and the inputs of a merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventlake.config import Settings
from eventlake.exceptions import ConfigError
from eventlake.lake import layout
from eventlake.lake.layout import Checkpoint, data_file_name, is_committed
from eventlake.lake.storage import S3Settings, lake_storage


def test_a_local_path_stays_a_path_and_a_bucket_keeps_its_uri():
    assert Settings.from_env({"EVENTLAKE_LAKE_DIR": "lake"}).lake_dir == Path("lake")
    bucket = Settings.from_env({"EVENTLAKE_LAKE_DIR": "s3://events-lake/prod/"}).lake_dir
    assert bucket == "s3://events-lake/prod"
    with pytest.raises(ConfigError, match="s3://bucket"):
        Settings.from_env({"EVENTLAKE_LAKE_DIR": "s3:///prod"})


def test_the_secret_is_path_style_without_tls_for_an_http_endpoint():
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "it's secret",
        "AWS_REGION": "eu-west-1",
    }
    sql = S3Settings.from_env(env).secret_sql("s3://lake")
    assert "ENDPOINT '127.0.0.1:9000'" in sql and "URL_STYLE 'path'" in sql
    assert "USE_SSL false" in sql and "REGION 'eu-west-1'" in sql
    assert "SECRET 'it''s secret'" in sql and "SCOPE 's3://lake'" in sql


def test_aws_itself_needs_no_endpoint_and_keeps_tls():
    sql = S3Settings.from_env({"AWS_REGION": "us-west-2"}).secret_sql("s3://lake")
    assert "ENDPOINT" not in sql and "URL_STYLE" not in sql and "KEY_ID" not in sql


def test_a_file_is_committed_once_next_offset_passed_its_last_offset():
    name = data_file_name("events", 3, 100, 199)
    assert not is_committed(name, {("events", 3): Checkpoint(100, [f"raw/events/x/{name}"])})
    assert not is_committed(name, {("events", 3): Checkpoint(199)})
    assert not is_committed(name, {("events", 3): Checkpoint(None)})
    assert is_committed(name, {("events", 3): Checkpoint(200)})
    # Files the loader did not name, or of a partition without a checkpoint, are read.
    assert is_committed("part-0.parquet", {})
    assert is_committed(name, {("events", 4): Checkpoint(0)})


def test_a_file_a_committed_merge_contains_is_superseded_in_its_folder_only():
    def path(first: int, last: int, partition: int = 0, day: str = "2026-03-14") -> str:
        return f"raw/events/event_date={day}/{data_file_name('events', partition, first, last)}"

    inputs, merged = [path(0, 9), path(10, 19)], path(0, 19)
    others = [
        path(20, 29),  # after the merged range
        path(15, 25),  # overlaps it without being inside: not the merge's
        path(0, 9, partition=1),  # another Kafka partition
        path(5, 9, day="2026-03-15"),  # another date folder
        "raw/events/event_date=2026-03-14/part-0.parquet",  # not a loader name
    ]

    assert layout.superseded([*inputs, merged, *others]) == {p: merged for p in inputs}
    assert layout.superseded([*inputs, *others]) == {}
    # Nested merges (one merge of another's output): the widest supersedes both.
    wider = path(0, 29)
    assert layout.superseded([*inputs, merged, wider]) == {p: wider for p in [*inputs, merged]}


def test_readers_read_committed_files_a_committed_merge_does_not_supersede():
    def path(first: int, last: int) -> str:
        return f"raw/events/event_date=2026-03-14/{data_file_name('events', 0, first, last)}"

    checkpoints = {("events", 0): Checkpoint(20)}
    inputs, merged, flushing = [path(0, 9), path(10, 19)], path(0, 19), path(20, 29)

    assert layout.readable([*inputs, merged, flushing], checkpoints) == [merged]
    assert layout.readable([*inputs, flushing], checkpoints) == inputs
    # An uncommitted file hides nothing, whatever its range.
    assert layout.readable([*inputs, path(10, 29)], checkpoints) == inputs


def test_a_staged_file_is_published_whole_or_not_at_all(lake_dir):
    storage = lake_storage(lake_dir)
    key = "raw/events/event_date=2026-03-14/merged.parquet"

    with pytest.raises(KeyboardInterrupt), storage.staged_file(key) as staged:
        staged.write_bytes(b"half a file")
        raise KeyboardInterrupt("killed before the check")
    assert not staged.exists()
    assert not storage.exists(key)

    with storage.staged_file(key) as staged:
        staged.write_bytes(b"the whole file")
    assert not staged.exists()
    assert storage.get_bytes(key) == b"the whole file"
    assert [i.path for i in storage.list_files("", hidden=True)] == [key]


def test_checkpoints_and_files_round_trip_on_a_folder(tmp_path):
    lake = tmp_path / "lake"
    layout.write_checkpoint(lake, "events", 0, Checkpoint(10, ["raw/events/a.parquet"]))
    assert layout.read_checkpoints(lake) == {
        ("events", 0): Checkpoint(10, ["raw/events/a.parquet"])
    }
    storage = lake_storage(lake)
    storage.put_bytes("raw/events/a.parquet", b"x")
    assert [i.path for i in storage.list_files("raw")] == ["raw/events/a.parquet"]
    assert not list(lake.rglob("*.tmp"))
    assert layout.recover_partition(lake, "events", 0) == 10
    assert not storage.exists("raw/events/a.parquet")
    assert layout.read_checkpoint(lake, "events", 0) == Checkpoint(10)


def test_a_secret_from_the_environment_holds_no_credential():
    env = {"AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "it's secret"}
    sql = S3Settings.from_env(env).secret_sql("s3://lake", from_env=True)
    assert "KEY_ID getenv('AWS_ACCESS_KEY_ID')" in sql
    assert "SECRET getenv('AWS_SECRET_ACCESS_KEY')" in sql
    assert "'key'" not in sql and "it''s secret" not in sql
