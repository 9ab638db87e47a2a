"""A query's bill before it runs: the files and bytes it would read, from the DuckLake catalog.

DuckDB plans the query (EXPLAIN: nothing runs, no data file is opened). Each DuckLake scan in
the plan names its table, the columns it reads and the filters pushed into it. The catalog
holds, per data file, its partition values, each column's compressed size and min/max
statistics: a file survives when no pushed filter rules it out by those statistics, the way
DuckLake prunes it when the query runs. The bill is the referenced columns' bytes plus the
footers of the surviving files.

Never an underestimate, silently: a filter this module cannot evaluate against statistics
prunes nothing (its files are counted) and the bill says so in `unpruned`; a table name found
in more than one schema is billed at the most expensive one.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from eventlake.exceptions import ConfigError, EventlakeError
from eventlake.lake.catalog import CatalogReader, duckdb_type
from eventlake.lake.lakehouse import ALIAS, PINNED_TABLE, PUBLISHED_SCHEMA
from eventlake.lake.profiling import UNITS

SCAN = "DUCKLAKE_SCAN"
OPTIONAL = "optional: "
"""DuckDB's mark on a filter it may use to skip data, not to decide rows (e.g. an IN list)."""
COMPARISON = re.compile(
    r"""^\(?\s*(?P<column>"[^"]+"|\w+)\s*(?P<op>>=|<=|<>|!=|=|>|<)\s*(?P<value>.+?)\s*\)?$""",
    re.DOTALL,
)
MEMBERSHIP = re.compile(r"""^(?P<column>"[^"]+"|\w+)\s+IN\s+\((?P<values>.+)\)$""", re.DOTALL)
READ_GAP = 1 << 14
"""DuckDB reads two column chunks in one request when at most this many bytes lie between them
(its Parquet reader's ALLOW_GAP): the columns in between are read too."""
FILE_OVERHEAD = 64
"""Per file: the Parquet magic and footer length, and page-header slack the statistics omit."""
DEFAULT_ROW_GROUP_ROWS = 122_880
# The referenced columns' bytes of each surviving file, plus the unreferenced columns lying
# between two referenced ones when DuckDB would read across them: the gap is spread over the
# file's row groups (estimated from its rows and the lakehouse's row-group size), and a gap
# of at most READ_GAP per row group is read.
COLUMN_BYTES = """
with columns as (
    select
        data_file_id,
        bill_stats.column_order,
        bill_stats.size,
        list_contains(?1, bill_stats.column_name) as is_referenced,
        greatest(1, ceil(bill_files.record_count / ?2)) as row_groups
    from bill_stats
    inner join bill_files using (data_file_id)
    where not bill_files.pruned
),
runs as (
    select
        *,
        sum(is_referenced::int) over (
            partition by data_file_id order by column_order
        ) as run,
        sum(is_referenced::int) over (partition by data_file_id) as runs
    from columns
),
gaps as (
    select data_file_id, run, sum(size) as gap, any_value(row_groups) as row_groups
    from runs
    where not is_referenced and run between 1 and runs - 1
    group by all
)
select
    coalesce((select sum(size) from runs where is_referenced), 0)
    + coalesce((select sum(gap) from gaps where gap <= ?3 * row_groups), 0)
"""
# A file survives a comparison unless its statistics rule every row out.
SURVIVES = {
    "=": "(min is null or min <= ?) and (max is null or max >= ?)",
    ">=": "max is null or max >= ?",
    ">": "max is null or max > ?",
    "<=": "min is null or min <= ?",
    "<": "min is null or min < ?",
}


class BillError(EventlakeError):
    """The query cannot be planned (DuckDB's message, unchanged)."""


