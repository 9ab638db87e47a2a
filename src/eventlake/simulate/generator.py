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

import contextlib
import datetime as dt
import gc
import logging
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import orjson

from eventlake.exceptions import BrokerError, ConfigError

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MIN_LATE_MS = 2 * HOUR_MS
"""A late event is held back at least this long (and at most ``max_late_days``)."""

EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
VIEW, CART, REMOVE, PURCHASE = range(4)
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_WEIGHTS = (0.62, 0.31, 0.07)
REFERRERS = (
    "google",
    "direct",
    "newsletter",
    "facebook",
    "instagram",
    "tiktok",
    "bing",
    "affiliate",
)
REFERRER_WEIGHTS = (0.38, 0.22, 0.1, 0.09, 0.08, 0.06, 0.04, 0.03)
COUPONS = ("WELCOME10", "SPRING15", "FREESHIP", "VIP20", "BLACKFRIDAY", "SAVE5", "APP10")

# code, traffic weight, currency, UTC offset (hours), units per USD, decimals in use
COUNTRIES = (
    ("US", 0.21, "USD", -5, 1.0, 2),
    ("DE", 0.12, "EUR", 1, 0.92, 2),
    ("GB", 0.09, "GBP", 0, 0.79, 2),
    ("FR", 0.08, "EUR", 1, 0.92, 2),
    ("PL", 0.06, "PLN", 1, 3.98, 2),
    ("NL", 0.05, "EUR", 1, 0.92, 2),
    ("ES", 0.05, "EUR", 1, 0.92, 2),
    ("IT", 0.05, "EUR", 1, 0.92, 2),
    ("SE", 0.03, "SEK", 1, 10.4, 2),
    ("BR", 0.05, "BRL", -3, 5.0, 2),
    ("CA", 0.04, "CAD", -5, 1.36, 2),
    ("MX", 0.03, "MXN", -6, 17.1, 2),
    ("IN", 0.04, "INR", 5, 83.0, 2),
    ("JP", 0.03, "JPY", 9, 150.0, 0),
    ("AU", 0.03, "AUD", 10, 1.52, 2),
    ("CZ", 0.02, "CZK", 1, 23.0, 2),
    ("CH", 0.02, "CHF", 1, 0.88, 2),
)


@dataclass(frozen=True)
class _Family:
    name: str
    weight: float
    median_usd: float
    sigma: float
    subcategories: tuple[tuple[str, float], ...]
    """(dot path under the family, price factor)."""
    brands: tuple[str, ...]
    """Most popular first."""


