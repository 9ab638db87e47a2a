"""The streaming consumers' memory of recent event ids: retries dropped, memory bounded."""

from __future__ import annotations

import pyarrow as pa

from eventlake.streaming.dedup import RecentIds


def test_an_id_seen_before_in_this_batch_or_an_earlier_one_is_dropped():
    recent = RecentIds(capacity=100)

    assert recent.first_seen(pa.array(["a", "b", "a"])).tolist() == [True, True, False]
    assert recent.first_seen(pa.array(["b", "c"])).tolist() == [False, True]


def test_it_remembers_at_least_half_its_capacity_and_forgets_what_is_older():
    recent = RecentIds(capacity=4)  # generations of two ids
    recent.first_seen(pa.array(["1", "2", "3", "4", "5"]))

    assert recent.first_seen(pa.array(["4", "5"])).tolist() == [False, False]
    assert recent.first_seen(pa.array(["1"])).tolist() == [True]
