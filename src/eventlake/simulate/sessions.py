"""Synthetic clickstream: realistic, fast and deterministic, with an exact ground truth.

A run is cut into chunks of ``GeneratorConfig.chunk_size`` valid events. Chunk ``k`` owns the
slice ``[k/n, (k+1)/n)`` of the cumulative traffic curve (a diurnal, weekly profile over the
days), so chunks follow each other in time and the stream is mostly chronological. Everything in
a chunk is drawn with numpy from generators seeded by ``(seed, k)``, so memory stays bounded by
one chunk (plus the late events waiting for a later chunk) and the same configuration always
gives the same bytes.

Inside a chunk, sessions are drawn for power-law users (home country, preferred device, favourite
product family); each session views products and a few of the views go on to cart, purchase or
remove_from_cart. Values are rendered with string templates (about eight times faster here than
``orjson.dumps`` of dicts); every string in them is plain ASCII from fixed vocabularies, so no
escaping is ever needed.

Around the valid events the chunk then mixes in late events (held back by up to
``max_late_days`` of stream), producer-retry duplicates (the same key and value bytes a little
later) and malformed messages of many kinds (see ``MALFORMED_KINDS``).

The ground truth is available two ways:

* ``generate_with_truth(cfg)`` returns the chunk iterator and a ``GroundTruth`` that is updated
  after every chunk the iterator yields (complete once it is exhausted);
* ``ground_truth(cfg)`` computes the same truth without rendering any message (several times
  faster than generating), for checking a lake that was loaded earlier.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from eventlake.simulate.config import GeneratorConfig
from eventlake.simulate.malformed import malformed_message
from eventlake.simulate.seeding import gc_paused, hex16, mix, part_of, seeded_rng
from eventlake.simulate.truth import GroundTruth, Tally
from eventlake.simulate.vocabulary import (
    CART,
    CART_BETA,
    COUNTRIES,
    COUPON_SHARE,
    COUPONS,
    DAY_MS,
    DEVICE_WEIGHTS,
    DEVICES,
    EVENT_TYPES,
    EVENTS_PER_USER,
    FAMILIES,
    HOUR_MS,
    LOCAL_HOUR_PROFILE,
    MAX_VIEWS,
    MIN_LATE_MS,
    PURCHASE,
    PURCHASE_GIVEN_CART,
    REFERRER_SHARE,
    REFERRER_WEIGHTS,
    REFERRERS,
    REMOVE,
    REMOVE_GIVEN_UNPURCHASED_CART,
    RETRY_MEAN_MS,
    VIEW,
    VIEW_GAP_MS,
    VIEWS_PER_SESSION_P,
    WEEKEND_FACTOR,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """One Kafka message as it is to be sent."""

    key: bytes | None
    value: bytes | None
    kind: str
    """'valid', 'duplicate' or 'malformed:<kind>' (kind from ``MALFORMED_KINDS``)."""
    event_id: str | None
    """The event id of valid and duplicate messages; None for malformed ones."""


# -- internals: the world of one run ---------------------------------------------------------------


class Catalogue:
    """Products with family, category, brand, base price and their rendered JSON fragment."""

    def __init__(self, seed: int) -> None:
        rng = seeded_rng(seed, 0xCA7)
        fragments: list[str] = []
        family_of: list[np.ndarray] = []
        prices: list[np.ndarray] = []
        self.family_start = np.zeros(len(FAMILIES), dtype=np.int64)
        self.family_size = np.zeros(len(FAMILIES), dtype=np.int64)
        total = 0
        for f, family in enumerate(FAMILIES):
            size = int(1500 * family.weight / 0.1)
            sub_weights = rng.dirichlet(np.full(len(family.subcategories), 2.0))
            sub = rng.choice(len(family.subcategories), size=size, p=sub_weights)
            brand_weights = 1.0 / np.arange(1, len(family.brands) + 1)
            brand = rng.choice(len(family.brands), size=size, p=brand_weights / brand_weights.sum())
            factor = np.array([s[1] for s in family.subcategories])[sub]
            base = family.median_usd * factor * rng.lognormal(0.0, family.sigma, size)
            category_ids = rng.integers(
                2_053_013_552_000_000_000, 2_232_732_000_000_000_000, size=len(family.subcategories)
            )
            product_ids = rng.choice(9_000_000, size=size, replace=False) + 1_000_000
            for p in range(size):
                s = int(sub[p])
                fragments.append(
                    f'"product_id":"{product_ids[p]}","category_id":"{category_ids[s]}",'
                    f'"category_code":"{family.name}.{family.subcategories[s][0]}",'
                    f'"brand":"{family.brands[brand[p]]}"'
                )
            family_of.append(np.full(size, f, dtype=np.int8))
            prices.append(np.maximum(base, 0.5))
            self.family_start[f] = total
            self.family_size[f] = size
            total += size
        self.fragments = fragments
        self.family = np.concatenate(family_of)
        self.base_usd = np.concatenate(prices)
        self.family_weights = np.array([f.weight for f in FAMILIES])
        self.family_weights /= self.family_weights.sum()


class Users:
    """Power-law activity, home country, preferred device, favourite family, app version."""

    def __init__(self, cfg: GeneratorConfig, catalogue: Catalogue) -> None:
        rng = seeded_rng(cfg.seed, 0x05E5)
        n = max(1, cfg.events // EVENTS_PER_USER)
        activity = np.minimum(rng.pareto(1.5, n) + 1.0, 2_000.0)
        self.cumulative = np.cumsum(activity)
        country_weights = np.array([c[1] for c in COUNTRIES])
        self.country = rng.choice(len(COUNTRIES), n, p=country_weights / country_weights.sum())
        self.country = self.country.astype(np.int8)
        self.device = rng.choice(len(DEVICES), n, p=DEVICE_WEIGHTS).astype(np.int8)
        self.family = rng.choice(len(FAMILIES), n, p=catalogue.family_weights).astype(np.int8)
        self.v2 = (rng.random(n) < cfg.v2_share) & (cfg.schema_version >= 2)
        # An affine map modulo 10**9 with a multiplier coprime to 10: distinct 9-digit numbers.
        offset = cfg.seed * 7919 % 10**9
        self.number = (np.arange(n, dtype=np.int64) * 982_451_653 + offset) % 10**9

    def __len__(self) -> int:
        return len(self.cumulative)

    def pick(self, rng: np.random.Generator, size: int) -> np.ndarray:
        draw = rng.random(size) * self.cumulative[-1]
        return np.minimum(np.searchsorted(self.cumulative, draw, side="right"), len(self) - 1)


class Clock:
    """Traffic over the run's hours (diurnal by country, busier weekends) and its inverse."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        rng = seeded_rng(cfg.seed, 0xC10C)
        first = cfg.first_day
        self.start_ms = (
            int(dt.datetime(first.year, first.month, first.day, tzinfo=dt.UTC).timestamp()) * 1000
        )
        self.end_ms = self.start_ms + cfg.days * DAY_MS
        self.first_day = first
        self.days = cfg.days
        profile = np.array(LOCAL_HOUR_PROFILE)
        utc_hour = np.arange(24)
        by_hour = np.zeros(24)
        for _, weight, _, offset, _, _ in COUNTRIES:
            by_hour += weight * profile[(utc_hour + offset) % 24]
        weekday = np.array([(first + dt.timedelta(days=d)).weekday() for d in range(cfg.days)])
        day_factor = np.where(weekday >= 5, WEEKEND_FACTOR, 1.0)
        day_factor *= rng.lognormal(0.0, 0.06, cfg.days)  # promotions, weather, news
        hourly = (day_factor[:, None] * by_hour[None, :]).ravel()
        self.cumulative = np.concatenate([[0.0], np.cumsum(hourly)]) / hourly.sum()

    def at(self, u: np.ndarray) -> np.ndarray:
        """Epoch milliseconds at traffic quantiles ``u`` in [0, 1)."""
        hour = np.clip(np.searchsorted(self.cumulative, u, side="right") - 1, 0, self.days * 24 - 1)
        low, high = self.cumulative[hour], self.cumulative[hour + 1]
        into = np.clip((u - low) / (high - low), 0.0, 1.0)
        ms = self.start_ms + ((hour + into) * HOUR_MS).astype(np.int64)
        return np.minimum(ms, self.end_ms - 1)


