"""The ground truth: exact counts over the valid unique events a correct pipeline lands."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from eventlake.simulate.vocabulary import (
    COUNTRIES,
    DAY_MS,
    EVENT_TYPES,
)

if TYPE_CHECKING:
    from eventlake.simulate.sessions import Events, Run, Users


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


class Tally:
    """Exact counts accumulated chunk by chunk, written into a ``GroundTruth``."""

    def __init__(self, run: Run, truth: GroundTruth) -> None:
        self.run = run
        self.truth = truth
        self.days = run.clock.days
        self.cells = np.zeros(self.days * len(EVENT_TYPES) * len(COUNTRIES), dtype=np.int64)
        self.versions = np.zeros(3, dtype=np.int64)
        self.duplicates = 0
        self.malformed: dict[str, int] = {}
        self.events = 0
        self.late = 0

    def add_events(self, ev: Events, users: Users) -> None:
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
