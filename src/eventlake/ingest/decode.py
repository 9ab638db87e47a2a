"""Kafka message bytes -> typed Arrow rows, vectorised, with a reason for every rejected message.

The hot path touches each message from Python only to take its length: the batch's values are
joined once, separated by newlines, and everything else works on that one buffer. The byte-level
screen reads each message's first and last byte through numpy and validates UTF-8 over the
whole buffer at once; a message it rejects is overwritten with blanks (the JSON reader skips
blank lines), so the buffer is never joined twice. pyarrow's JSON reader parses zero-copy slices
of it under the contract's explicit schema (a value of the wrong JSON type fails the read, so
nothing is silently cast), and the contract's rules run as column masks that are applied in one
filter at the end. Only when a read fails is its slice read again in smaller slices, down to
single messages, to pin the error on the message that caused it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from eventlake.ingest.contract import (
    EVENT_TIME_TYPE,
    PRICE_TYPE,
    RESERVED_NAMES,
    Contract,
    load_contract,
)

log = logging.getLogger(__name__)

RFC3339 = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)"
    r"(\.\d{1,9})?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
MAX_PRICE = 1e16  # decimal(18, 2) holds less
PARSE_CHUNK = 8192
FALLBACK_FANOUT = 32
SINGLE_THRESHOLD = 32
_ERROR_ROW = re.compile(r" in row (\d+)$")


@dataclass(frozen=True)
class RawBatch:
    """Messages as they came off one consume call (any mix of partitions)."""

    topic: str
    partitions: Sequence[int] | np.ndarray
    offsets: Sequence[int] | np.ndarray
    keys: list[bytes | None]
    values: list[bytes | None]

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class Decoded:
    """The outcome for a batch: accepted rows and rejected positions with reasons."""

    table: pa.Table | None
    """Accepted rows: contract columns, extra columns, Kafka metadata and event_date."""
    rejects: dict[int, str] = field(default_factory=dict)
    """Position in the batch -> reason ("code: detail")."""


@dataclass(frozen=True)
class Limits:
    """The contract's bounds that depend on configuration and the clock."""

    now: datetime
    max_future: timedelta
    max_age: timedelta


def _classify_arrow_error(message: str) -> str:
    detail = re.sub(r"^JSON parse error: ", "", message).replace(" in row 0", "")
    if "Column()" in detail:
        code = "not_an_object"
    elif "changed from" in detail or "Failed to convert" in detail:
        code = "wrong_type"
    elif "specified twice" in detail:
        code = "duplicate_field"
    else:
        code = "invalid_json"
    return f"{code}: {detail}"


@dataclass
class _Joined:
    """A batch's values joined by newlines, and where each message lies in the buffer."""

    buffer: pa.Buffer
    starts: np.ndarray
    """Byte offset of each message in the buffer."""
    lengths: np.ndarray
    """Byte length of each message (0 for a missing value)."""
    readable: np.ndarray
    """Which messages the reader gets; the others are blanked out in the buffer."""

    def span(self, start: int, stop: int) -> pa.Buffer:
        """Messages start..stop-1 (and the separators between them), zero-copy."""
        begin = int(self.starts[start])
        end = int(self.starts[stop - 1] + self.lengths[stop - 1])
        return self.buffer.slice(begin, end - begin)


