"""What to generate: the generator's configuration."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from eventlake.exceptions import ConfigError
from eventlake.simulate.malformed import MALFORMED_KINDS


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