@dataclass
class Events:
    """The valid events of one chunk as columns, sorted by event time."""

    time_ms: np.ndarray
    event_type: np.ndarray
    session: np.ndarray
    product: np.ndarray
    coupon: np.ndarray
    """Index into COUPONS, or -1."""
    session_user: np.ndarray
    session_device: np.ndarray
    session_referrer: np.ndarray
    """Index into REFERRERS, or -1."""

    def country(self, users: Users) -> np.ndarray:
        return users.country[self.session_user][self.session]

    def version(self, users: Users) -> np.ndarray:
        return np.where(users.v2[self.session_user][self.session], 2, 1)


@dataclass
class Chunk:
    """Messages of one chunk in emission order, as parallel lists."""

    keys: list[bytes | None]
    values: list[bytes | None]
    kinds: list[str]
    event_ids: list[str | None]

    def messages(self) -> list[Message]:
        return [
            Message(k, v, kind, e)
            for k, v, kind, e in zip(
                self.keys, self.values, self.kinds, self.event_ids, strict=True
            )
        ]


@dataclass
class Late:
    """A late valid message waiting for the chunk whose stream time it belongs to."""

    emit_ms: int
    key: bytes
    value: bytes
    event_id: str


class Run:
    """Everything fixed for one configuration, and the per-chunk steps.

    ``number_base`` shifts the numbers event and session ids are made from (nothing else), so a
    run that continues an earlier one of the same seed (lake_writer's append) never repeats ids.
    """

    def __init__(self, cfg: GeneratorConfig, *, number_base: int = 0) -> None:
        self.cfg = cfg
        self.number_base = number_base
        self.catalogue = Catalogue(cfg.seed)
        self.users = Users(cfg, self.catalogue)
        self.clock = Clock(cfg)
        self.chunks = math.ceil(cfg.events / cfg.chunk_size) if cfg.events else 0
        n = max(self.chunks, 1)
        self.bounds_ms = self.clock.at(np.arange(n + 1) / n)
        self.late_total = round(cfg.events * cfg.late_fraction)
        self.duplicate_total = round(cfg.events * cfg.duplicate_fraction)
        self.malformed_total = round(cfg.events * cfg.malformed_fraction)
        kinds = list(cfg.malformed_kinds)
        order = seeded_rng(cfg.seed, 0xBAD).permutation(len(kinds)) if kinds else []
        self.kind_cycle = [kinds[i] for i in order]
        self.id_salt = int(seeded_rng(cfg.seed, 0x1D).integers(0, 2**63))
        self.session_salt = int(seeded_rng(cfg.seed, 0x5E55).integers(0, 2**63))
        self.rates = np.array([c[4] for c in COUNTRIES])
        self.scales = np.array([10.0 ** c[5] for c in COUNTRIES])

    # -- counts known without rendering ----------------------------------------------------------

    def budget(self, k: int) -> int:
        return part_of(self.cfg.events, self.chunks, k)

    def first_event(self, k: int) -> int:
        return k * self.cfg.events // self.chunks

    def late_count(self, k: int) -> int:
        return min(part_of(self.late_total, self.chunks, k), self.budget(k))

    def duplicate_count(self, k: int) -> int:
        return min(
            part_of(self.duplicate_total, self.chunks, k), self.budget(k) - self.late_count(k)
        )

    def malformed_kinds_of(self, k: int) -> list[str]:
        first = k * self.malformed_total // self.chunks
        count = part_of(self.malformed_total, self.chunks, k)
        cycle = self.kind_cycle
        return [cycle[(first + i) % len(cycle)] for i in range(count)]

    # -- step 1: the valid events of a chunk, as columns ----------------------------------------

    def events(self, k: int) -> Events:
        rng = seeded_rng(self.cfg.seed, k, 1)
        need = self.budget(k)
        parts: list[Events] = []
        sessions = 0
        while need > 0:
            batch = self._sessions(rng, k, int(need / 5.4 * 1.1) + 8)
            order = np.lexsort((batch.time_ms, batch.session))[:need]
            order.sort()  # batch arrays are grouped by session already; keep that grouping
            used = int(batch.session[order].max()) + 1 if len(order) else 0
            parts.append(
                Events(
                    time_ms=batch.time_ms[order],
                    event_type=batch.event_type[order],
                    session=batch.session[order] + sessions,
                    product=batch.product[order],
                    coupon=batch.coupon[order],
                    session_user=batch.session_user[:used],
                    session_device=batch.session_device[:used],
                    session_referrer=batch.session_referrer[:used],
                )
            )
            sessions += used
            need -= len(order)
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return Events(empty, empty, empty, empty, empty, empty, empty, empty)
        merged = Events(
            *(np.concatenate(cols) for cols in zip(*(vars(p).values() for p in parts), strict=True))
        )
        by_time = np.argsort(merged.time_ms, kind="stable")
        for name in ("time_ms", "event_type", "session", "product", "coupon"):
            setattr(merged, name, getattr(merged, name)[by_time])
        return merged

    def _sessions(self, rng: np.random.Generator, k: int, count: int) -> Events:
        """``count`` sessions starting inside chunk ``k``'s time window, all their events."""
        users, catalogue = self.users, self.catalogue
        start = self.clock.at((k + rng.random(count)) / self.chunks)
        user = users.pick(rng, count)
        device = np.where(
            rng.random(count) < 0.8,
            users.device[user],
            rng.choice(len(DEVICES), count, p=DEVICE_WEIGHTS),
        ).astype(np.int8)
        family = np.where(
            rng.random(count) < 0.6,
            users.family[user],
            rng.choice(len(FAMILIES), count, p=catalogue.family_weights),
        )
        intent = rng.beta(*CART_BETA, count)
        referrer = np.where(
            rng.random(count) < REFERRER_SHARE,
            rng.choice(len(REFERRERS), count, p=REFERRER_WEIGHTS),
            -1,
        )
        referrer = np.where(users.v2[user], referrer, -1).astype(np.int8)
        views = np.minimum(rng.geometric(VIEWS_PER_SESSION_P, count), MAX_VIEWS)

        view_session = np.repeat(np.arange(count), views)
        gaps = rng.exponential(VIEW_GAP_MS, len(view_session)).astype(np.int64) + 2_000
        elapsed = np.cumsum(gaps)
        first = np.cumsum(views) - views
        view_time = start[view_session] + elapsed - np.repeat(elapsed[first], views)
        view_family = np.where(
            rng.random(len(view_session)) < 0.85,
            family[view_session],
            rng.choice(len(FAMILIES), len(view_session), p=catalogue.family_weights),
        )
        rank = np.floor(
            catalogue.family_size[view_family] * rng.random(len(view_session)) ** 2.5
        ).astype(np.int64)
        view_product = catalogue.family_start[view_family] + rank

        carted = np.flatnonzero(rng.random(len(view_session)) < intent[view_session])
        cart_time = view_time[carted] + rng.integers(5_000, 180_000, len(carted))
        bought = rng.random(len(carted)) < PURCHASE_GIVEN_CART
        removed = ~bought & (rng.random(len(carted)) < REMOVE_GIVEN_UNPURCHASED_CART)
        buy_time = cart_time[bought] + rng.integers(60_000, 900_000, int(bought.sum()))
        remove_time = cart_time[removed] + rng.integers(10_000, 600_000, int(removed.sum()))

        source = np.concatenate(
            [np.arange(len(view_session)), carted, carted[bought], carted[removed]]
        )
        event_type = np.concatenate(
            [
                np.full(len(view_session), VIEW, np.int8),
                np.full(len(carted), CART, np.int8),
                np.full(int(bought.sum()), PURCHASE, np.int8),
                np.full(int(removed.sum()), REMOVE, np.int8),
            ]
        )
        time_ms = np.concatenate([view_time, cart_time, buy_time, remove_time])
        time_ms = np.minimum(time_ms, self.clock.end_ms - 1)
        session = view_session[source]
        coupon = np.where(
            (event_type != VIEW)
            & (event_type != REMOVE)
            & users.v2[user][session]
            & (rng.random(len(source)) < COUPON_SHARE),
            rng.integers(0, len(COUPONS), len(source)),
            -1,
        ).astype(np.int8)
        grouped = np.argsort(session, kind="stable")
        return Events(
            time_ms=time_ms[grouped],
            event_type=event_type[grouped],
            session=session[grouped],
            product=view_product[source][grouped],
            coupon=coupon[grouped],
            session_user=user,
            session_device=device,
            session_referrer=referrer,
        )

    # -- step 2: rendering ----------------------------------------------------------------------

    def event_numbers(self, k: int, count: int) -> np.ndarray:
        """The event ids of chunk ``k`` as uint64 (the id is their 16-digit hex)."""
        return mix(
            np.arange(count, dtype=np.uint64)
            + np.uint64(self.first_event(k) + self.number_base)
            + np.uint64(self.id_salt)
        )

    def session_numbers(self, k: int, sessions: int) -> np.ndarray:
        """The session ids of chunk ``k`` as uint64 (the id is their 16-digit hex)."""
        return mix(
            (np.uint64(k + self.number_base) << np.uint64(32))
            + np.arange(sessions, dtype=np.uint64)
            + np.uint64(self.session_salt)
        )

    def price_units(self, ev: Events) -> tuple[np.ndarray, np.ndarray]:
        """Prices in the smallest currency unit in use (whole floats), and units per currency."""
        country = self.users.country[ev.session_user][ev.session]
        scale = self.scales[country]
        units = np.rint(self.catalogue.base_usd[ev.product] * self.rates[country] * scale)
        return units, scale

    def render(self, k: int, ev: Events) -> tuple[list[bytes], list[bytes], list[str]]:
        """Keys, values and event ids of a chunk's valid events (in ``ev`` order)."""
        users, catalogue = self.users, self.catalogue
        ids = hex16(self.event_numbers(k, len(ev.time_ms)))
        session_ids = hex16(self.session_numbers(k, len(ev.session_user)))
        countries = users.country[ev.session_user]
        user_ids = [f"u{n:09d}" for n in users.number[ev.session_user].tolist()]
        keys = [u.encode() for u in user_ids]
        heads = [
            f'"user_id":"{u}","session_id":"{sid}","country":"{COUNTRIES[c][0]}",'
            f'"currency":"{COUNTRIES[c][2]}","device":"{DEVICES[d]}",'
            for u, sid, c, d in zip(
                user_ids, session_ids, countries.tolist(), ev.session_device.tolist(), strict=True
            )
        ]
        endings = [',"schema_version":1}', ',"schema_version":2}']
        endings += [f',"schema_version":2,"referrer":"{r}"}}' for r in REFERRERS]
        ending_of = np.where(users.v2[ev.session_user], ev.session_referrer.astype(np.int64) + 2, 0)
        tails = [endings[e] for e in ending_of.tolist()]

        units, scale = self.price_units(ev)
        prices = units / scale
        times = np.datetime_as_string(
            ev.time_ms.astype("datetime64[ms]"), unit="ms", timezone="UTC"
        ).tolist()
        coupons = [""] + [f',"coupon_code":"{c}"' for c in COUPONS]
        # Gather every column as a list of ready strings first: the one loop that formats
        # the values then does no lookups.
        sessions = ev.session.tolist()
        values = [
            f'{{"event_id":"{e}","event_time":"{t}","event_type":"{ty}",{h}{p},'
            f'"price":{pr}{cp}{tl}'.encode()
            for e, t, ty, h, p, pr, cp, tl in zip(
                ids,
                times,
                [EVENT_TYPES[t] for t in ev.event_type.tolist()],
                [heads[s] for s in sessions],
                [catalogue.fragments[p] for p in ev.product.tolist()],
                list(map(repr, prices.tolist())),
                [coupons[c + 1] for c in ev.coupon.tolist()],
                [tails[s] for s in sessions],
                strict=True,
            )
        ]
        return [keys[s] for s in sessions], values, ids

    # -- step 3: emission order with late, duplicate and malformed messages ---------------------

    def late_plan(
        self, k: int, ev: Events, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which events of chunk ``k`` go late (sorted positions in ``ev``), when they are
        emitted (epoch ms) and the chunk they are emitted with; the first draws of ``rng``."""
        late = np.sort(rng.choice(len(ev.time_ms), self.late_count(k), replace=False))
        span = math.log(self.cfg.max_late_days * DAY_MS / MIN_LATE_MS)
        delay = (MIN_LATE_MS * np.exp(rng.random(len(late)) * span)).astype(np.int64)
        emit_ms = ev.time_ms[late] + delay
        target = np.clip(
            np.searchsorted(self.bounds_ms, emit_ms, side="right") - 1, k, self.chunks - 1
        )
        return late, emit_ms, target

    def emit(
        self, k: int, ev: Events, pending: dict[int, list[Late]], counter: Tally | None
    ) -> Chunk:
        rng = seeded_rng(self.cfg.seed, k, 2)
        keys, values, ids = self.render(k, ev)
        count = len(values)

        late, emit_ms, target = self.late_plan(k, ev, rng)
        for i, t, when in zip(late.tolist(), target.tolist(), emit_ms.tolist(), strict=True):
            pending.setdefault(t, []).append(Late(when, keys[i], values[i], ids[i]))
        on_time = np.ones(count, dtype=bool)
        on_time[late] = False
        base = np.flatnonzero(on_time)
        base_times = ev.time_ms[base]

        # Inserted messages: (position in base to go before, key, value, kind, event id).
        arrivals = sorted(pending.pop(k, []), key=lambda a: a.emit_ms)
        at = np.searchsorted(base_times, [a.emit_ms for a in arrivals], side="right")
        inserts = [
            (p, a.key, a.value, "valid", a.event_id)
            for p, a in zip(at.tolist(), arrivals, strict=True)
        ]
        dups = self.duplicate_count(k)
        if dups and len(base):
            source = rng.choice(len(base), dups, replace=False)
            # A retry follows its original by the producer's retry backoff: up to a minute.
            retry_ms = np.minimum(rng.exponential(RETRY_MEAN_MS, dups), 60_000).astype(np.int64)
            later = np.maximum(
                np.searchsorted(base_times, base_times[source] + retry_ms, side="right"),
                source + 1,
            )
            for s, p in zip(source.tolist(), later.tolist(), strict=True):
                i = int(base[s])
                inserts.append((p, keys[i], values[i], "duplicate", ids[i]))
        kinds = self.malformed_kinds_of(k)
        if kinds and count:
            first = k * self.malformed_total // self.chunks
            donors = rng.integers(0, count, len(kinds))
            spots = rng.integers(0, len(base) + 1, len(kinds))
            for n, (kind, d, p) in enumerate(
                zip(kinds, donors.tolist(), spots.tolist(), strict=True)
            ):
                key, value = malformed_message(kind, rng, keys[d], values[d], first + n, self)
                inserts.append((p, key, value, f"malformed:{kind}", None))

        out_keys = [keys[i] for i in base.tolist()]
        out_values = [values[i] for i in base.tolist()]
        out_kinds = ["valid"] * len(base)
        out_ids = [ids[i] for i in base.tolist()]
        if inserts:
            positions = np.array([x[0] for x in inserts])
            # Base message i sorts at 2i+1, an insert before base[p] at 2p: inserts go in front.
            sort_key = np.concatenate([np.arange(len(base)) * 2 + 1, positions * 2])
            order = np.argsort(sort_key, kind="stable").tolist()
            out_keys += [x[1] for x in inserts]
            out_values += [x[2] for x in inserts]
            out_kinds += [x[3] for x in inserts]
            out_ids += [x[4] for x in inserts]
            out_keys = [out_keys[i] for i in order]
            out_values = [out_values[i] for i in order]
            out_kinds = [out_kinds[i] for i in order]
            out_ids = [out_ids[i] for i in order]
        if counter is not None:
            counter.add_events(ev, self.users)
            counter.add_extras(dups if len(base) else 0, kinds if count else [])
        return Chunk(out_keys, out_values, out_kinds, out_ids)


def chunk_stream(cfg: GeneratorConfig, truth: GroundTruth | None = None) -> Iterator[Chunk]:
    run = Run(cfg)
    tally = Tally(run, truth) if truth is not None else None
    pending: dict[int, list[Late]] = {}
    late = 0
    for k in range(run.chunks):
        with gc_paused():
            chunk = run.emit(k, run.events(k), pending, tally)
        late += run.late_count(k)
        if tally is not None:
            tally.publish(late)
        yield chunk
    if pending:  # cannot happen: late targets are clipped to the last chunk
        raise AssertionError(f"late messages left behind for chunks {sorted(pending)}")


def generate(cfg: GeneratorConfig) -> Iterator[list[Message]]:
    """Messages in emission order, one list per chunk of ``cfg.chunk_size`` valid events."""
    for chunk in chunk_stream(cfg):
        with gc_paused():
            messages = chunk.messages()
        yield messages


def generate_with_truth(cfg: GeneratorConfig) -> tuple[Iterator[list[Message]], GroundTruth]:
    """``generate(cfg)`` and its ground truth, updated after each chunk the iterator yields.

    The truth is complete once the iterator is exhausted; before, it covers the chunks so far.
    """
    truth = GroundTruth()

    def chunks() -> Iterator[list[Message]]:
        for chunk in chunk_stream(cfg, truth):
            with gc_paused():
                messages = chunk.messages()
            yield messages

    return chunks(), truth


def ground_truth(cfg: GeneratorConfig) -> GroundTruth:
    """The ground truth of ``cfg`` without rendering a single message (a cheap recount)."""
    run = Run(cfg)
    truth = GroundTruth()
    tally = Tally(run, truth)
    late = 0
    for k in range(run.chunks):
        ev = run.events(k)
        tally.add_events(ev, run.users)
        dups = run.duplicate_count(k) if run.budget(k) - run.late_count(k) > 0 else 0
        tally.add_extras(dups, run.malformed_kinds_of(k) if len(ev.time_ms) else [])
        late += run.late_count(k)
    tally.publish(late)
    return truth
