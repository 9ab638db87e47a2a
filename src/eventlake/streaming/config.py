"""Configuration of the streaming consumers and their stores, read from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from eventlake.config import env_int, env_path, env_str
from eventlake.exceptions import ConfigError

BACKENDS = ("sqlite", "redis")


@dataclass(frozen=True)
class OnlineConfig:
    """The personalization online store."""

    backend: str = "sqlite"
    """EVENTLAKE_ONLINE_BACKEND: sqlite (embedded, WAL mode) or redis."""
    sqlite_path: Path = Path("online.sqlite")
    """EVENTLAKE_ONLINE_PATH: the SQLite file of the sqlite backend."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """EVENTLAKE_REDIS_URL: the Redis server of the redis backend."""
    redis_prefix: str = "eventlake:online:"
    """EVENTLAKE_REDIS_PREFIX: every key the redis backend writes starts with this."""
    recent_items: int = 10
    """EVENTLAKE_ONLINE_RECENT_ITEMS: viewed products (and their families) kept per user."""
    group_id: str = "eventlake-online"
    """EVENTLAKE_ONLINE_GROUP_ID: consumer group of the online-store consumers."""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"EVENTLAKE_ONLINE_BACKEND must be one of {', '.join(BACKENDS)}, "
                f"got {self.backend!r}"
            )
        if self.recent_items < 1:
            raise ConfigError("EVENTLAKE_ONLINE_RECENT_ITEMS must be at least 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OnlineConfig:
        env = os.environ if env is None else env
        return cls(
            backend=env_str(env, "EVENTLAKE_ONLINE_BACKEND", cls.backend),
            sqlite_path=env_path(env, "EVENTLAKE_ONLINE_PATH", cls.sqlite_path),
            redis_url=env_str(env, "EVENTLAKE_REDIS_URL", cls.redis_url),
            redis_prefix=env_str(env, "EVENTLAKE_REDIS_PREFIX", cls.redis_prefix),
            recent_items=env_int(env, "EVENTLAKE_ONLINE_RECENT_ITEMS", cls.recent_items),
            group_id=env_str(env, "EVENTLAKE_ONLINE_GROUP_ID", cls.group_id),
        )


@dataclass(frozen=True)
class FraudConfig:
    """The fraud store and its rules (a flag is raised when a value is ABOVE its threshold)."""

    sqlite_path: Path = Path("fraud.sqlite")
    """EVENTLAKE_FRAUD_PATH: the SQLite file (WAL mode) holding windows and flags."""
    max_purchases_10m: int = 5
    """EVENTLAKE_FRAUD_MAX_PURCHASES_10M: purchases in 10 minutes before a flag."""
    max_countries_1h: int = 2
    """EVENTLAKE_FRAUD_MAX_COUNTRIES_1H: distinct countries in an hour before a flag."""
    max_devices_1h: int = 3
    """EVENTLAKE_FRAUD_MAX_DEVICES_1H: distinct device types in an hour before a flag."""
    max_events_1m: int = 120
    """EVENTLAKE_FRAUD_MAX_EVENTS_1M: events in one minute before a flag (bot-like speed)."""
    group_id: str = "eventlake-fraud"
    """EVENTLAKE_FRAUD_GROUP_ID: consumer group of the fraud-store consumers."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FraudConfig:
        env = os.environ if env is None else env
        return cls(
            sqlite_path=env_path(env, "EVENTLAKE_FRAUD_PATH", cls.sqlite_path),
            max_purchases_10m=env_int(
                env, "EVENTLAKE_FRAUD_MAX_PURCHASES_10M", cls.max_purchases_10m
            ),
            max_countries_1h=env_int(env, "EVENTLAKE_FRAUD_MAX_COUNTRIES_1H", cls.max_countries_1h),
            max_devices_1h=env_int(env, "EVENTLAKE_FRAUD_MAX_DEVICES_1H", cls.max_devices_1h),
            max_events_1m=env_int(env, "EVENTLAKE_FRAUD_MAX_EVENTS_1M", cls.max_events_1m),
            group_id=env_str(env, "EVENTLAKE_FRAUD_GROUP_ID", cls.group_id),
        )
