"""Fixtures: a real Kafka-protocol broker on loopback, unique topics, a lake per test; and the
markers of what a test needs, applied from the fixtures and parameters it uses."""

from __future__ import annotations

import dataclasses
import socket
import uuid
from pathlib import Path

import pytest

from eventlake.config import LoaderConfig, Settings
from eventlake.ingest.kafka import ensure_topics
from eventlake.ops.broker import LocalBroker


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """broker: the test uses the broker fixture (directly or through another fixture);
    postgres: the PostgreSQL catalog fixture or a "postgres" parameter; redis: a "redis"
    parameter (a test opening Redis itself carries the mark in its file)."""
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


@pytest.fixture
def settings(bootstrap: str, tmp_path: Path) -> Settings:
    name = f"events-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, {name: 4, f"{name}-dlq": 1})
    return Settings(
        bootstrap_servers=bootstrap,
        topic=name,
        dlq_topic=f"{name}-dlq",
        group_id=f"loader-{name}",
        lake_dir=tmp_path / "lake",
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
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    return dataclasses.replace(
        settings,
        erasure_topic=f"{settings.topic}-erasure",
        confirmation_topic=f"{settings.topic}-confirmations",
        subject_hash_key="eventlake-dev-key",
    )
