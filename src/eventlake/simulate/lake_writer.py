"""Generated events written straight into the raw lake, bypassing Kafka, for big benchmarks.

``write_raw_lake`` draws the generator's valid events (the same per-chunk ``Events`` columns,
so the same distributions, ids and ground truth as ``sessions.ground_truth``) and builds the
Arrow tables the loader would have landed, in its exact schema: the contract's columns typed as
the decoder types them (decimal(18,2) price, UTC microsecond event_time), then _topic,
_partition, _offset and _ingested_at. No JSON is rendered or parsed.

Events go to ``partitions`` pretend Kafka partitions by their key (CRC-32 of the user id modulo
the partition count, librdkafka's default partitioner). Chunks are collected into batches of
about ``batch_events``; a batch is to the lake what a loader flush is: per partition, its rows
take the next offsets in (event date, event_time, event_id) order, and each (event date,
partition) becomes one file named after its offset range, sorted like the loader's files and
written with ``layout.write_parquet_atomic``. Each partition's checkpoint lists the batch's files as
pending, then moves ``next_offset`` past them, so the lake is one the loader can continue.

Late events keep the generator's late plan: one lands in the batch of the chunk that would have
emitted it, which puts it in a small file of its (older) date folder with the offsets of that
later batch, as the loader would. Duplicates and malformed messages are not written (the
configuration's shares of them are ignored).

``append=True`` adds days to an existing lake: they start the day after its last date folder,
offsets continue from the checkpoints and ids are numbered past what the lake holds, so a run
with the same seed never repeats an event or session id.

Memory stays bounded by a batch of compact numpy columns (about 50 bytes an event) plus the
tables of the files being written; two threads write files while the next batch is drawn.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa

from eventlake.config import LoaderConfig
from eventlake.exceptions import ConfigError, LakeError
from eventlake.ingest.contract import EVENT_TIME_TYPE, PRICE_TYPE, load_contract
from eventlake.ingest.loader import BLOOM_FILTER_COLUMNS, SORT_KEYS
from eventlake.lake import layout
from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.seeding import seeded_rng
from eventlake.simulate.sessions import Events, Run
from eventlake.simulate.truth import GroundTruth, Tally
from eventlake.simulate.vocabulary import (
    COUNTRIES,
    COUPONS,
    DAY_MS,
    DEVICES,
    EVENT_TYPES,
    REFERRERS,
)

log = logging.getLogger(__name__)

BATCH_EVENTS = 1_000_000
"""Events per batch (a pretend loader flush) by default: about 50 MB of columns."""
METADATA_FIELDS = (
    pa.field("_topic", pa.string()),
    pa.field("_partition", pa.int32()),
    pa.field("_offset", pa.int64()),
    pa.field("_ingested_at", EVENT_TIME_TYPE),
)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def raw_schema() -> pa.Schema:
    """The columns of a raw lake file, as the decoder types them and the loader writes them."""
    typed = {"price": PRICE_TYPE, "event_time": EVENT_TIME_TYPE}
    contract = load_contract().parse_schema
    return pa.schema(
        [pa.field(f.name, typed.get(f.name, f.type)) for f in contract] + list(METADATA_FIELDS)
    )


# -- Arrow arrays straight from numpy --------------------------------------------------------------


def _fixed_width(chars: np.ndarray) -> pa.StringArray:
    """A string array from an (n, width) uint8 array of ASCII characters, without Python."""
    count, width = chars.shape
    offsets = np.arange(0, (count + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(chars)
    return pa.Array.from_buffers(
        pa.string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _hex16(numbers: np.ndarray) -> pa.StringArray:
    """Ids as the generator writes them: 16 lower-case hex digits of the uint64, big-endian."""
    octets = numbers.astype(">u8").view(np.uint8).reshape(-1, 8)
    chars = np.empty((len(numbers), 16), dtype=np.uint8)
    chars[:, 0::2] = _HEX[octets >> 4]
    chars[:, 1::2] = _HEX[octets & 15]
    return _fixed_width(chars)


def _user_ids(numbers: np.ndarray) -> pa.StringArray:
    """'u' and nine digits, as the generator writes user ids."""
    chars = np.empty((len(numbers), 10), dtype=np.uint8)
    chars[:, 0] = ord("u")
    rest = numbers.astype(np.int64)
    for position in range(9, 0, -1):
        chars[:, position] = ord("0") + rest % 10
        rest = rest // 10
    return _fixed_width(chars)


def _decimal(cents: np.ndarray) -> pa.Array:
    """decimal(18, 2) from whole cents: 128-bit little-endian two's complement."""
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    return pa.Array.from_buffers(PRICE_TYPE, len(cents), [None, pa.py_buffer(words)])