@dataclass
class TableBill:
    """What the scans of one table would read."""

    table: str
    files: int = 0
    files_total: int = 0
    bytes: int = 0
    bytes_total: int = 0
    partitions: set[str] = field(default_factory=set)
    filters: list[str] = field(default_factory=list)
    """The filters pushed into the scans (DuckDB's rendering)."""
    unpruned: list[str] = field(default_factory=list)
    """Filters that could not be evaluated against the statistics: they pruned nothing."""
    schemas: list[str] = field(default_factory=list)
    """Where the table was found; more than one: billed at the most expensive."""
    pruning_columns: list[frozenset[str]] = field(default_factory=list)
    """Per scan of the table: the columns of the filters that pruned its files."""

    def scans_unfiltered_on(self, column: str) -> int:
        """How many scans of the table have no filter on `column` that prunes its files."""
        return sum(column not in columns for columns in self.pruning_columns)

    def as_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "files_total": self.files_total,
            "bytes": self.bytes,
            "bytes_total": self.bytes_total,
            "partitions": sorted(self.partitions),
            "filters": self.filters,
            "unpruned": self.unpruned,
            "schemas": self.schemas,
        }


@dataclass
class Bill:
    """The bill of one query: per table and in total."""

    tables: dict[str, TableBill]
    unbilled: list[str]
    """Scans of something other than a lakehouse table (a Parquet file, a catalog table)."""

    @property
    def files(self) -> int:
        return sum(t.files for t in self.tables.values())

    @property
    def files_total(self) -> int:
        return sum(t.files_total for t in self.tables.values())

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.tables.values())

    @property
    def bytes_total(self) -> int:
        return sum(t.bytes_total for t in self.tables.values())

    @property
    def partitions(self) -> list[str]:
        return sorted(set().union(*(t.partitions for t in self.tables.values())))

    def as_dict(self, refusals: list[str] | None = None) -> dict[str, object]:
        return {
            "files": self.files,
            "files_total": self.files_total,
            "bytes": self.bytes,
            "bytes_total": self.bytes_total,
            "partitions": self.partitions,
            "tables": {name: table.as_dict() for name, table in sorted(self.tables.items())},
            "unbilled": self.unbilled,
            "refusals": refusals or [],
        }

    def as_json(self, refusals: list[str] | None = None) -> str:
        return orjson.dumps(self.as_dict(refusals), option=orjson.OPT_INDENT_2).decode()


@dataclass(frozen=True)
class Scan:
    """One DuckLake scan in the plan."""

    table: str
    columns: tuple[str, ...]
    filters: tuple[str, ...]


def plan_scans(connection: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[Scan], list[str]]:
    """The query's DuckLake scans, and the names of its other scans; runs nothing."""
    try:
        rows = connection.execute(f"explain (format json) {sql}").fetchall()
    except duckdb.Error as error:
        raise BillError(str(error)) from error
    scans, others = [], []
    for _, plan in rows:
        for operator in _operators(orjson.loads(plan)):
            name, info = operator.get("name", ""), operator.get("extra_info", {})
            if name == SCAN:
                filters = tuple(
                    part for text in _listed(info.get("Filters")) for part in conjuncts(text)
                )
                columns = set(_listed(info.get("Projections")))
                columns.update(column for text in filters for column in _identifiers(text))
                scans.append(Scan(info["Table"], tuple(sorted(columns)), filters))
            elif name.endswith("_SCAN") or name == "TABLE_SCAN":
                others.append(str(info.get("Function") or info.get("Table") or name))
    return scans, others


def _operators(node: object) -> Iterator[dict]:
    if isinstance(node, list):
        for child in node:
            yield from _operators(child)
    elif isinstance(node, dict):
        yield node
        yield from _operators(node.get("children", []))


def _listed(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(item) for item in value]
    return [line for line in str(value).splitlines() if line.strip()]


def conjuncts(text: str) -> list[str]:
    """Split a filter on its top-level ANDs (outside quotes and parentheses)."""
    parts, depth, quoted, start, index = [], 0, False, 0, 0
    while index < len(text):
        char = text[index]
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and text[index : index + 5].upper() == " AND ":
            parts.append(text[start:index].strip())
            start = index + 5
            index += 4
        index += 1
    parts.append(text[start:].strip())
    return [part for part in parts if part]


