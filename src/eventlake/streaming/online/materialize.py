"""Load the batch features (dbt's user_features) from the DuckDB warehouse into the online
store, replacing the previous batch wholesale; the streaming state is left alone."""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from eventlake.config import Settings
from eventlake.streaming.online.features import BATCH_SCHEMA, OnlineStore, StoreError

TABLE = "main.user_features"
HASH = "_eventlake_subject_hash"
REQUIRED = ("user_id", "features_as_of", "last_event_at", "last_purchase_at")


def read_user_features(warehouse_path: Path, key: str) -> pa.Table:
    """Every user_features row as BATCH_SCHEMA: the row as a JSON object (timestamps ISO-8601
    in UTC, decimals as numbers) beside its user_id and keyed subject hash."""
    try:
        with duckdb.connect(str(warehouse_path), read_only=True) as db:
            db.execute("set TimeZone = 'UTC'")
            rows = db.sql(
                f"select sha256($key || user_id) as {HASH}, * from {TABLE}", params={"key": key}
            ).to_arrow_table()
    except duckdb.Error as error:
        raise StoreError(f"cannot read {TABLE} from {warehouse_path}: {error}") from None
    missing = [name for name in REQUIRED if name not in rows.column_names]
    if missing:
        raise StoreError(f"{TABLE} in {warehouse_path} lacks {', '.join(missing)}")
    hashes = rows[HASH]
    rows = rows.drop_columns([HASH])
    columns = [
        pc.cast(column, pa.float64()) if pa.types.is_decimal(column.type) else column
        for column in rows.columns
    ]
    rows = pa.table(columns, names=rows.column_names)
    features = [orjson.dumps(row).decode() for row in rows.to_pylist()]
    return pa.table([rows["user_id"], hashes, pa.array(features, pa.string())], schema=BATCH_SCHEMA)


def load_user_features(store: OnlineStore, warehouse_path: Path, key: str | None = None) -> int:
    """Replace the store's batch features with the warehouse's user_features, skipping
    suppressed subjects. `key` is the subject-hash key (default: EVENTLAKE_SUBJECT_HASH_KEY).
    Returns the rows loaded."""
    key = Settings.from_env().subject_hash_key if key is None else key
    return store.replace_batch(read_user_features(warehouse_path, key))