FAMILIES = (
    _Family(
        "electronics", 0.24, 220, 0.75,
        (("smartphone", 1.6), ("tablet", 1.3), ("video.tv", 2.2), ("audio.headphone", 0.35),
         ("audio.speaker", 0.5), ("clocks", 0.9), ("camera.photo", 2.0), ("telephone", 0.2)),
        ("samsung", "apple", "xiaomi", "huawei", "sony", "lg", "oppo", "jbl", "lenovo"),
    ),
    _Family(
        "appliances", 0.12, 150, 0.8,
        (("kitchen.refrigerators", 2.8), ("kitchen.washer", 2.2), ("kitchen.microwave", 0.6),
         ("kitchen.kettle", 0.2), ("kitchen.blender", 0.35), ("environment.vacuum", 0.9),
         ("environment.air_conditioner", 2.0), ("personal.hair_dryer", 0.25), ("iron", 0.2)),
        ("bosch", "samsung", "lg", "philips", "beko", "indesit", "electrolux", "dyson", "tefal"),
    ),
    _Family(
        "computers", 0.10, 320, 0.9,
        (("notebook", 2.4), ("desktop", 2.6), ("components.videocards", 1.5),
         ("components.memory", 0.25), ("peripherals.mouse", 0.08), ("peripherals.keyboard", 0.15),
         ("peripherals.monitor", 0.8), ("peripherals.printer", 0.6)),
        ("lenovo", "hp", "asus", "acer", "dell", "apple", "logitech", "msi", "kingston"),
    ),
    _Family(
        "apparel", 0.12, 40, 0.7,
        (("shoes", 1.6), ("shoes.sneakers", 1.8), ("jacket", 2.4), ("trousers", 1.0),
         ("shirt", 0.8), ("tshirt", 0.5), ("dress", 1.3), ("underwear", 0.3), ("scarf", 0.4)),
        ("nike", "adidas", "puma", "zara", "levis", "reebok", "new_balance", "mango"),
    ),
    _Family(
        "furniture", 0.06, 140, 0.9,
        (("living_room.sofa", 3.5), ("living_room.cabinet", 1.5), ("bedroom.bed", 3.0),
         ("kitchen.table", 1.6), ("kitchen.chair", 0.5), ("office.chair", 1.2),
         ("bathroom.mirror", 0.4)),
        ("ikea", "brw", "hoff", "kettler", "signal", "halmar"),
    ),
    _Family(
        "kids", 0.07, 28, 0.8,
        (("toys", 1.0), ("dolls", 0.8), ("carriage", 6.0), ("swing", 3.0), ("skates", 1.8),
         ("puzzle", 0.5)),
        ("lego", "mattel", "hasbro", "chicco", "hape", "fisher_price"),
    ),
    _Family(
        "sport", 0.07, 75, 0.9,
        (("bicycle", 5.0), ("tennis", 1.0), ("ski", 4.0), ("trainer", 3.0),
         ("fitness.dumbbells", 0.6), ("camping.tent", 1.8)),
        ("stern", "nordica", "head", "wilson", "salomon", "kettler"),
    ),
    _Family(
        "beauty", 0.09, 22, 0.7,
        (("perfume", 2.5), ("skincare", 1.0), ("makeup", 0.8), ("hair_care", 0.6),
         ("shaving", 0.9)),
        ("loreal", "nivea", "dior", "chanel", "maybelline", "gillette", "garnier"),
    ),
    _Family(
        "auto", 0.05, 55, 1.0,
        (("accessories.player", 1.8), ("accessories.videoregister", 1.6),
         ("accessories.compressor", 1.0), ("parts.oil", 0.6), ("parts.tires", 2.2)),
        ("bosch", "michelin", "continental", "castrol", "pioneer", "xiaomi"),
    ),
    _Family(
        "construction", 0.08, 60, 0.9,
        (("tools.drill", 1.6), ("tools.saw", 1.8), ("tools.screw", 0.3), ("tools.light", 0.4),
         ("components.faucet", 0.9)),
        ("makita", "bosch", "dewalt", "metabo", "stanley", "karcher"),
    ),
)  # fmt: skip

# Activity by local hour of day (0 = midnight), shared by every country.
LOCAL_HOUR_PROFILE = (
    0.28, 0.17, 0.11, 0.08, 0.08, 0.11, 0.22, 0.42, 0.62, 0.78, 0.88, 0.94,
    1.0, 0.96, 0.92, 0.92, 0.96, 1.05, 1.2, 1.36, 1.42, 1.28, 0.95, 0.55,
)  # fmt: skip
WEEKEND_FACTOR = 1.15

# Funnel: a session's cart propensity per view is Beta(a, b) (mean about 7 %).
CART_BETA = (0.6, 8.0)
PURCHASE_GIVEN_CART = 0.36
REMOVE_GIVEN_UNPURCHASED_CART = 0.3
VIEWS_PER_SESSION_P = 0.2
"""Views per session are geometric with this p (mean 5), capped at ``MAX_VIEWS``."""
MAX_VIEWS = 40
VIEW_GAP_MS = 45_000
EVENTS_PER_USER = 40
RETRY_MEAN_MS = 3_000
"""A duplicate follows its original by this long on average (at most a minute)."""
REFERRER_SHARE = 0.7
"""Share of version-2 sessions that carry a referrer."""
COUPON_SHARE = 0.25
"""Share of version-2 cart and purchase events that carry a coupon code."""

MALFORMED_KINDS = (
    "invalid_json",
    "non_utf8",
    "not_an_object",
    "missing_required",
    "wrong_type",
    "bad_timestamp",
    "far_future",
    "empty_value",
    "null_value",
    "null_key",
    "key_mismatch",
    "bad_country",
    "too_many_decimals",
    "negative_price",
    "bad_event_type",
    "bad_currency",
    "bad_category_code",
    "empty_required",
    "bad_schema_version",
    "bad_field_name",
    "reserved_field",
)
"""Every way a message breaks the contract; each malformed message's kind is one of these."""