def _identifiers(text: str) -> set[str]:
    """Column-like words of a filter, outside string literals; unknown ones are ignored later."""
    unquoted = re.sub(r"'(?:[^']|'')*'", "", text)
    return {name.strip('"') for name in re.findall(r'"[^"]+"|\b[A-Za-z_]\w*\b', unquoted)}


def bill(connection: duckdb.DuckDBPyConnection, sql: str) -> Bill:
    """The bill of `sql` on the lakehouse attached to `connection` as `lakehouse`."""
    scans, others = plan_scans(connection, sql)
    tables: dict[str, TableBill] = {}
    # The bill's own queries (on Arrow tables) run on a cursor of the same database: its
    # default catalog is in memory, so names are not first looked up in the lakehouse, which
    # costs a catalog read per query.
    with (
        connection.cursor() as scratch,
        contextlib.closing(CatalogReader(scratch)) as catalog,
    ):
        current = catalog.value("select max(snapshot_id) from {catalog}ducklake_snapshot")
        published = _published_versions(catalog, current)
        row_group_rows = _row_group_rows(catalog)
        for scan in scans:
            candidates = [
                _bill_scan(scratch, catalog, scan, table_id, schema, version, row_group_rows)
                for table_id, schema, version in _tables_named(
                    catalog, scan.table, published, current
                )
            ]
            if not candidates:
                others.append(scan.table)
                continue
            worst = max(candidates, key=lambda candidate: (candidate.bytes, candidate.files))
            worst.schemas = sorted(candidate.schemas[0] for candidate in candidates)
            tables[scan.table] = _add(tables.get(scan.table), worst)
    return Bill(tables, sorted(set(others)))


def _add(total: TableBill | None, scan: TableBill) -> TableBill:
    if total is None:
        return scan
    total.files += scan.files
    total.files_total += scan.files_total
    total.bytes += scan.bytes
    total.bytes_total += scan.bytes_total
    total.partitions |= scan.partitions
    total.filters += [f for f in scan.filters if f not in total.filters]
    total.unpruned += [f for f in scan.unpruned if f not in total.unpruned]
    total.pruning_columns += scan.pruning_columns
    return total


_LIVE = (
    "{table}.begin_snapshot <= ?2 and ({table}.end_snapshot is null or {table}.end_snapshot > ?2)"
)
"""The catalog row exists at snapshot ?2."""


def _published_versions(catalog: CatalogReader, current: int) -> dict[tuple[str, str], int]:
    """(schema, table) -> the snapshot its published view in `main` is pinned to."""
    rows = catalog.rows(
        f"""
        select views.sql
        from {{catalog}}ducklake_view as views
        inner join {{catalog}}ducklake_schema as schemas using (schema_id)
        where schemas.schema_name = ?1 and {_LIVE.format(table="views")}
        """,
        [PUBLISHED_SCHEMA, current],
    )
    pinned = {}
    for (text,) in rows:
        for found in PINNED_TABLE.finditer(text or ""):
            pinned[(found["schema"], found["table"])] = int(found.group(3))
    return pinned


def _tables_named(
    catalog: CatalogReader,
    name: str,
    published: dict[tuple[str, str], int],
    current: int,
) -> list[tuple[int, str, int]]:
    """(table id, schema, snapshot) of each table called `name` that a query sees: at the
    snapshot its published view is pinned to (the table may have been replaced since, by a
    full refresh whose build was not published), else at the current snapshot."""
    rows = catalog.rows(
        """
        select t.table_id, s.schema_name, t.begin_snapshot, t.end_snapshot
        from {catalog}ducklake_table as t
        inner join {catalog}ducklake_schema as s using (schema_id)
        where t.table_name = ?1
        order by 2, 1
        """,
        [name],
    )
    seen = []
    for table_id, schema, begin, end in rows:
        version = published.get((schema, name), current)
        if begin <= version and (end is None or end > version):
            seen.append((table_id, schema, version))
    return seen


