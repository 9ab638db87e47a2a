"""The events a streaming store folds in: decoded rows projected onto one fixed schema."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("event_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("session_id", pa.string()),
        pa.field("product_id", pa.string()),
        pa.field("product_family", pa.string()),
        pa.field("price", pa.float64()),
        pa.field("currency", pa.string()),
        pa.field("country", pa.string()),
        pa.field("device", pa.string()),
        pa.field("_partition", pa.int32(), nullable=False),
        pa.field("_offset", pa.int64(), nullable=False),
    ]
)
"""product_family is the first segment of category_code, as in stg_kafka__events. Rows come
in topic order within a partition."""


def project(decoded: pa.Table) -> pa.Table:
    """Decoder output (contract columns, possibly missing all-null ones) -> SCHEMA."""
    count = decoded.num_rows
    columns = {}
    for field in SCHEMA:
        if field.name == "product_family":
            if "category_code" in decoded.column_names:
                parts = pc.split_pattern(decoded["category_code"], ".", max_splits=1)
                columns[field.name] = pc.list_element(parts, 0)
            else:
                columns[field.name] = pa.nulls(count, pa.string())
        elif field.name in decoded.column_names:
            columns[field.name] = pc.cast(decoded[field.name], field.type)
        else:
            columns[field.name] = pa.nulls(count, field.type)
    return pa.table(columns, schema=SCHEMA)
