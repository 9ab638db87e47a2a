"""Fixtures: a real Kafka-protocol broker on loopback, unique topics, a lake per test; and the
markers of what a test needs, applied from the fixtures and parameters it uses."""

from __future__ import annotations

import dataclasses
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlake.config import LoaderConfig, Settings
from eventlake.ingest.kafka import ensure_topics
from eventlake.ops.broker import LocalBroker
from tests import dbt_support


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """broker: the test uses the broker fixture (directly or through another fixture);
    postgres: the PostgreSQL catalog fixture or a "postgres" parameter; redis: a "redis"
    parameter (a test opening Redis itself carries the mark in its file); s3: the s3_server or
    s3_lake fixture, or an "s3" parameter (the lake in a bucket)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = {v for v in callspec.params.values() if isinstance(v, str)} if callspec else set()
        if "bootstrap" in fixtures:
            item.add_marker(pytest.mark.broker)
        if "postgres_catalog" in fixtures or "postgres" in params:
            item.add_marker(pytest.mark.postgres)
        if "redis" in params:
            item.add_marker(pytest.mark.redis)
        if {"s3_server", "s3_lake"} & fixtures or "s3" in params:
            item.add_marker(pytest.mark.s3)


@pytest.fixture(scope="session", autouse=True)
def dbt_partial_parse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The project parsed once per test process (each xdist worker is one): dbt_target() seeds
    each test's dbt target folder with it, so no test's dbt parses the whole project."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dbt_support, "PARSED", dbt_support.parse_once(tmp_path_factory.mktemp("dbt")))
        yield


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One broker for the session; every test uses topics of its own."""
    servers = f"127.0.0.1:{free_port()}"
    broker = LocalBroker(servers, tmp_path_factory.mktemp("broker"))
    broker.start()
    yield servers
    broker.stop()


@pytest.fixture(scope="session")
def s3_server() -> str:
    """An S3-compatible server (moto's server mode) on a free loopback port for the session;
    the standard AWS variables point at it, so every process the tests start finds it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    patch = pytest.MonkeyPatch()
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "eventlake-test",
        "AWS_SECRET_ACCESS_KEY": "eventlake-test-secret",
        "AWS_REGION": "us-east-1",
    }.items():
        patch.setenv(name, value)
    yield endpoint
    patch.undo()
    server.stop()


@pytest.fixture
def s3_lake(s3_server: str) -> str:
    """A bucket of the test's own: the lake's URI, s3://<bucket>/lake."""
    from eventlake.lake.storage import S3Settings

    bucket = f"eventlake-{uuid.uuid4().hex[:12]}"
    S3Settings.from_env().filesystem(admin=True).create_dir(bucket)
    return f"s3://{bucket}/lake"


@pytest.fixture(params=["local", "s3"])
def lake_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """The lake, once in a folder and once in a bucket (tests that run on both use it)."""
    if request.param == "s3":
        return request.getfixturevalue("s3_lake")
    return tmp_path / "lake"


@pytest.fixture
def settings(bootstrap: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Topics of the test's own; the lake in tmp_path, or in a bucket when the test also
    asks for the lake_dir fixture (then once per storage)."""
    name = f"events-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, {name: 4, f"{name}-dlq": 1})
    lake = (
        request.getfixturevalue("lake_dir")
        if "lake_dir" in request.fixturenames
        else tmp_path / "lake"
    )
    return Settings(
        bootstrap_servers=bootstrap,
        topic=name,
        dlq_topic=f"{name}-dlq",
        group_id=f"loader-{name}",
        lake_dir=lake,
        catalog=f"sqlite:{tmp_path / 'lakehouse.sqlite'}",
    )


@pytest.fixture
def postgres_catalog() -> str:
    """A DuckLake catalog in a PostgreSQL database of the test's own (the server on
    127.0.0.1:5432), dropped afterwards: an EVENTLAKE_CATALOG string."""
    import psycopg

    name = f"eventlake_test_{uuid.uuid4().hex[:12]}"
    admin = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'create database "{name}"')
    yield f"postgres:host=127.0.0.1 port=5432 user=postgres dbname={name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def loader_config() -> LoaderConfig:
    return LoaderConfig(batch_size=5_000)


@pytest.fixture
def erasure_settings(settings: Settings, tmp_path: Path, monkeypatch) -> Settings:
    """Settings for an erasure pass: topics of its own, the dev subject-hash key, and dbt's
    target and logs in the test's folder."""
    monkeypatch.setenv("DBT_TARGET_PATH", dbt_support.dbt_target(tmp_path))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    return dataclasses.replace(
        settings,
        erasure_topic=f"{settings.topic}-erasure",
        confirmation_topic=f"{settings.topic}-confirmations",
        subject_hash_key="eventlake-dev-key",
    )