REQUIRED_FIELDS = ("event_id", "event_time", "event_type", "user_id")
MALFORMED_ID_BASE = 1 << 62
"""Malformed messages number their event ids from here, so they never reuse a valid one."""


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. The same configuration always yields the same bytes."""

    events: int
    """Number of valid unique events to produce."""
    days: int = 14
    """``event_time`` spreads over this many UTC days."""
    start_date: dt.date | None = None
    """First day; by default today (UTC) minus ``days``, so the last day is yesterday."""
    seed: int = 42
    """Seed of every random draw (zero or more)."""
    late_fraction: float = 0.02
    """Share of valid events emitted late: after events up to ``max_late_days`` newer."""
    duplicate_fraction: float = 0.01
    """Producer-retry duplicates (same key and value bytes, a little later), as a share of
    ``events`` and on top of them."""
    malformed_fraction: float = 0.001
    """Malformed messages, as a share of ``events`` and on top of them."""
    schema_version: int = 1
    """1, or 2: then ``v2_share`` of users send version-2 events, some with coupon_code and
    referrer."""
    max_late_days: int = 5
    """The most a late event lags the stream, in days."""
    chunk_size: int = 50_000
    """Valid events per chunk (memory bound); the stream depends on it."""
    v2_share: float = 0.6
    """With ``schema_version=2``: share of users whose app already sends version 2."""
    malformed_kinds: tuple[str, ...] = MALFORMED_KINDS
    """The malformed kinds to mix in, in equal shares."""

    def __post_init__(self) -> None:
        def need(ok: bool, what: str, got: object) -> None:
            if not ok:
                raise ConfigError(f"generator: {what}, got {got!r}")

        need(self.events >= 0, "events must be zero or more", self.events)
        need(self.days >= 1, "days must be 1 or more", self.days)
        need(self.seed >= 0, "seed must be zero or more", self.seed)
        for name in ("late_fraction", "duplicate_fraction", "malformed_fraction", "v2_share"):
            value = getattr(self, name)
            need(0.0 <= value <= 1.0, f"{name} must be between 0 and 1", value)
        need(
            self.late_fraction + self.duplicate_fraction <= 1.0,
            "late_fraction + duplicate_fraction must be at most 1",
            self.late_fraction + self.duplicate_fraction,
        )
        need(self.schema_version in (1, 2), "schema_version must be 1 or 2", self.schema_version)
        need(self.max_late_days >= 1, "max_late_days must be 1 or more", self.max_late_days)
        need(self.chunk_size >= 100, "chunk_size must be 100 or more", self.chunk_size)
        unknown = set(self.malformed_kinds) - set(MALFORMED_KINDS)
        need(not unknown, f"malformed_kinds must be among {MALFORMED_KINDS}", sorted(unknown))
        need(
            bool(self.malformed_kinds) or self.malformed_fraction == 0,
            "malformed_kinds must not be empty while malformed_fraction > 0",
            self.malformed_kinds,
        )

    @property
    def first_day(self) -> dt.date:
        """The first UTC day of ``event_time``."""
        if self.start_date is not None:
            return self.start_date
        return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=self.days)


@dataclass
class GroundTruth:
    """What a correct pipeline lands: counts over valid unique events only.

    Duplicates and malformed messages are counted on their own and never in the breakdowns.
    """

    events: int = 0
    duplicates: int = 0
    """Duplicate messages emitted (each repeats an earlier valid message)."""
    malformed: int = 0
    """Malformed messages emitted."""
    malformed_by_kind: dict[str, int] = field(default_factory=dict)
    by_day: dict[str, int] = field(default_factory=dict)
    """UTC event date 'YYYY-MM-DD' -> events."""
    by_type: dict[str, int] = field(default_factory=dict)
    by_country: dict[str, int] = field(default_factory=dict)
    by_day_type_country: dict[tuple[str, str, str], int] = field(default_factory=dict)
    late: int = 0
    """Valid events emitted late (part of ``events``)."""
    by_schema_version: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        """A JSON-able dict; tuple keys are joined with '|'."""
        return {
            "events": self.events,
            "duplicates": self.duplicates,
            "malformed": self.malformed,
            "malformed_by_kind": dict(self.malformed_by_kind),
            "by_day": dict(self.by_day),
            "by_type": dict(self.by_type),
            "by_country": dict(self.by_country),
            "by_day_type_country": {"|".join(k): v for k, v in self.by_day_type_country.items()},
            "late": self.late,
            "by_schema_version": dict(self.by_schema_version),
        }

    @classmethod
    def from_json(cls, data: dict) -> GroundTruth:
        """The inverse of ``to_json``."""
        return cls(
            events=data["events"],
            duplicates=data["duplicates"],
            malformed=data["malformed"],
            malformed_by_kind=dict(data["malformed_by_kind"]),
            by_day=dict(data["by_day"]),
            by_type=dict(data["by_type"]),
            by_country=dict(data["by_country"]),
            by_day_type_country={
                tuple(k.split("|")): v for k, v in data["by_day_type_country"].items()
            },
            late=data.get("late", 0),
            by_schema_version=dict(data.get("by_schema_version", {})),
        )


@dataclass(frozen=True)
class Message:
    """One Kafka message as it is to be sent."""

    key: bytes | None
    value: bytes | None
    kind: str
    """'valid', 'duplicate' or 'malformed:<kind>' (kind from ``MALFORMED_KINDS``)."""
    event_id: str | None
    """The event id of valid and duplicate messages; None for malformed ones."""


# -- internals: seeded numbers ---------------------------------------------------------------------

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijection of uint64, so distinct inputs stay distinct."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _hex16(x: np.ndarray) -> list[str]:
    text = x.astype(">u8").tobytes().hex()
    return [text[i : i + 16] for i in range(0, len(text), 16)]


def _share(total: int, parts: int, k: int) -> int:
    """Part ``k`` of ``total`` cut into ``parts`` near-equal whole parts."""
    return (k + 1) * total // parts - k * total // parts


def _rng(seed: int, *path: int) -> np.random.Generator:
    return np.random.default_rng([seed, *path])


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a chunk's objects are built (never across a yield).

    Building a chunk allocates hundreds of thousands of small objects and no reference cycles;
    the collector would only walk them over and over, about a third of the generation time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- internals: the world of one run ---------------------------------------------------------------


class _Catalogue:
    """Products with family, category, brand, base price and their rendered JSON fragment."""

    def __init__(self, seed: int) -> None:
        rng = _rng(seed, 0xCA7)
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


class _Users:
    """Power-law activity, home country, preferred device, favourite family, app version."""

    def __init__(self, cfg: GeneratorConfig, catalogue: _Catalogue) -> None:
        rng = _rng(cfg.seed, 0x05E5)
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


class _Clock:
    """Traffic over the run's hours (diurnal by country, busier weekends) and its inverse."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        rng = _rng(cfg.seed, 0xC10C)
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
class _Events:
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

    def country(self, users: _Users) -> np.ndarray:
        return users.country[self.session_user][self.session]

    def version(self, users: _Users) -> np.ndarray:
        return np.where(users.v2[self.session_user][self.session], 2, 1)


