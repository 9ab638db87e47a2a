"""Producer-retry duplicates: the same event_id again, shortly after the original.

The lake drops them in dbt staging (dedup on event_id); a streaming store folds counts as
events arrive, so it must drop them before folding. Retries follow their original within
seconds (the generator's within a minute), so a consumer remembers the ids of its last
`capacity` events and no more: two generations of hashed ids, the older dropped when the newer
fills up, which bounds memory (about 100 bytes an id) and keeps at least capacity/2 ids.

What it does not catch: a duplicate further behind than that, or one whose original was folded
before the consumer restarted (the memory is per process). Those are counted twice in the
streaming windows until the next batch load of dim_user_features corrects the long windows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

DEFAULT_CAPACITY = 2_000_000


class RecentIds:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.generation_size = max(capacity // 2, 1)
        self._current: set[int] = set()
        self._previous: set[int] = set()

    def first_seen(self, event_ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """A mask over event_ids: True where the id was not seen before (in this batch too)."""
        keep = np.ones(len(event_ids), dtype=bool)
        current, previous = self._current, self._previous
        for position, event_id in enumerate(event_ids.to_pylist()):
            hashed = hash(event_id)
            if hashed in current or hashed in previous:
                keep[position] = False
                continue
            current.add(hashed)
            if len(current) >= self.generation_size:
                self._previous, self._current = current, set()
                current, previous = self._current, self._previous
        return keep
