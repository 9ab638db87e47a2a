"""Load the batch features (dbt's dim_user_features, as the lakehouse publishes it) into the online
store, replacing the previous batch wholesale; the streaming state is left alone."""

from __future__ import annotations

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from eventlake.config import Settings
from eventlake.erasure.subjects import subject_hash_sql
from eventlake.lake.lakehouse import ALIAS, PUBLISHED_SCHEMA
from eventlake.lake.maintenance import lakehouse_exists
from eventlake.streaming.online.features import BATCH_SCHEMA, OnlineStore, StoreError

TABLE = f"{ALIAS}.{PUBLISHED_SCHEMA}.dim_user_features"
HASH = "_eventlake_subject_hash"
REQUIRED = ("user_id", "features_as_of", "last_event_at", "last_purchase_at")


def read_user_features(connection: duckdb.DuckDBPyConnection, key: str) -> pa.Table:
    """Every dim_user_features row of the published build as BATCH_SCHEMA: the row as a JSON object
    (timestamps ISO-8601 in UTC, decimals as numbers) beside its user_id and keyed subject
    hash. `connection` has the lakehouse attached (eventlake.lake.lakehouse.connect)."""
    try:
        rows = connection.sql(
            f"select {subject_hash_sql('user_id')} as {HASH}, * from {TABLE}",
            params={"key": key},
        ).to_arrow_table()
    except duckdb.Error as error:
        raise StoreError(f"cannot read {TABLE}: {error}") from None
    missing = [name for name in REQUIRED if name not in rows.column_names]
    if missing:
        raise StoreError(f"{TABLE} lacks {', '.join(missing)}")
    hashes = rows[HASH]
    rows = rows.drop_columns([HASH])
    columns = [
        pc.cast(column, pa.float64()) if pa.types.is_decimal(column.type) else column
        for column in rows.columns
    ]
    rows = pa.table(columns, names=rows.column_names)
    features = [orjson.dumps(row).decode() for row in rows.to_pylist()]
    return pa.table([rows["user_id"], hashes, pa.array(features, pa.string())], schema=BATCH_SCHEMA)


def load_user_features(store: OnlineStore, settings: Settings) -> int:
    """Replace the store's batch features with the published dim_user_features of the lakehouse
    (settings.catalog, read-only), skipping suppressed subjects; hashes use
    settings.subject_hash_key. Returns the rows loaded."""
    if not lakehouse_exists(settings.catalog):
        raise StoreError(f"expected a lakehouse at {settings.catalog}, found none: run dbt build")
    try:
        connection = settings.connect(read_only=True)
    except duckdb.Error as error:
        raise StoreError(f"cannot open the lakehouse {settings.catalog}: {error}") from None
    with connection:
        batch = read_user_features(connection, settings.subject_hash_key)
    return store.replace_batch(batch)