def _pick(values: pa.Array, index: np.ndarray) -> pa.Array:
    """values[index], null where index is -1."""
    return values.take(pa.array(index, mask=index < 0))


# -- the run's fixed lookups and the compact rows of a batch ---------------------------------------


class _Lookups:
    """Per product, per user and per code: the Arrow values rows point into."""

    def __init__(self, run: Run, partitions: int) -> None:
        products = [orjson.loads(f"{{{f}}}") for f in run.catalogue.fragments]
        self.product = {
            name: pa.array([p[name] for p in products], pa.string())
            for name in ("product_id", "category_id", "category_code", "brand")
        }
        self.user_id = _user_ids(run.users.number)
        keys = [f"u{n:09d}".encode() for n in run.users.number.tolist()]
        crc = np.fromiter((zlib.crc32(k) for k in keys), dtype=np.int64, count=len(keys))
        self.user_partition = (crc % partitions).astype(np.int32)
        self.user_country = run.users.country
        self.user_version = np.where(run.users.v2, 2, 1).astype(np.int32)
        self.event_type = pa.array(EVENT_TYPES)
        self.country = pa.array([c[0] for c in COUNTRIES])
        self.currency = pa.array([c[2] for c in COUNTRIES])
        self.device = pa.array(DEVICES)
        self.coupon = pa.array(COUPONS)
        self.referrer = pa.array(REFERRERS)


@dataclass
class _Rows:
    """Events as compact numpy columns, one row per event."""

    time_ms: np.ndarray
    event: np.ndarray
    """The event id's uint64."""
    event_type: np.ndarray
    session: np.ndarray
    """The session id's uint64."""
    user: np.ndarray
    """Index of the user in the run's users."""
    device: np.ndarray
    product: np.ndarray
    coupon: np.ndarray
    referrer: np.ndarray
    cents: np.ndarray

    def __len__(self) -> int:
        return len(self.time_ms)

    def take(self, index: np.ndarray) -> _Rows:
        return _Rows(*(column[index] for column in vars(self).values()))

    @staticmethod
    def concat(parts: list[_Rows]) -> _Rows:
        columns = zip(*(vars(p).values() for p in parts), strict=True)
        return _Rows(*(np.concatenate(column) for column in columns))


def _rows(run: Run, k: int, ev: Events) -> _Rows:
    units, scale = run.price_units(ev)
    return _Rows(
        time_ms=ev.time_ms,
        event=run.event_numbers(k, len(ev.time_ms)),
        event_type=ev.event_type,
        session=run.session_numbers(k, len(ev.session_user))[ev.session],
        user=ev.session_user[ev.session],
        device=ev.session_device[ev.session],
        product=ev.product,
        coupon=ev.coupon,
        referrer=ev.session_referrer[ev.session],
        cents=np.rint(units * (100 / scale)).astype(np.int64),
    )


