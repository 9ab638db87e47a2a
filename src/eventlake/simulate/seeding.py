"""Seeded numbers: every random draw of a run comes from a generator seeded by (seed, path), so
the same configuration always gives the same bytes.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijection of uint64, so distinct inputs stay distinct."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def hex16(x: np.ndarray) -> list[str]:
    text = x.astype(">u8").tobytes().hex()
    return [text[i : i + 16] for i in range(0, len(text), 16)]


def part_of(total: int, parts: int, k: int) -> int:
    """Part ``k`` of ``total`` cut into ``parts`` near-equal whole parts."""
    return (k + 1) * total // parts - k * total // parts


def seeded_rng(seed: int, *path: int) -> np.random.Generator:
    return np.random.default_rng([seed, *path])


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
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