@dataclass
class _Chunk:
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
class _Late:
    """A late valid message waiting for the chunk whose stream time it belongs to."""

    emit_ms: int
    key: bytes
    value: bytes
    event_id: str


class _Run:
    """Everything fixed for one configuration, and the per-chunk steps.

    ``number_base`` shifts the numbers event and session ids are made from (nothing else), so a
    run that continues an earlier one of the same seed (rawlake's append) never repeats its ids.
    """

    def __init__(self, cfg: GeneratorConfig, *, number_base: int = 0) -> None:
        self.cfg = cfg
        self.number_base = number_base
        self.catalogue = _Catalogue(cfg.seed)
        self.users = _Users(cfg, self.catalogue)
        self.clock = _Clock(cfg)
        self.chunks = math.ceil(cfg.events / cfg.chunk_size) if cfg.events else 0
        n = max(self.chunks, 1)
        self.bounds_ms = self.clock.at(np.arange(n + 1) / n)
        self.late_total = round(cfg.events * cfg.late_fraction)
        self.duplicate_total = round(cfg.events * cfg.duplicate_fraction)
        self.malformed_total = round(cfg.events * cfg.malformed_fraction)
        kinds = list(cfg.malformed_kinds)
        order = _rng(cfg.seed, 0xBAD).permutation(len(kinds)) if kinds else []
        self.kind_cycle = [kinds[i] for i in order]
        self.id_salt = int(_rng(cfg.seed, 0x1D).integers(0, 2**63))
        self.session_salt = int(_rng(cfg.seed, 0x5E55).integers(0, 2**63))
        self.rates = np.array([c[4] for c in COUNTRIES])
        self.scales = np.array([10.0 ** c[5] for c in COUNTRIES])

    # -- counts known without rendering ----------------------------------------------------------

    def budget(self, k: int) -> int:
        return _share(self.cfg.events, self.chunks, k)

    def first_event(self, k: int) -> int:
        return k * self.cfg.events // self.chunks

    def late_count(self, k: int) -> int:
        return min(_share(self.late_total, self.chunks, k), self.budget(k))

    def duplicate_count(self, k: int) -> int:
        return min(
            _share(self.duplicate_total, self.chunks, k), self.budget(k) - self.late_count(k)
        )

    def malformed_kinds_of(self, k: int) -> list[str]:
        first = k * self.malformed_total // self.chunks
        count = _share(self.malformed_total, self.chunks, k)
        cycle = self.kind_cycle
        return [cycle[(first + i) % len(cycle)] for i in range(count)]

    # -- step 1: the valid events of a chunk, as columns ----------------------------------------

    def events(self, k: int) -> _Events:
        rng = _rng(self.cfg.seed, k, 1)
        need = self.budget(k)
        parts: list[_Events] = []
        sessions = 0
        while need > 0:
            batch = self._sessions(rng, k, int(need / 5.4 * 1.1) + 8)
            order = np.lexsort((batch.time_ms, batch.session))[:need]
            order.sort()  # batch arrays are grouped by session already; keep that grouping
            used = int(batch.session[order].max()) + 1 if len(order) else 0
            parts.append(
                _Events(
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
            return _Events(empty, empty, empty, empty, empty, empty, empty, empty)
        merged = _Events(
            *(np.concatenate(cols) for cols in zip(*(vars(p).values() for p in parts), strict=True))
        )
        by_time = np.argsort(merged.time_ms, kind="stable")
        for name in ("time_ms", "event_type", "session", "product", "coupon"):
            setattr(merged, name, getattr(merged, name)[by_time])
        return merged

    def _sessions(self, rng: np.random.Generator, k: int, count: int) -> _Events:
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
        return _Events(
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
        return _mix(
            np.arange(count, dtype=np.uint64)
            + np.uint64(self.first_event(k) + self.number_base)
            + np.uint64(self.id_salt)
        )

    def session_numbers(self, k: int, sessions: int) -> np.ndarray:
        """The session ids of chunk ``k`` as uint64 (the id is their 16-digit hex)."""
        return _mix(
            (np.uint64(k + self.number_base) << np.uint64(32))
            + np.arange(sessions, dtype=np.uint64)
            + np.uint64(self.session_salt)
        )

    def price_units(self, ev: _Events) -> tuple[np.ndarray, np.ndarray]:
        """Prices in the smallest currency unit in use (whole floats), and units per currency."""
        country = self.users.country[ev.session_user][ev.session]
        scale = self.scales[country]
        units = np.rint(self.catalogue.base_usd[ev.product] * self.rates[country] * scale)
        return units, scale

    def render(self, k: int, ev: _Events) -> tuple[list[bytes], list[bytes], list[str]]:
        """Keys, values and event ids of a chunk's valid events (in ``ev`` order)."""
        users, catalogue = self.users, self.catalogue
        ids = _hex16(self.event_numbers(k, len(ev.time_ms)))
        session_ids = _hex16(self.session_numbers(k, len(ev.session_user)))
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
        self, k: int, ev: _Events, rng: np.random.Generator
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
        self, k: int, ev: _Events, pending: dict[int, list[_Late]], counter: _Tally | None
    ) -> _Chunk:
        rng = _rng(self.cfg.seed, k, 2)
        keys, values, ids = self.render(k, ev)
        count = len(values)

        late, emit_ms, target = self.late_plan(k, ev, rng)
        for i, t, when in zip(late.tolist(), target.tolist(), emit_ms.tolist(), strict=True):
            pending.setdefault(t, []).append(_Late(when, keys[i], values[i], ids[i]))
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
                key, value = _malformed(kind, rng, keys[d], values[d], first + n, self)
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
        return _Chunk(out_keys, out_values, out_kinds, out_ids)


# -- internals: malformed messages -----------------------------------------------------------------


def _malformed(
    kind: str, rng: np.random.Generator, key: bytes, value: bytes, number: int, run: _Run
) -> tuple[bytes | None, bytes | None]:
    """A message of ``kind`` made from a valid donor message; it gets an event id of its own."""
    event = orjson.loads(value)
    raw_id = (MALFORMED_ID_BASE + number + run.id_salt) % 2**64
    event["event_id"] = _hex16(_mix(np.array([raw_id], dtype=np.uint64)))[0]
    fresh = orjson.dumps(event)

    def pick(options: tuple) -> object:
        return options[int(rng.integers(len(options)))]

    def mutated(**changes: object) -> bytes:
        return orjson.dumps({**event, **changes})

    if kind == "invalid_json":
        return key, fresh[: int(rng.integers(1, len(fresh) - 1))]
    if kind == "non_utf8":
        bad = pick((b"\xff\xfe", b"\xc3\x28", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80"))
        field_name = pick((b'"brand":"', b'"category_code":"', b'"device":"'))
        return key, fresh.replace(field_name, field_name + bad, 1)
    if kind == "not_an_object":
        return key, pick((orjson.dumps([event]), b"42", b'"view"', b"null", b"true"))
    if kind == "missing_required":
        dropped = pick(REQUIRED_FIELDS)
        return key, orjson.dumps({k: v for k, v in event.items() if k != dropped})
    if kind == "wrong_type":
        variant = int(rng.integers(5))
        if variant == 0:
            return key, mutated(price=f"{event['price']:.2f}")
        if variant == 1:
            return key, mutated(user_id=int(event["user_id"][1:]))
        if variant == 2:
            return key, mutated(schema_version=str(event["schema_version"]))
        if variant == 3:
            moment = dt.datetime.fromisoformat(event["event_time"])
            return key, mutated(event_time=int(moment.timestamp() * 1000))
        return key, mutated(event_id=number)
    if kind == "bad_timestamp":
        text = pick(
            (
                "yesterday",
                "2026-13-45T99:00:00Z",
                "2025-02-30T10:00:00Z",
                "",
                "now",
                "12/03/2025 10:15",
                "2025-06-01 25:61:00",
            )
        )
        return key, mutated(event_time=text)
    if kind == "far_future":
        moment = dt.datetime.fromisoformat(event["event_time"])
        end = run.clock.first_day + dt.timedelta(days=run.clock.days)
        year = end.year + int(rng.integers(30, 80))
        ahead = moment.replace(year=year, day=min(moment.day, 28))
        return key, mutated(event_time=ahead.isoformat(timespec="milliseconds")[:-6] + "Z")
    if kind == "empty_value":
        return key, b""
    if kind == "null_value":
        return key, None
    if kind == "null_key":
        return None, fresh
    if kind == "key_mismatch":
        other = int(run.users.number[int(rng.integers(len(run.users)))])
        mismatch = f"u{(other + 1) % 10**9:09d}".encode()
        return pick((mismatch, key.upper(), key + b" ", b"")), fresh
    if kind == "bad_country":
        return key, mutated(country=pick(("germany", "de", "DEU", "U.S.", "Deutschland", "")))
    if kind == "too_many_decimals":
        cents = max(int(round(event["price"] * 100)), 1)
        return key, mutated(price=(cents * 10 + int(rng.integers(1, 10))) / 1000)
    if kind == "negative_price":
        return key, mutated(price=-event["price"] if event["price"] else -1.0)
    if kind == "bad_event_type":
        return key, mutated(event_type=pick(("View", "add to cart", "PURCHASE", "3d_view", "")))
    if kind == "bad_currency":
        return key, mutated(currency=pick(("eur", "EURO", "$", "US")))
    if kind == "bad_category_code":
        text = pick(("Electronics/Smartphone", "electronics..tv", ".kids", "sport.Bicycle"))
        return key, mutated(category_code=text)
    if kind == "empty_required":
        name = pick(("event_id", "user_id"))
        return (b"" if name == "user_id" else key), mutated(**{name: ""})
    if kind == "bad_schema_version":
        return key, mutated(schema_version=pick((0, -1)))
    if kind == "bad_field_name":
        return key, mutated(**{pick(("Coupon-Code", "1st_visit", "utm source", "ÜBER")): "x"})
    if kind == "reserved_field":
        return key, mutated(**{pick(("event_date", "_offset", "_topic")): "2020-01-01"})
    raise ConfigError(f"unknown malformed kind {kind!r}; expected one of {MALFORMED_KINDS}")


# -- internals: ground truth -----------------------------------------------------------------------


class _Tally:
    """Exact counts accumulated chunk by chunk, written into a ``GroundTruth``."""

    def __init__(self, run: _Run, truth: GroundTruth) -> None:
        self.run = run
        self.truth = truth
        self.days = run.clock.days
        self.cells = np.zeros(self.days * len(EVENT_TYPES) * len(COUNTRIES), dtype=np.int64)
        self.versions = np.zeros(3, dtype=np.int64)
        self.duplicates = 0
        self.malformed: dict[str, int] = {}
        self.events = 0
        self.late = 0

    def add_events(self, ev: _Events, users: _Users) -> None:
        day = (ev.time_ms - self.run.clock.start_ms) // DAY_MS
        code = (day * len(EVENT_TYPES) + ev.event_type) * len(COUNTRIES) + ev.country(users)
        self.cells += np.bincount(code, minlength=len(self.cells))
        self.versions += np.bincount(ev.version(users), minlength=3)
        self.events += len(ev.time_ms)

    def add_extras(self, duplicates: int, kinds: list[str]) -> None:
        self.duplicates += duplicates
        for kind in kinds:
            self.malformed[kind] = self.malformed.get(kind, 0) + 1

    def publish(self, late: int) -> None:
        truth = self.truth
        cells = self.cells.reshape(self.days, len(EVENT_TYPES), len(COUNTRIES))
        dates = [
            (self.run.clock.first_day + dt.timedelta(days=d)).isoformat() for d in range(self.days)
        ]
        codes = [c[0] for c in COUNTRIES]
        truth.events = self.events
        truth.duplicates = self.duplicates
        truth.malformed = sum(self.malformed.values())
        truth.malformed_by_kind = dict(sorted(self.malformed.items()))
        truth.late = late
        truth.by_day = {dates[d]: int(n) for d, n in enumerate(cells.sum(axis=(1, 2))) if n}
        truth.by_type = {EVENT_TYPES[t]: int(n) for t, n in enumerate(cells.sum(axis=(0, 2))) if n}
        truth.by_country = {codes[c]: int(n) for c, n in enumerate(cells.sum(axis=(0, 1))) if n}
        truth.by_day_type_country = {
            (dates[d], EVENT_TYPES[t], codes[c]): int(cells[d, t, c])
            for d, t, c in zip(*np.nonzero(cells), strict=True)
        }
        truth.by_schema_version = {str(v): int(n) for v, n in enumerate(self.versions) if n}


# -- public API ------------------------------------------------------------------------------------


def _chunks(cfg: GeneratorConfig, truth: GroundTruth | None = None) -> Iterator[_Chunk]:
    run = _Run(cfg)
    tally = _Tally(run, truth) if truth is not None else None
    pending: dict[int, list[_Late]] = {}
    late = 0
    for k in range(run.chunks):
        with _gc_paused():
            chunk = run.emit(k, run.events(k), pending, tally)
        late += run.late_count(k)
        if tally is not None:
            tally.publish(late)
        yield chunk
    if pending:  # cannot happen: late targets are clipped to the last chunk
        raise AssertionError(f"late messages left behind for chunks {sorted(pending)}")


def generate(cfg: GeneratorConfig) -> Iterator[list[Message]]:
    """Messages in emission order, one list per chunk of ``cfg.chunk_size`` valid events."""
    for chunk in _chunks(cfg):
        with _gc_paused():
            messages = chunk.messages()
        yield messages


def generate_with_truth(cfg: GeneratorConfig) -> tuple[Iterator[list[Message]], GroundTruth]:
    """``generate(cfg)`` and its ground truth, updated after each chunk the iterator yields.

    The truth is complete once the iterator is exhausted; before, it covers the chunks so far.
    """
    truth = GroundTruth()

    def chunks() -> Iterator[list[Message]]:
        for chunk in _chunks(cfg, truth):
            with _gc_paused():
                messages = chunk.messages()
            yield messages

    return chunks(), truth


def ground_truth(cfg: GeneratorConfig) -> GroundTruth:
    """The ground truth of ``cfg`` without rendering a single message (a cheap recount)."""
    run = _Run(cfg)
    truth = GroundTruth()
    tally = _Tally(run, truth)
    late = 0
    for k in range(run.chunks):
        ev = run.events(k)
        tally.add_events(ev, run.users)
        dups = run.duplicate_count(k) if run.budget(k) - run.late_count(k) > 0 else 0
        tally.add_extras(dups, run.malformed_kinds_of(k) if len(ev.time_ms) else [])
        late += run.late_count(k)
    tally.publish(late)
    return truth


def produce(
    cfg: GeneratorConfig,
    bootstrap_servers: str,
    topic: str,
    *,
    producer_config: dict | None = None,
    flush_timeout: float = 120.0,
) -> GroundTruth:
    """Send every generated message to ``topic``; return the ground truth once all are acked.

    Raises ``BrokerError`` (an ``EventlakeError``) when any delivery fails or does not finish
    within ``flush_timeout`` seconds after the last message.
    """
    from confluent_kafka import KafkaError, Producer

    from eventlake.ingest.kafka import produce as produce_with_backpressure
    from eventlake.ingest.kafka import producer_config as shared_config

    errors: Counter[str] = Counter()
    fatal: list[str] = []

    def on_delivery(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            errors[str(error)] += 1

    def on_error(error: KafkaError) -> None:
        log.warning("producer: %s", error)
        if error.fatal():
            fatal.append(str(error))

    config = shared_config(
        bootstrap_servers,
        **{
            "linger.ms": 25,
            "batch.size": 1_000_000,
            "delivery.report.only.error": True,
            "on_delivery": on_delivery,
            "error_cb": on_error,
            "logger": log,
        },
    )
    config.update(producer_config or {})
    producer = Producer(config)
    send = producer.produce
    truth = GroundTruth()
    sent = 0
    started = time.perf_counter()
    for chunk in _chunks(cfg, truth):
        for key, value in zip(chunk.keys, chunk.values, strict=True):
            try:  # the hot path: a bound method, positional arguments
                send(topic, value, key)
            except BufferError:
                produce_with_backpressure(producer, topic, value, key=key)
        producer.poll(0)
        sent += len(chunk.values)
        if fatal:
            break
        log.debug("produced %d messages", sent)
    left = producer.flush(flush_timeout)
    elapsed = time.perf_counter() - started
    if errors or fatal or left:
        detail = "; ".join(
            [f"fatal: {f}" for f in fatal] + [f"{n} x {e}" for e, n in errors.items()]
        )
        raise BrokerError(
            f"expected all {sent} messages delivered to {topic!r} at {bootstrap_servers}, but "
            f"{errors.total()} failed and {left} were still queued {flush_timeout}s after the "
            f"last: {detail or 'no error detail'}"
        )
    log.info(
        "produced %d messages (%d events) to %s in %.1fs: %.0f events/s",
        sent,
        truth.events,
        topic,
        elapsed,
        truth.events / elapsed if elapsed else 0.0,
    )
    return truth


def bench(n: int = 1_000_000, **overrides: object) -> float:
    """Generate ``n`` events as ``Message`` lists and return (and log) valid events per second.

    Run by hand, e.g.
    ``python -c "from eventlake.simulate.generator import bench; print(bench())"``.
    """
    cfg = GeneratorConfig(events=n, start_date=dt.date(2025, 1, 1), **overrides)
    started = time.perf_counter()
    messages = sum(len(chunk) for chunk in generate(cfg))
    elapsed = time.perf_counter() - started
    rate = n / elapsed
    log.info(
        "generated %d events (%d messages) in %.2fs: %.0f events/s", n, messages, elapsed, rate
    )
    return rate