FILES = pa.schema(
    [
        ("data_file_id", pa.int64()),
        ("record_count", pa.int64()),
        ("file_size_bytes", pa.int64()),
        ("footer_size", pa.int64()),
        ("partition_value", pa.string()),
    ]
)
STATS = pa.schema(
    [
        ("data_file_id", pa.int64()),
        ("column_name", pa.string()),
        ("column_order", pa.int64()),
        ("size", pa.int64()),
        ("min_value", pa.string()),
        ("max_value", pa.string()),
    ]
)


def _bill_scan(
    scratch: duckdb.DuckDBPyConnection,
    catalog: CatalogReader,
    scan: Scan,
    table_id: int,
    schema: str,
    version: int,
    row_group_rows: int,
) -> TableBill:
    """Two passes: the filters on the partition column prune on the files' partition values;
    the statistics of the files that survive are then read, and every filter prunes on them.
    The statistics read thus follow the files the query touches, not the table's history.
    The catalog's rows stay Arrow tables that DuckDB reads in place."""
    types = _column_types(catalog, table_id, version)
    columns = [column for column in scan.columns if column in types]
    files_total, bytes_total = catalog.rows(
        f"""
        select count(*), coalesce(sum(files.file_size_bytes), 0)
        from {{catalog}}ducklake_data_file as files
        where files.table_id = ?1 and {_LIVE.format(table="files")}
        """,
        [table_id, version],
    )[0]
    pruned: set[int] = set()
    partition_column = _partition_column(catalog, table_id, version)
    on_partition: tuple[str, ...] = ()
    if partition_column is not None:
        on_partition = tuple(
            text
            for text in scan.filters
            if partition_column in _identifiers(text.removeprefix(OPTIONAL))
        )
    condition, values = _partition_condition(scratch, on_partition, types, partition_column)
    files = _catalog_files(catalog, table_id, version, condition, values)
    if on_partition:
        bounds = _partition_bounds(files, partition_column)
        pruned |= _prune(scratch, on_partition, types, bounds)[0]
    wanted = None
    if pruned or files.num_rows < files_total:
        wanted = [i for i in files["data_file_id"].to_pylist() if i not in pruned]
    stats = _catalog_stats(catalog, table_id, version, wanted)
    dropped, unpruned, pruning = _prune(scratch, scan.filters, types, stats)
    pruned |= dropped
    surviving = pc.invert(
        pc.is_in(files["data_file_id"], value_set=pa.array(sorted(pruned), pa.int64()))
    )
    kept = files.filter(surviving)
    scratch.register("bill_files", files.append_column("pruned", pc.invert(surviving)))
    scratch.register("bill_stats", stats)
    try:
        column_bytes = scratch.execute(
            COLUMN_BYTES, [columns, row_group_rows, READ_GAP]
        ).fetchone()[0]
    finally:
        scratch.unregister("bill_files")
        scratch.unregister("bill_stats")
    return TableBill(
        table=scan.table,
        files=kept.num_rows,
        files_total=int(files_total),
        bytes=int(column_bytes) + _total(kept, "footer_size") + FILE_OVERHEAD * kept.num_rows,
        bytes_total=int(bytes_total),
        partitions={str(value) for value in kept["partition_value"].to_pylist() if value},
        filters=list(scan.filters),
        unpruned=unpruned,
        schemas=[schema],
        pruning_columns=[frozenset(pruning)],
    )


def _total(table: pa.Table, column: str) -> int:
    return int(pc.sum(table[column]).as_py() or 0)


def _partition_bounds(files: pa.Table, column: str) -> pa.Table:
    """A file's partition value as the bounds of its partition column (identity partitioning:
    every row of the file holds that value)."""
    known = files.filter(pc.is_valid(files["partition_value"]))
    values = known["partition_value"]
    return pa.table(
        {
            "data_file_id": known["data_file_id"],
            "column_name": pa.array([column] * known.num_rows, pa.string()),
            "min_value": values,
            "max_value": values,
        }
    )


