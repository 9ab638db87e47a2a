"""The personalization online store: streaming windowed counts, recent views and times per
user beside the batch dim_user_features, behind one API on two backends (SQLite or Redis)."""

from __future__ import annotations

from eventlake.exceptions import StoreUnreachableError
from eventlake.ops.health import wait_for
from eventlake.streaming.config import OnlineConfig
from eventlake.streaming.online.features import OnlineStore, StoreError
from eventlake.streaming.online.redis_store import RedisOnlineStore, redis_dependency
from eventlake.streaming.online.sqlite_store import SqliteOnlineStore

__all__ = ["OnlineStore", "StoreError", "open_online_store", "wait_for_online_store"]


def open_online_store(config: OnlineConfig) -> OnlineStore:
    """The store of config.backend, opened (StoreError when it cannot be)."""
    if config.backend == "redis":
        return RedisOnlineStore(config)
    return SqliteOnlineStore(config)


def wait_for_online_store(config: OnlineConfig, give_up_after: float | None) -> OnlineStore:
    """open_online_store, retrying while its Redis does not answer: a following consumer may
    start before its server (eventlake_up{dependency="redis"} 0 meanwhile). With
    give_up_after (`--once`), UnreachableError once the server has not answered that long."""
    if config.backend != "redis":
        return open_online_store(config)
    return wait_for(
        redis_dependency(config.redis_url),
        lambda: RedisOnlineStore(config),
        (StoreUnreachableError,),
        give_up_after=give_up_after,
    )
