"""What a streaming consumer needs from its store, whatever the backend.

A store keeps its Kafka offsets INSIDE its own state: apply() and erase() fold a batch and
advance the offsets in ONE transaction (SQLite) or ONE MULTI/EXEC (Redis). A consumer that
restarts resumes from offsets() and so never loses nor double-counts a message, however it
stopped. Offsets are "next offset to read", keyed by (topic, partition).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

import pyarrow as pa

Offsets = Mapping[tuple[str, int], int]
"""(topic, partition) -> the next offset to read."""


class StreamStore(Protocol):
    name: str
    """The store's name in the erasure plane's confirmations: "online" or "fraud"."""

    def offsets(self) -> dict[tuple[str, int], int]:
        """Every (topic, partition) -> next offset this store has folded in."""

    def apply(self, events: pa.Table, offsets: Offsets) -> None:
        """Fold a batch of events (streaming.events.SCHEMA) and advance the offsets, atomically.

        `events` holds only valid, unsuppressed events; it may be empty (offsets still move).
        """

    def erase(self, subjects: Mapping[str, str], offsets: Offsets, now: datetime) -> dict[str, int]:
        """Delete every listed subject (user_id -> subject hash), remember their hashes as
        suppressed, and advance the offsets, atomically. Returns user_id -> rows (or keys)
        deleted. Idempotent: erasing an absent subject deletes 0 and still records its hash."""

    def suppressed(self) -> frozenset[str]:
        """Subject hashes erased from this store (their events are never folded in again)."""

    def close(self) -> None: ...