def _table(
    rows: _Rows,
    lookups: _Lookups,
    schema: pa.Schema,
    topic: str,
    partition: int,
    first_offset: int,
    ingested_us: int,
) -> pa.Table:
    count = len(rows)
    country = lookups.user_country[rows.user]
    columns = {
        "event_id": _hex16(rows.event),
        "event_time": pa.array(rows.time_ms * 1000, pa.int64()).view(EVENT_TIME_TYPE),
        "event_type": lookups.event_type.take(rows.event_type),
        "user_id": lookups.user_id.take(rows.user),
        "session_id": _hex16(rows.session),
        **{name: values.take(rows.product) for name, values in lookups.product.items()},
        "price": _decimal(rows.cents),
        "currency": lookups.currency.take(country),
        "country": lookups.country.take(country),
        "device": lookups.device.take(rows.device),
        "schema_version": pa.array(lookups.user_version[rows.user]),
        "coupon_code": _pick(lookups.coupon, rows.coupon),
        "referrer": _pick(lookups.referrer, rows.referrer),
        "_topic": pa.repeat(pa.scalar(topic), count),
        "_partition": pa.repeat(pa.scalar(partition, pa.int32()), count),
        "_offset": pa.array(np.arange(first_offset, first_offset + count, dtype=np.int64)),
        "_ingested_at": pa.repeat(pa.scalar(ingested_us, EVENT_TIME_TYPE), count),
    }
    # A field the contract gains later stays null here, as the decoder leaves it when absent.
    arrays = [columns[f.name] if f.name in columns else pa.nulls(count, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


# -- the lake's state --------------------------------------------------------------------------


@dataclass(frozen=True)
class LakeState:
    """What a topic's raw lake holds already."""

    next_offsets: dict[int, int]
    """Partition -> first offset not in the lake (partitions without a checkpoint left out)."""
    last_date: dt.date | None
    """The newest event_date folder holding a data file."""

    @property
    def messages(self) -> int:
        return sum(self.next_offsets.values())


def lake_state(lake_dir: Path, topic: str) -> LakeState:
    """Read (and, like the loader, recover) the checkpoints; find the last date folder."""
    next_offsets: dict[int, int] = {}
    folder = lake_dir / layout.CHECKPOINTS / topic
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        partition = int(path.stem)
        next_offsets[partition] = layout.recover_partition(lake_dir, topic, partition) or 0
    dates = []
    raw = lake_dir / layout.RAW_EVENTS
    for path in raw.glob(f"{layout.PARTITION_PREFIX}*") if raw.is_dir() else []:
        if any(path.glob(f"{topic}+*.parquet")):
            dates.append(dt.date.fromisoformat(path.name.split("=", 1)[1]))
    return LakeState(next_offsets, max(dates, default=None))


# -- writing -------------------------------------------------------------------------------------


@dataclass
class _File:
    path: Path
    partition: int
    first: int
    rows: _Rows


class _Writer:
    """Batches to files and checkpoints; one batch is written while the next one is drawn."""

    def __init__(
        self,
        lake_dir: Path,
        topic: str,
        partitions: int,
        next_offsets: dict[int, int],
        lookups: _Lookups,
        row_group_size: int,
        clock: Callable[[], dt.datetime],
        threads: int,
    ) -> None:
        self.lake_dir = lake_dir
        self.topic = topic
        self.partitions = partitions
        self.planned = {p: next_offsets.get(p, 0) for p in range(partitions)}
        """Partition -> the next offset to give out (ahead of the checkpoint while writing)."""
        self.lookups = lookups
        self.schema = raw_schema()
        self.row_group_size = row_group_size
        self.clock = clock
        self.pool = ThreadPoolExecutor(max(threads, 1), thread_name_prefix="eventlake-rawlake")
        self.in_flight: list[tuple[_File, Future[int]]] = []
        self.files = 0
        self.bytes_written = 0

    def write(self, rows: _Rows) -> None:
        """Plan a batch's files, finish the previous batch, then start writing this one."""
        if not len(rows):
            return
        partition = self.lookups.user_partition[rows.user]
        order = np.lexsort((rows.event, rows.time_ms, partition))
        rows, partition = rows.take(order), partition[order]
        day = rows.time_ms // DAY_MS
        cuts = np.flatnonzero((np.diff(partition) != 0) | (np.diff(day) != 0)) + 1
        starts = np.concatenate([[0], cuts]).tolist()
        stops = np.concatenate([cuts, [len(rows)]]).tolist()
        partition_start: dict[int, int] = {}
        files = []
        for start, stop in zip(starts, stops, strict=True):
            p = int(partition[start])
            partition_start.setdefault(p, start)
            first = self.planned[p] + start - partition_start[p]
            event_date = dt.date(1970, 1, 1) + dt.timedelta(days=int(day[start]))
            name = layout.data_file_name(self.topic, p, first, first + stop - start - 1)
            path = layout.event_date_dir(self.lake_dir, event_date) / name
            files.append(_File(path, p, first, rows.take(slice(start, stop))))
        committed = dict(self.planned)
        for file in files:
            self.planned[file.partition] = max(
                self.planned[file.partition], file.first + len(file.rows)
            )
        self.finish()
        ingested_us = int(self.clock().timestamp() * 1_000_000)
        for p in sorted(partition_start):
            pending = [str(f.path.relative_to(self.lake_dir)) for f in files if f.partition == p]
            layout.write_checkpoint(
                self.lake_dir, self.topic, p, layout.Checkpoint(committed[p], pending)
            )
        self.in_flight = [(f, self.pool.submit(self._write_file, f, ingested_us)) for f in files]

    def _write_file(self, file: _File, ingested_us: int) -> int:
        table = _table(
            file.rows,
            self.lookups,
            self.schema,
            self.topic,
            file.partition,
            file.first,
            ingested_us,
        )
        return layout.write_parquet_atomic(
            table,
            file.path,
            row_group_size=self.row_group_size,
            sort_by=SORT_KEYS,
            presorted=True,
            bloom_filter_columns=BLOOM_FILTER_COLUMNS,
            plain_columns=layout.PLAIN_COLUMNS,
        )

    def finish(self) -> None:
        """Wait for the batch being written, then commit it partition by partition."""
        if not self.in_flight:
            return
        in_flight, self.in_flight = self.in_flight, []
        for _file, future in in_flight:
            self.bytes_written += future.result()
            self.files += 1
        for directory in {file.path.parent for file, _ in in_flight}:
            layout.fsync_dir(directory)
        next_offsets: dict[int, int] = {}
        for file, _ in in_flight:
            end = file.first + len(file.rows)
            next_offsets[file.partition] = max(next_offsets.get(file.partition, 0), end)
        for p, next_offset in sorted(next_offsets.items()):
            layout.write_checkpoint(self.lake_dir, self.topic, p, layout.Checkpoint(next_offset))

    def close(self) -> None:
        try:
            self.finish()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


def write_raw_lake(
    config: GeneratorConfig,
    lake_dir: Path,
    topic: str = "events",
    partitions: int = 4,
    *,
    append: bool = False,
    batch_events: int = BATCH_EVENTS,
    row_group_size: int = LoaderConfig.row_group_size,
    threads: int = 2,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> GroundTruth:
    """Write ``config``'s valid events into ``lake_dir``'s raw lake as the loader would.

    Without ``append`` the lake must not hold ``topic`` yet. With it, the days start after the
    lake's last date folder (``config.start_date``, if set, must lie after it) and offsets
    continue from the checkpoints. ``clock`` stamps _ingested_at, once per batch. Returns the
    ground truth of what was written (no duplicates, no malformed messages).
    """
    lake_dir = Path(lake_dir)
    if partitions < 1:
        raise ConfigError(f"rawlake: partitions must be 1 or more, got {partitions}")
    if batch_events < 1:
        raise ConfigError(f"rawlake: batch_events must be 1 or more, got {batch_events}")
    state = lake_state(lake_dir, topic)
    config = dataclasses.replace(config, duplicate_fraction=0.0, malformed_fraction=0.0)
    if append:
        if state.last_date is None:
            raise LakeError(
                f"append expects a lake holding topic {topic!r} under "
                f"{lake_dir / layout.RAW_EVENTS}"
                ", found no data file; write the lake without append first"
            )
        beyond = [p for p in state.next_offsets if p >= partitions]
        if beyond:
            raise ConfigError(
                f"append: the lake holds partitions {sorted(state.next_offsets)} of {topic!r}, "
                f"more than the {partitions} partitions asked for"
            )
        first_day = state.last_date + dt.timedelta(days=1)
        if config.start_date is None:
            config = dataclasses.replace(config, start_date=first_day)
        elif config.start_date < first_day:
            raise ConfigError(
                f"append must start after the lake's last date {state.last_date}, "
                f"got start_date {config.start_date}"
            )
    elif state.next_offsets or state.last_date is not None:
        raise LakeError(
            f"the lake {lake_dir} already holds topic {topic!r} (last date {state.last_date}); "
            "pass append (the CLI's --append) to add days to it, or choose an empty lake"
        )

    started = time.perf_counter()
    run = Run(config, number_base=state.messages)
    lookups = _Lookups(run, partitions)
    truth = GroundTruth()
    tally = Tally(run, truth)
    writer = _Writer(
        lake_dir,
        topic,
        partitions,
        state.next_offsets,
        lookups,
        row_group_size,
        clock,
        threads,
    )
    pending: dict[int, list[_Rows]] = {}
    batch: list[_Rows] = []
    batched = late = 0
    try:
        for k in range(run.chunks):
            ev = run.events(k)
            tally.add_events(ev, run.users)
            rows = _rows(run, k, ev)
            held, _emit_ms, target = run.late_plan(k, ev, seeded_rng(config.seed, k, 2))
            late += len(held)
            for t in np.unique(target).tolist():
                pending.setdefault(t, []).append(rows.take(held[target == t]))
            on_time = np.ones(len(rows), dtype=bool)
            on_time[held] = False
            batch += [rows.take(on_time), *pending.pop(k, [])]
            batched += len(rows)
            if batched >= batch_events or k == run.chunks - 1:
                writer.write(_Rows.concat(batch))
                batch, batched = [], 0
                log.info(
                    "%d of %d events drawn, %d files written",
                    tally.events,
                    config.events,
                    writer.files,
                )
        writer.close()
    except BaseException:
        writer.pool.shutdown(wait=True, cancel_futures=True)
        raise
    if pending:  # cannot happen: late targets are clipped to the last chunk
        raise AssertionError(f"late rows left behind for chunks {sorted(pending)}")
    tally.publish(late)
    elapsed = time.perf_counter() - started
    log.info(
        "wrote %d events (%d late) in %d files (%.1f MB) to %s in %.1fs: %.0f events/s",
        truth.events,
        late,
        writer.files,
        writer.bytes_written / 1e6,
        lake_dir / layout.RAW_EVENTS,
        elapsed,
        truth.events / elapsed if elapsed else 0.0,
    )
    return truth
