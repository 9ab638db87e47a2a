"""The personalization online store: streaming windowed counts, recent views and times per
user beside the batch dim_user_features, behind one API on two backends (SQLite or Redis)."""

from __future__ import annotations

from eventlake.streaming.config import OnlineConfig
from eventlake.streaming.online.features import OnlineStore, StoreError
from eventlake.streaming.online.redis_store import RedisOnlineStore
from eventlake.streaming.online.sqlite_store import SqliteOnlineStore

__all__ = ["OnlineStore", "StoreError", "open_online_store"]


def open_online_store(config: OnlineConfig) -> OnlineStore:
    """The store of config.backend, opened (StoreError when it cannot be)."""
    if config.backend == "redis":
        return RedisOnlineStore(config)
    return SqliteOnlineStore(config)