def _row_group_rows(catalog: CatalogReader) -> int:
    """The lakehouse's Parquet row-group size (option parquet_row_group_size)."""
    found = catalog.value(
        "select max(value) from {catalog}ducklake_metadata"
        " where key = 'parquet_row_group_size' and scope is null"
    )
    return int(found) if found else DEFAULT_ROW_GROUP_ROWS


def _column_types(catalog: CatalogReader, table_id: int, version: int) -> dict[str, str]:
    """The table's top-level columns at `version` and their DuckDB types."""
    rows = catalog.rows(
        f"""
        select c.column_name, c.column_type from {{catalog}}ducklake_column as c
        where c.table_id = ?1 and c.parent_column is null and {_LIVE.format(table="c")}
        """,
        [table_id, version],
    )
    return {name: duckdb_type(kind) for name, kind in rows}


def _partition_column(catalog: CatalogReader, table_id: int, version: int) -> str | None:
    """The column of the table's first partition key when it partitions by identity (its
    partition value is then the column's value in every row of the file)."""
    return catalog.value(
        f"""
        select c.column_name
        from {{catalog}}ducklake_partition_info as info
        inner join {{catalog}}ducklake_partition_column as key
            on key.partition_id = info.partition_id and key.table_id = info.table_id
        inner join {{catalog}}ducklake_column as c
            on c.column_id = key.column_id and c.table_id = key.table_id
            and {_LIVE.format(table="c")}
        where info.table_id = ?1 and key.partition_key_index = 0
            and lower(key.transform) = 'identity' and {_LIVE.format(table="info")}
        """,
        [table_id, version],
    )


PARTITION_VALUE = "partition_values.partition_value"
ORDERED_AS_TEXT = {"date": date, "varchar": str}
"""Partition column types whose catalog text (ISO dates, strings) sorts as their values do."""


def _partition_condition(
    scratch: duckdb.DuckDBPyConnection,
    filters: tuple[str, ...],
    types: dict[str, str],
    column: str | None,
) -> tuple[str, list[object]]:
    """The filters on the partition column as a condition on the catalog's partition values
    (parameters from ?3), so the catalog returns only the files they keep: the bill's work then
    follows the partitions a query reads, not the table's history. Only for types whose text
    compares as the values do; files without a partition value always pass."""
    kind = ORDERED_AS_TEXT.get(types.get(column or "", "").lower())
    conditions, values = [], []
    for text in filters if kind else ():
        tests = _comparisons(scratch, text.removeprefix(OPTIONAL), types)
        if tests is None or not all(type(value) is kind for value in tests[2]):
            continue
        pieces = tests[1].split("?")  # one placeholder per value, numbered from ?3 on
        condition = pieces[0] + "".join(
            f"?{len(values) + 3 + index}{piece}" for index, piece in enumerate(pieces[1:])
        )
        condition = re.sub(r"\b(min|max)\b", PARTITION_VALUE, condition)
        values.extend(value.isoformat() if kind is date else value for value in tests[2])
        conditions.append(f"({PARTITION_VALUE} is null or ({condition}))")
    return " and ".join(conditions) or "true", values


def _catalog_files(
    catalog: CatalogReader,
    table_id: int,
    version: int,
    condition: str = "true",
    values: list[object] | None = None,
) -> pa.Table:
    """The table's files at `version` that meet `condition`, with their first partition
    value."""
    return catalog.table(
        f"""
        select
            files.data_file_id,
            files.record_count,
            files.file_size_bytes,
            files.footer_size,
            partition_values.partition_value
        from {{catalog}}ducklake_data_file as files
        left join {{catalog}}ducklake_file_partition_value as partition_values
            on files.data_file_id = partition_values.data_file_id
            and partition_values.table_id = ?1
            and partition_values.partition_key_index = 0
        where files.table_id = ?1 and {_LIVE.format(table="files")} and {condition}
        """,
        [table_id, version, *(values or [])],
        FILES,
    )


