"""Configuration read from the environment, with embedded defaults so nothing needs setting."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from eventlake.exceptions import ConfigError
from eventlake.lake.lakehouse import DEFAULT_CATALOG, catalog_from_env, connect
from eventlake.lake.storage import lake_dir_from_env


def env_str(env: Mapping[str, str], name: str, default: str) -> str:
    """`name` from `env`, or `default` when unset or empty."""
    return env.get(name) or default


def env_path(env: Mapping[str, str], name: str, default: Path) -> Path:
    """`name` from `env` as a path, or `default` when unset or empty."""
    return Path(env.get(name) or default)


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    """`name` from `env` as a whole number of zero or more, or `default` when unset or empty;
    ConfigError otherwise."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must be zero or more, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Where things live: the broker, the topics and the two stores, and the subject-hash key."""

    bootstrap_servers: str = "127.0.0.1:9092"
    """KAFKA_BOOTSTRAP_SERVERS: the Kafka cluster (any Kafka-protocol broker)."""
    topic: str = "events"
    """EVENTLAKE_TOPIC: the topic of interaction events."""
    dlq_topic: str = "events-dlq"
    """EVENTLAKE_DLQ_TOPIC: rejected messages, original bytes and headers plus the reason."""
    group_id: str = "eventlake-loader"
    """EVENTLAKE_GROUP_ID: consumer group of the lake loaders."""
    lake_dir: Path | str = Path("lake")
    """EVENTLAKE_LAKE_DIR: folder holding raw/ (the loader's), curated/ (the lakehouse's data
    files) and the loader checkpoints; or a bucket, `s3://bucket/prefix` (a str then: see
    eventlake.lake.storage, which every reader and writer of the lake goes through)."""
    catalog: str = DEFAULT_CATALOG
    """EVENTLAKE_CATALOG: the DuckLake catalog dbt builds into, `sqlite:<path>` (embedded, the
    default) or `postgres:<libpq string>` (production); see eventlake.lake.lakehouse."""
    erasure_topic: str = "erasure-requests"
    """EVENTLAKE_ERASURE_TOPIC: right-to-erasure requests, {request_id, user_id, requested_at}."""
    confirmation_topic: str = "erasure-confirmations"
    """EVENTLAKE_CONFIRMATION_TOPIC: streaming stores confirm their erasures here."""
    subject_hash_key: str = "eventlake-dev-key"
    """EVENTLAKE_SUBJECT_HASH_KEY: key of the subject hash (dbt var subject_hash_key reads the
    same variable); the default is for the demo and the tests only."""

    def connect(self, *, read_only: bool = False):
        """A DuckDB connection with the lakehouse attached (eventlake.lake.lakehouse.connect)."""
        return connect(self.catalog, self.lake_dir, read_only=read_only)

    def dbt_env(self) -> dict[str, str]:
        """The variables that point dbt (profiles.yml) at this lake and catalog."""
        return {"EVENTLAKE_LAKE_DIR": str(self.lake_dir), "EVENTLAKE_CATALOG": self.catalog}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            bootstrap_servers=env_str(env, "KAFKA_BOOTSTRAP_SERVERS", cls.bootstrap_servers),
            topic=env_str(env, "EVENTLAKE_TOPIC", cls.topic),
            dlq_topic=env_str(env, "EVENTLAKE_DLQ_TOPIC", cls.dlq_topic),
            group_id=env_str(env, "EVENTLAKE_GROUP_ID", cls.group_id),
            lake_dir=lake_dir_from_env(env.get("EVENTLAKE_LAKE_DIR") or str(cls.lake_dir)),
            catalog=catalog_from_env(env),
            erasure_topic=env_str(env, "EVENTLAKE_ERASURE_TOPIC", cls.erasure_topic),
            confirmation_topic=env_str(env, "EVENTLAKE_CONFIRMATION_TOPIC", cls.confirmation_topic),
            subject_hash_key=env_str(env, "EVENTLAKE_SUBJECT_HASH_KEY", cls.subject_hash_key),
        )


@dataclass(frozen=True)
class LoaderConfig:
    """How the loader batches, rotates files and bounds its memory."""

    batch_size: int = 10_000
    """EVENTLAKE_BATCH_SIZE: messages taken from the consumer per poll."""
    rotate_records: int = 1_000_000
    """EVENTLAKE_ROTATE_RECORDS: a partition's buffer is written once it holds this many rows."""
    rotate_bytes: int = 32 * 1024 * 1024
    """EVENTLAKE_ROTATE_BYTES: ... or this many bytes of Arrow data."""
    rotate_seconds: int = 60
    """EVENTLAKE_ROTATE_SECONDS: ... or when its oldest row has waited this long."""
    max_buffer_bytes: int = 64 * 1024 * 1024
    """EVENTLAKE_MAX_BUFFER_BYTES: all buffers together; the largest is written first."""
    max_message_bytes: int = 256 * 1024
    """EVENTLAKE_MAX_MESSAGE_BYTES: larger values are rejected to the DLQ."""
    max_future_seconds: int = 24 * 3600
    """EVENTLAKE_MAX_FUTURE_SECONDS: event_time further ahead of the clock is rejected."""
    max_age_days: int = 3650
    """EVENTLAKE_MAX_AGE_DAYS: event_time further back than this is rejected."""
    row_group_size: int = 128 * 1024
    """EVENTLAKE_ROW_GROUP_SIZE: rows per Parquet row group."""
    session_timeout_ms: int = 6000
    """EVENTLAKE_SESSION_TIMEOUT_MS: group session timeout (quick joins and failover)."""
    connect_timeout_seconds: int = 30
    """EVENTLAKE_CONNECT_TIMEOUT_SECONDS: how long a `--once` run waits for an unreachable
    service (Kafka, the online store's Redis) before it gives up and exits 1. Following
    processes retry for ever and export eventlake_up{dependency=...} 0 meanwhile."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LoaderConfig:
        env = os.environ if env is None else env
        return cls(
            batch_size=env_int(env, "EVENTLAKE_BATCH_SIZE", cls.batch_size),
            rotate_records=env_int(env, "EVENTLAKE_ROTATE_RECORDS", cls.rotate_records),
            rotate_bytes=env_int(env, "EVENTLAKE_ROTATE_BYTES", cls.rotate_bytes),
            rotate_seconds=env_int(env, "EVENTLAKE_ROTATE_SECONDS", cls.rotate_seconds),
            max_buffer_bytes=env_int(env, "EVENTLAKE_MAX_BUFFER_BYTES", cls.max_buffer_bytes),
            max_message_bytes=env_int(env, "EVENTLAKE_MAX_MESSAGE_BYTES", cls.max_message_bytes),
            max_future_seconds=env_int(env, "EVENTLAKE_MAX_FUTURE_SECONDS", cls.max_future_seconds),
            max_age_days=env_int(env, "EVENTLAKE_MAX_AGE_DAYS", cls.max_age_days),
            row_group_size=env_int(env, "EVENTLAKE_ROW_GROUP_SIZE", cls.row_group_size),
            session_timeout_ms=env_int(env, "EVENTLAKE_SESSION_TIMEOUT_MS", cls.session_timeout_ms),
            connect_timeout_seconds=env_int(
                env, "EVENTLAKE_CONNECT_TIMEOUT_SECONDS", cls.connect_timeout_seconds
            ),
        )
