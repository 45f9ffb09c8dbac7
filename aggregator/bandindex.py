"""An in-memory index of LSH band keys: which stories have an item with a key, and when.

Hand-written because no library fits: the lookups are a thousand exact keys at once, filtered by
a time range, over millions of (key, time, story) rows that arrive a feed at a time. Rows are
kept in sorted numpy runs merged like a binary counter (each run at least twice the size of the
next) up to a cap, so adding n rows costs O(n log n) in all and a lookup is a binary search per
run: 16 bytes a row, no per-row Python objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Keys = npt.NDArray[np.uint64]
TIME_MAX = 2**32 - 1
RUN_CAP = 1 << 18
"""Rows beyond which runs are no longer merged (4 MB): a merge's temporaries stay that small,
where merging everything into one run briefly holds the whole index twice."""


@dataclass(frozen=True)
class _Run:
    keys: Keys
    times: npt.NDArray[np.uint32]
    stories: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.keys)


def _run(keys: Keys, times: npt.NDArray[np.uint32], stories: npt.NDArray[np.int32]) -> _Run:
    order = np.argsort(keys, kind="stable")
    return _Run(keys[order], times[order], stories[order])


def _merge(older: _Run, newer: _Run) -> _Run:
    """Both runs' rows in key order: `newer` inserted into `older` where its keys fall, so the
    only temporary beyond the result is an index of `newer`'s size (an argsort of both would
    hold twice the rows more)."""
    at = np.searchsorted(older.keys, newer.keys, "right")
    return _Run(
        np.insert(older.keys, at, newer.keys),
        np.insert(older.times, at, newer.times),
        np.insert(older.stories, at, newer.stories),
    )


def _worth_merging(older: _Run, newer: _Run) -> bool:
    return len(older) <= 2 * len(newer) and len(older) + len(newer) <= RUN_CAP


class BandIndex:
    """(band key, publication time in epoch seconds, story id) rows, found by key and time."""

    def __init__(self) -> None:
        self._runs: list[_Run] = []

    def __len__(self) -> int:
        return sum(len(run) for run in self._runs)

    def add(self, keys: Iterable[int], time: int, story_id: int) -> None:
        """Add one item's band keys, published at `time`, under its story."""
        self.add_many([np.fromiter(keys, np.uint64)], [time], [story_id])

    def add_many(
        self, keys: Sequence[Keys], times: Sequence[int], story_ids: Sequence[int]
    ) -> None:
        """Add several items at once: each one's band keys, time and story id."""
        sizes = [len(k) for k in keys]
        if not sum(sizes):
            return
        self._runs.append(
            _run(
                np.concatenate(keys).astype(np.uint64, copy=False),
                np.repeat(np.array(times, np.uint32), sizes),
                np.repeat(np.array(story_ids, np.int32), sizes),
            )
        )
        while len(self._runs) > 1 and _worth_merging(self._runs[-2], self._runs[-1]):
            newer = self._runs.pop()
            self._runs[-1] = _merge(self._runs[-1], newer)

    def stories_by_key(self, keys: Iterable[int], low: int, high: int) -> dict[int, set[int]]:
        """The stories with each of `keys` published within [low, high], by key (keys with
        none are left out)."""
        wanted = np.unique(np.fromiter(keys, np.uint64))
        found: dict[int, set[int]] = {}
        for run in self._runs:
            starts = np.searchsorted(run.keys, wanted, "left")
            ends = np.searchsorted(run.keys, wanted, "right")
            counts = ends - starts
            if not counts.any():
                continue
            # Positions of every matching row: each start repeated, plus 0..count-1.
            offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            rows = np.repeat(starts, counts) + offsets
            times = run.times[rows]
            keep = rows[(times >= max(low, 0)) & (times <= min(high, TIME_MAX))]
            for key, story in zip(run.keys[keep].tolist(), run.stories[keep].tolist(), strict=True):
                found.setdefault(key, set()).add(story)
        return found

    def evict(self, before: int) -> int:
        """Drop the rows published before `before`; return how many went."""
        dropped = 0
        kept: list[_Run] = []
        for run in self._runs:
            keep = run.times >= before
            dropped += len(run) - int(keep.sum())
            if keep.any():
                kept.append(_Run(run.keys[keep], run.times[keep], run.stories[keep]))
        self._runs = kept
        return dropped