def _catalog_stats(
    catalog: CatalogReader, table_id: int, version: int, files: list[int] | None
) -> pa.Table:
    """The column statistics of `files` (None: of every file of the table)."""
    return catalog.table(
        f"""
        select
            stats.data_file_id,
            c.column_name,
            c.column_order,
            stats.column_size_bytes as size,
            stats.min_value,
            stats.max_value
        from {{catalog}}ducklake_file_column_stats as stats
        inner join {{catalog}}ducklake_column as c
            on stats.column_id = c.column_id and c.table_id = ?1 and {_LIVE.format(table="c")}
        where stats.table_id = ?1 and {catalog.ids("stats.data_file_id", files)}
        """,
        [table_id, version],
        STATS,
    )


def _prune(
    connection: duckdb.DuckDBPyConnection,
    filters: tuple[str, ...],
    types: dict,
    bounds: pa.Table,
) -> tuple[set[int], list[str], set[str]]:
    """The files each filter rules out by `bounds` (data_file_id, column_name, min_value,
    max_value), the filters that could not be evaluated (they prune nothing) and the columns
    of those that could."""
    pruned: set[int] = set()
    unpruned, pruning = [], set()
    connection.register("bill_bounds", bounds)
    try:
        for text in filters:
            tests = _comparisons(connection, text.removeprefix(OPTIONAL), types)
            if tests is None:
                unpruned.append(text)
                continue
            column, survives, values = tests
            pruning.add(column)
            rows = connection.execute(
                f"""
                select data_file_id from (
                    select
                        data_file_id,
                        try_cast(min_value as {types[column]}) as min,
                        try_cast(max_value as {types[column]}) as max
                    from bill_bounds
                    where column_name = ?
                )
                where not ({survives})
                """,
                [column, *values],
            ).fetchall()
            pruned.update(data_file_id for (data_file_id,) in rows)
    finally:
        connection.unregister("bill_bounds")
    return pruned, unpruned, pruning


def _comparisons(
    connection: duckdb.DuckDBPyConnection, text: str, types: dict
) -> tuple[str, str, list[object]] | None:
    """(column, SQL condition of a surviving file, its parameters) for `column op constant`
    and `column IN (constants)`; None for anything else."""
    membership = MEMBERSHIP.match(text)
    if membership and membership["column"].strip('"') in types:
        column = membership["column"].strip('"')
        values = _constants(connection, f"[{membership['values']}]")
        if values is None:
            return None
        values = values[0]
        survives = " or ".join([f"({SURVIVES['=']})"] * len(values)) or "false"
        return column, survives, [value for value in values for _ in (0, 1)]
    found = COMPARISON.match(text)
    if not found or found["column"].strip('"') not in types or found["op"] not in SURVIVES:
        return None
    value = _constants(connection, found["value"])
    if value is None:
        return None
    column, op = found["column"].strip('"'), found["op"]
    return column, SURVIVES[op], value * SURVIVES[op].count("?")


def _constants(connection: duckdb.DuckDBPyConnection, expression: str) -> list[object] | None:
    """Evaluate a constant of the plan (DuckDB's rendering, e.g. '2025-01-20'::DATE)."""
    if re.search(r"\b(select|from)\b|#\d", expression, re.IGNORECASE):
        return None
    try:
        return [connection.execute(f"select {expression}").fetchone()[0]]
    except duckdb.Error:
        return None


class QueryRefused(EventlakeError):
    """The query is not run: it needs a partition filter or costs more than the budget."""

    def __init__(self, reasons: list[str], bill: Bill) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons
        self.bill = bill