class _Parser:
    """pyarrow's JSON reader under the contract, with the chunked fallback."""

    def __init__(self, contract: Contract, max_message_bytes: int) -> None:
        self._parse_options = pa_json.ParseOptions(
            explicit_schema=contract.parse_schema,
            unexpected_field_behavior="infer",
            newlines_in_values=False,
        )
        self._block_size = max(1 << 20, 2 * max_message_bytes + 2)
        self._read_options = pa_json.ReadOptions(use_threads=True, block_size=self._block_size)

    def read(self, data: pa.Buffer | bytes) -> pa.Table:
        return pa_json.read_json(
            pa.BufferReader(data),
            read_options=self._read_options,
            parse_options=self._parse_options,
        )

    def parse(
        self, joined: _Joined, values: list[bytes | None], rejects: dict[int, str]
    ) -> list[tuple[np.ndarray, pa.Table]]:
        """Tables in input order with the positions of their rows; failures go to rejects.

        Read in chunks, so that a bad message costs a re-read of its chunk, not of the batch.
        """
        parts: list[tuple[np.ndarray, pa.Table]] = []
        count = len(joined.lengths)
        for start in range(0, count, PARSE_CHUNK):
            parts.extend(
                self._parse(joined, values, start, min(start + PARSE_CHUNK, count), rejects)
            )
        return parts

    def _parse(
        self,
        joined: _Joined,
        values: list[bytes | None],
        start: int,
        stop: int,
        rejects: dict[int, str],
    ) -> list[tuple[np.ndarray, pa.Table]]:
        positions = np.flatnonzero(joined.readable[start:stop]) + start
        if not len(positions):
            return []
        data: pa.Buffer | bytes = joined.span(start, stop)
        if len(positions) == 1:
            # A message with line breaks reads as several lines: more rows than messages, or
            # an error. Either way its chunk is split until it stands alone, and is compacted.
            value = values[int(positions[0])]
            if b"\n" in value or b"\r" in value:
                try:
                    data = orjson.dumps(orjson.loads(value))
                except orjson.JSONDecodeError as error:
                    rejects[int(positions[0])] = f"invalid_json: {error}"
                    return []
        failed_row: int | None = None
        try:
            table = self.read(data)
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as error:
            if len(positions) == 1:
                rejects[int(positions[0])] = _classify_arrow_error(str(error))
                return []
            failed_row = self._failed_row(str(error), len(data), len(positions))
        else:
            if table.num_rows == len(positions):
                return [(positions, table)]
            if len(positions) == 1:  # say '{"a": 1} {"a": 2}': two documents in one message
                rejects[int(positions[0])] = "invalid_json: one JSON object per message expected"
                return []
        # Split the span (blanked messages included) so each part holds fewer readable ones.
        first, last = int(positions[0]), int(positions[-1]) + 1
        if failed_row is not None:
            # The reader named the failing row of a one-block read: that message alone, and
            # the messages before and after it, each read again (a few reads, not dozens).
            failing = int(positions[failed_row])
            bounds = [first, failing, failing + 1, last]
        else:
            count = last - first
            if len(data) > self._block_size:  # parts of half a block, to be read as one
                pieces = -(-2 * len(data) // self._block_size)
            else:
                pieces = count if len(positions) <= SINGLE_THRESHOLD else FALLBACK_FANOUT
            bounds = [*range(first, last, -(-count // pieces)), last]
        parts: list[tuple[np.ndarray, pa.Table]] = []
        for begin, end in zip(bounds, bounds[1:], strict=False):
            if end > begin:
                parts.extend(self._parse(joined, values, begin, end, rejects))
        return parts

    def _failed_row(self, message: str, size: int, rows: int) -> int | None:
        """The row the reader's error names, if it means a message: the read was one block
        (row numbers restart at each block) and the row is one of the span's messages."""
        found = _ERROR_ROW.search(message)
        if found is None or size > self._block_size:
            return None
        row = int(found.group(1))
        return row if row < rows else None


def unify_tables(tables: list[pa.Table]) -> pa.Table:
    """Concatenate, unifying extra columns; conflicting extra types become JSON text."""
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    types: dict[str, set[pa.DataType]] = {}
    for table in tables:
        for column_field in table.schema:
            types.setdefault(column_field.name, set()).add(column_field.type)
    conflicting = {name for name, seen in types.items() if len(seen - {pa.null()}) > 1}
    log.warning("extra fields with conflicting types stored as JSON text: %s", conflicting)
    unified = []
    for table in tables:
        for name in conflicting & set(table.column_names):
            as_text = pa.array(
                [None if v is None else orjson.dumps(v).decode() for v in table[name].to_pylist()],
                pa.string(),
            )
            table = table.set_column(table.schema.get_field_index(name), name, as_text)
        unified.append(table)
    return pa.concat_tables(unified, promote_options="permissive")


def _bool(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean mask as numpy, null counting as False."""
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _is_utf8(data: bytes | memoryview) -> bool:
    """UTF-8 validation of a whole buffer in one vectorised pass, zero-copy."""
    offsets = pa.py_buffer(np.array([0, len(data)], np.int64))
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _not_utf8(joined: bytes, starts: np.ndarray, lengths: np.ndarray) -> list[int]:
    """The messages that are not UTF-8, found by halving the joined buffer along message
    boundaries: a few validations for a bad message, not one per message of its batch."""
    view = memoryview(joined)
    found: list[int] = []
    pending = [(0, len(starts))]
    while pending:
        start, stop = pending.pop()
        begin, end = int(starts[start]), int(starts[stop - 1] + lengths[stop - 1])
        if _is_utf8(view[begin:end]):
            continue
        if stop - start == 1:
            found.append(start)
            continue
        middle = (start + stop) // 2
        pending += [(middle, stop), (start, middle)]
    return sorted(found)


def _not_an_object(value: bytes) -> str:
    """The reason for a value that does not start with '{' (a rare path: one at a time)."""
    if not value.strip():
        return "empty_value: the value is only white space"
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError as error:
        return f"invalid_json: {error}"
    return "not_an_object: the value must be one JSON object"


def _cast_or_null(values: pa.Array, to: pa.DataType) -> pa.Array:
    """Cast; values the cast refuses (say 31 February) become null, found by splitting."""
    try:
        return pc.cast(values, to)
    except pa.ArrowInvalid:
        if len(values) == 1:
            return pa.nulls(1, to)
    step = -(-len(values) // FALLBACK_FANOUT)
    parts = [_cast_or_null(values[i : i + step], to) for i in range(0, len(values), step)]
    return pa.concat_arrays(parts)


class Decoder:
    """Turns raw batches into landed rows; one per loader process."""

    def __init__(self, max_message_bytes: int, contract: Contract | None = None) -> None:
        self.contract = contract or load_contract()
        self.max_message_bytes = max_message_bytes
        self._parser = _Parser(self.contract, max_message_bytes)
        self._name_pattern = re.compile(self.contract.name_pattern)

    def decode(self, batch: RawBatch, limits: Limits) -> Decoded:
        rejects: dict[int, str] = {}
        joined = self._screen_bytes(batch, rejects)
        parts = self._parser.parse(joined, batch.values, rejects) if joined.readable.any() else []
        if not parts:
            return Decoded(None, rejects)
        positions = np.concatenate([p for p, _ in parts])
        table = unify_tables([t for _, t in parts])
        bad, event_time, dropped = self._check_rows(table, positions, batch, limits, rejects)
        return Decoded(
            self._finish(table, positions, bad, event_time, dropped, batch, limits.now), rejects
        )

    # -- step 1: byte-level screening over the joined batch ------------------------------------

    def _screen_bytes(self, batch: RawBatch, rejects: dict[int, str]) -> _Joined:
        values = batch.values
        count = len(values)
        try:
            lengths = np.fromiter(map(len, values), np.int64, count)
        except TypeError:  # rare: a message without a value; found by list.index, in C
            values = list(values)
            position = 0
            while True:
                try:
                    position = values.index(None, position)
                except ValueError:
                    break
                values[position] = b""
            lengths = np.fromiter(map(len, values), np.int64, count)
        joined = b"\n".join(values)
        starts = np.empty(count, np.int64)
        if count:
            starts[0] = 0
            np.cumsum(lengths[:-1] + 1, out=starts[1:])
        empty = lengths == 0
        too_large = lengths > self.max_message_bytes
        for i in np.flatnonzero(empty):
            rejects[int(i)] = "empty_value: the message has no value"
        for i in np.flatnonzero(too_large):
            rejects[int(i)] = (
                f"too_large: {int(lengths[i])} bytes, at most {self.max_message_bytes} accepted"
            )
        ok = ~(empty | too_large)
        if not _is_utf8(joined):
            for i in _not_utf8(joined, starts, lengths):
                if ok[i]:
                    try:
                        values[i].decode("utf-8")
                    except UnicodeDecodeError as error:
                        rejects[i] = f"invalid_utf8: {error}"
                    ok[i] = False
        # Only objects go to the reader (it misreads a bare null, blanks, arrays and scalars).
        data = np.frombuffer(joined, np.uint8)
        if len(data):
            end = len(data) - 1
            opens = ok & (data[np.minimum(starts, end)] == ord("{"))
            closes = ok & (data[np.clip(starts + lengths - 1, 0, end)] == ord("}"))
        else:
            opens = closes = np.zeros(count, dtype=bool)
        for i in np.flatnonzero(ok & ~(opens & closes)):
            # Rare: white space around the object is valid JSON; look again, trimmed.
            trimmed = values[i].strip()
            opens[i] = trimmed.startswith(b"{")
            closes[i] = trimmed.endswith(b"}")
        for i in np.flatnonzero(ok & ~opens):
            rejects[int(i)] = _not_an_object(values[i])
        for i in np.flatnonzero(ok & opens & ~closes):
            rejects[int(i)] = "invalid_json: the object is not closed (truncated?)"
        ok &= opens & closes
        blanked = np.flatnonzero(~ok & ~empty)
        if len(blanked):  # the reader skips blank lines: overwrite the rejected messages
            writable = bytearray(joined)
            view = np.frombuffer(writable, np.uint8)
            for i in blanked:
                view[starts[i] : starts[i] + lengths[i]] = ord(" ")
            buffer = pa.py_buffer(writable)
        else:
            buffer = pa.py_buffer(joined)
        return _Joined(buffer, starts, lengths, ok)

    # -- step 2: contract rules as column masks ---------------------------------------------------

    def _check_rows(
        self,
        table: pa.Table,
        positions: np.ndarray,
        batch: RawBatch,
        limits: Limits,
        rejects: dict[int, str],
    ) -> tuple[np.ndarray, pa.Array, list[str]]:
        """The rows that break a rule (their reasons in rejects), event_time as UTC timestamps
        and the columns to drop. Nothing is filtered here: _finish filters once."""
        bad = np.zeros(table.num_rows, dtype=bool)
        dropped: list[str] = []

        def flag(mask: pa.Array | pa.ChunkedArray | np.ndarray, reason: str) -> None:
            if not isinstance(mask, np.ndarray):
                mask = _bool(mask)
            for row in np.flatnonzero(mask & ~bad):
                rejects[int(positions[row])] = reason
            bad[:] |= mask

        for name in table.column_names:
            if name in self.contract.known_fields:
                continue
            if name.startswith("_") or name in RESERVED_NAMES:
                dropped.append(name)
                flag(pc.is_valid(table[name]), f"reserved_field: {name!r} is reserved")
            elif not self._name_pattern.fullmatch(name):
                dropped.append(name)
                flag(
                    pc.is_valid(table[name]),
                    f"invalid_field_name: {name[:80]!r} must match {self.contract.name_pattern}",
                )
        for name in self.contract.required:
            column = table[name]
            missing = pc.is_null(column)
            if pa.types.is_string(column.type):
                missing = pc.or_kleene(missing, pc.equal(pc.binary_length(column), 0))
            flag(missing, f"missing_field: {name!r} is required")
        for name, pattern in self.contract.patterns.items():
            # Few distinct values (countries, currencies, types): match the dictionary only.
            encoded = pc.dictionary_encode(table[name].combine_chunks())
            matches = pc.take(
                pc.match_substring_regex(encoded.dictionary, pattern), encoded.indices
            )
            flag(pc.invert(matches), f"invalid_value: {name!r} must match {pattern}")
        flag(
            pc.invert(pc.match_substring_regex(table["event_time"], RFC3339)),
            "invalid_timestamp: 'event_time' must be RFC 3339 with a zone offset",
        )
        price = table["price"]
        flag(
            pc.or_kleene(
                pc.or_kleene(pc.less(price, 0), pc.greater_equal(price, MAX_PRICE)),
                pc.not_equal(pc.round(price, 2), price),
            ),
            f"invalid_value: 'price' must be an amount from 0 to {MAX_PRICE:.0e} "
            "with at most 2 decimals",
        )
        flag(pc.less(table["schema_version"], 1), "invalid_value: 'schema_version' must be >= 1")
        keys = pa.array(batch.keys, pa.binary())
        if len(positions) != len(batch):
            keys = keys.take(pa.array(positions))
        flag(pc.is_null(keys), "missing_key: the Kafka key must be the user_id")
        flag(
            pc.not_equal(keys, pc.cast(table["user_id"], pa.binary())),
            "key_mismatch: the Kafka key differs from user_id",
        )
        event_time = self._parse_times(table["event_time"], bad)
        flag(
            pc.and_(pc.is_null(event_time), pc.is_valid(table["event_time"])),
            "invalid_timestamp: 'event_time' is no calendar date",
        )
        flag(
            pc.greater(event_time, pa.scalar(limits.now + limits.max_future, EVENT_TIME_TYPE)),
            f"future_timestamp: 'event_time' more than {limits.max_future} ahead of the clock",
        )
        flag(
            pc.less(event_time, pa.scalar(limits.now - limits.max_age, EVENT_TIME_TYPE)),
            f"timestamp_too_old: 'event_time' more than {limits.max_age.days} days back",
        )
        return bad, event_time, dropped

    def _parse_times(self, event_time: pa.ChunkedArray, bad: np.ndarray) -> pa.Array:
        """Cast RFC 3339 strings to UTC; rows already rejected become null first."""
        text = event_time
        if bad.any():
            text = pc.if_else(pa.array(bad), pa.scalar(None, pa.string()), event_time)
        # RFC 3339 allows lower-case t and z and any number of fraction digits; the lake
        # keeps microseconds, so digits past the sixth are cut. What is left matched the
        # RFC 3339 pattern, so it is ASCII: upper-casing it all is cheaper than a search.
        text = pc.ascii_upper(text)
        if pc.any(pc.greater(pc.binary_length(text), 27)).as_py():  # room for a 7th digit
            text = pc.replace_substring_regex(text, r"(\.\d{6})\d+", r"\1")
        return _cast_or_null(text.combine_chunks(), EVENT_TIME_TYPE)

    # -- step 3: typed output ----------------------------------------------------------------------

    def _finish(
        self,
        table: pa.Table,
        positions: np.ndarray,
        bad: np.ndarray,
        event_time: pa.Array,
        dropped: list[str],
        batch: RawBatch,
        now: datetime,
    ) -> pa.Table:
        """One filter drops the rows that broke a rule; then the typed columns and the Kafka
        metadata, built from batch-level arrays (no per-row Python)."""
        table = table.drop_columns(dropped)
        keep = ~bad
        if bad.any():  # one copy of the rows that pass, before the casts that need them valid
            table = table.filter(pa.array(keep))
            event_time = event_time.filter(pa.array(keep))
            positions = positions[keep]
        table = table.set_column(
            table.schema.get_field_index("event_time"), "event_time", event_time
        )
        table = table.set_column(
            table.schema.get_field_index("price"), "price", pc.cast(table["price"], PRICE_TYPE)
        )
        # A field null everywhere says nothing, and a field a later contract version added
        # is left out of files that do not use it: a file of version-1 events has no
        # version-2 columns, so the lake's schema grows only when the new fields arrive.
        added = self.contract.added_fields
        empty = [
            name
            for name in table.column_names
            if table.schema.field(name).type == pa.null()
            or (name in added and table[name].null_count == table.num_rows)
        ]
        table = table.drop_columns(empty)
        count = table.num_rows
        partitions = np.asarray(batch.partitions)
        offsets = np.asarray(batch.offsets)
        if len(positions) != len(partitions):
            partitions = partitions[positions]
            offsets = offsets[positions]
        return pa.Table.from_arrays(
            [
                *table.columns,
                pa.repeat(pa.scalar(batch.topic, pa.string()), count),
                pa.array(partitions, pa.int32()),
                pa.array(offsets, pa.int64()),
                pa.repeat(pa.scalar(now, EVENT_TIME_TYPE), count),
                pc.cast(event_time, pa.date32()),
            ],
            schema=table.schema.append(pa.field("_topic", pa.string()))
            .append(pa.field("_partition", pa.int32()))
            .append(pa.field("_offset", pa.int64()))
            .append(pa.field("_ingested_at", EVENT_TIME_TYPE))
            .append(pa.field("event_date", pa.date32())),
        )
