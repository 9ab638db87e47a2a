"""The event contract: the versioned JSON Schema file and the Arrow schema derived from it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pyarrow as pa

SCHEMA_RESOURCE = "schemas/event.schema.json"

# Names an event may not carry: the Hive partition key and anything starting with "_".
RESERVED_NAMES = frozenset({"event_date"})
PRICE_TYPE = pa.decimal128(18, 2)
EVENT_TIME_TYPE = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Contract:
    """What the loader needs from the JSON Schema file."""

    version: str
    required: tuple[str, ...]
    parse_schema: pa.Schema
    """Types the JSON reader enforces: a value of another JSON type rejects the message."""
    patterns: dict[str, str]
    """Field -> regular expression its string values must match in full."""
    name_pattern: str
    """Regular expression every field name must match (for extra fields becoming columns)."""
    document: dict

    @property
    def known_fields(self) -> tuple[str, ...]:
        return tuple(self.parse_schema.names)

    @property
    def added_fields(self) -> frozenset[str]:
        """Fields a later contract version added (``x-since-version`` above 1)."""
        return frozenset(
            name
            for name, spec in self.document["properties"].items()
            if spec.get("x-since-version", 1) > 1
        )


def _parse_type(name: str, spec: dict) -> pa.DataType:
    json_type = spec["type"]
    if json_type == "string":
        return pa.string()
    if json_type == "integer":
        return pa.int32() if name == "schema_version" else pa.int64()
    if json_type == "number":
        return pa.float64()
    if json_type == "boolean":
        return pa.bool_()
    raise ValueError(f"contract field {name!r}: unsupported JSON type {json_type!r}")


@cache
def load_contract() -> Contract:
    """Read the schema file shipped in the package (README documents it)."""
    text = resources.files("eventlake.ingest").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    document = json.loads(text)
    properties = document["properties"]
    parse_schema = pa.schema(
        [pa.field(name, _parse_type(name, spec)) for name, spec in properties.items()]
    )
    patterns = {name: spec["pattern"] for name, spec in properties.items() if "pattern" in spec}
    return Contract(
        version=document["$id"],
        required=tuple(document["required"]),
        parse_schema=parse_schema,
        patterns=patterns,
        name_pattern=document["propertyNames"]["pattern"],
        document=document,
    )