@dataclass(frozen=True)
class Budget:
    """What a query may read: at most `max_bytes` (None: no limit), and only with a pruning
    filter on each table's required partition column, unless `allow_full_scan`."""

    max_bytes: int | None = None
    allow_full_scan: bool = False

    @classmethod
    def from_settings(
        cls, max_bytes: str | None, allow_full_scan: bool, env: Mapping[str, str] | None = None
    ) -> Budget:
        """`max_bytes` (e.g. 500000000, 500MB, 2GB), else EVENTLAKE_MAX_QUERY_BYTES, else no
        byte limit; the partition filters are required either way."""
        env = os.environ if env is None else env
        text = max_bytes if max_bytes is not None else env.get("EVENTLAKE_MAX_QUERY_BYTES")
        return cls(parse_bytes(text) if text else None, allow_full_scan)


def parse_bytes(text: str) -> int:
    """A byte count: digits, optionally followed by B, kB, MB, GB or TB (powers of 1000)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKMGT]?B)?\s*", text)
    if found is None:
        raise ConfigError(f"expected a byte count such as 500000000 or 500MB, got {text!r}")
    return int(float(found[1]) * UNITS[found[2] or "B"])


def refusals(billed: Bill, budget: Budget, required: dict[str, str]) -> list[str]:
    """Why the query must not run (empty: it may). `required`: table -> partition column."""
    if budget.allow_full_scan:
        return []
    reasons = []
    for table, column in sorted(required.items()):
        found = billed.tables.get(table)
        if found is not None and found.scans_unfiltered_on(column):
            reasons.append(
                f"{table} must be filtered on {column}: {found.scans_unfiltered_on(column)} of"
                f" its scans have no condition on {column} that prunes its partitions (compare"
                f" {column} with constants, not with a subquery's result, or pass"
                " --allow-full-scan)"
            )
    if budget.max_bytes is not None and billed.bytes > budget.max_bytes:
        reasons.append(
            f"the query would read {billed.bytes:,} bytes in {billed.files:,} files,"
            f" over the budget of {budget.max_bytes:,} bytes (EVENTLAKE_MAX_QUERY_BYTES or"
            " --max-bytes; --allow-full-scan runs it anyway)"
        )
    return reasons


def required_partition_filters(connection: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """table -> the column a query must filter on, as the dbt models declare it (meta
    `require_partition_filter`, recorded by each build in control.partition_filters)."""
    exists = connection.execute(
        "select count(*) from duckdb_tables() where database_name = ? and schema_name ="
        " 'control' and table_name = 'partition_filters'",
        [ALIAS],
    ).fetchone()[0]
    if not exists:
        return {}
    return dict(
        connection.execute(
            f"select table_name, column_name from {ALIAS}.control.partition_filters"
        ).fetchall()
    )


def checked_bill(connection: duckdb.DuckDBPyConnection, sql: str, budget: Budget) -> Bill:
    """The bill of `sql`, or QueryRefused when it must not run."""
    billed = bill(connection, sql)
    reasons = refusals(billed, budget, required_partition_filters(connection))
    if reasons:
        raise QueryRefused(reasons, billed)
    return billed


def summary(billed: Bill) -> str:
    """The bill as a short human summary: totals, then one line per table."""

    def size(count: int) -> str:
        for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
            if count >= scale:
                return f"{count / scale:,.1f} {unit}"
        return f"{count} B"

    def dates(partitions: list[str]) -> str:
        if not partitions:
            return "no partition"
        if len(partitions) == 1:
            return partitions[0]
        return f"{len(partitions)} partitions, {partitions[0]} .. {partitions[-1]}"

    share = billed.bytes / billed.bytes_total if billed.bytes_total else 0.0
    lines = [
        f"would read {size(billed.bytes)} of {size(billed.bytes_total)} ({share:.2%})"
        f" in {billed.files:,} of {billed.files_total:,} files; {dates(billed.partitions)}"
    ]
    for name, table in sorted(billed.tables.items()):
        lines.append(
            f"  {name}: {size(table.bytes)} in {table.files:,} of {table.files_total:,} files;"
            f" {dates(sorted(table.partitions))}"
        )
        lines.extend(f"    not pruned by: {text}" for text in table.unpruned)
    lines.extend(f"  not billed (not a lakehouse table): {name}" for name in billed.unbilled)
    return "\n".join(lines) + "\n"
