"""An in-memory index of LSH band keys: which stories have an item with a key, and when.

Hand-written because no library fits: the lookups are a thousand exact keys at once, filtered by
a time range, over millions of (key, time, story) rows that arrive a feed at a time. Rows are
kept in sorted numpy runs merged like a binary counter (each run at least twice the size of the
next) up to a cap, so adding n rows costs O(n log n) in all and a lookup is a binary search per
run: 16 bytes a row, no per-row Python objects. A bitmap of the keys' low bits answers "in no
run" for most wanted keys before any search (a lookup's keys are mostly new texts' keys).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Keys = npt.NDArray[np.uint64]
TIME_MAX = 2**32 - 1
SHELF_SECONDS = 7 * 24 * 3600
"""Rows are kept apart by week of publication (see BandIndex)."""
RUN_CAP = 1 << 18
"""Rows beyond which runs are no longer merged (4 MB): a merge's temporaries stay that small,
where merging everything into one run briefly holds the whole index twice."""
FILTER_BITS = 1 << 24
"""Bits of the key filter (2 MB): at a million rows 6 % are set, so 94 % of absent keys stop
there; at ten million, 45 %."""


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


class _Shelf:
    """The rows of one week of publication, as runs merged like a binary counter."""

    def __init__(self) -> None:
        self.runs: list[_Run] = []

    def __len__(self) -> int:
        return sum(len(run) for run in self.runs)

    def add(self, run: _Run) -> None:
        self.runs.append(run)
        while len(self.runs) > 1 and _worth_merging(self.runs[-2], self.runs[-1]):
            newer = self.runs.pop()
            self.runs[-1] = _merge(self.runs[-1], newer)

    def find(self, wanted: Keys, low: int, high: int, found: dict[int, set[int]]) -> None:
        """Add to `found` the stories of the rows with these (sorted) keys in [low, high]."""
        for run in self.runs:  # never empty: `add` and `evict` keep only runs with rows
            starts = np.searchsorted(run.keys, wanted, "left")
            # Most wanted keys are in no run: one search finds the few that are, and only
            # those are searched again for where their rows end.
            hit = run.keys[np.minimum(starts, len(run) - 1)] == wanted
            if not hit.any():
                continue
            starts = starts[hit]
            counts = np.searchsorted(run.keys, wanted[hit], "right") - starts
            # Positions of every matching row: each start repeated, plus 0..count-1.
            offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            rows = np.repeat(starts, counts) + offsets
            times = run.times[rows]
            keep = rows[(times >= low) & (times <= high)]
            for key, story in zip(run.keys[keep].tolist(), run.stories[keep].tolist(), strict=True):
                found.setdefault(key, set()).add(story)

    def evict(self, before: int) -> int:
        """Drop the rows published before `before`; return how many went."""
        dropped = 0
        kept: list[_Run] = []
        for run in self.runs:
            keep = run.times >= before
            dropped += len(run) - int(keep.sum())
            if keep.any():
                kept.append(_Run(run.keys[keep], run.times[keep], run.stories[keep]))
        self.runs = kept
        return dropped


class BandIndex:
    """(band key, publication time in epoch seconds, story id) rows, found by key and time.

    Rows are shelved by week of publication, so a lookup searches only the weeks its time
    range covers: its cost follows the window, not how much history the index holds (texts
    that recur, such as a weekly notice, would otherwise match ever more old rows to filter).
    """

    def __init__(self) -> None:
        self._shelves: dict[int, _Shelf] = {}
        self._filter = np.zeros(FILTER_BITS // 8, np.uint8)

    def __len__(self) -> int:
        return sum(len(shelf) for shelf in self._shelves.values())

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
        all_keys = np.concatenate(keys).astype(np.uint64, copy=False)
        self._mark(all_keys)
        all_times = np.repeat(np.array(times, np.uint32), sizes)
        all_stories = np.repeat(np.array(story_ids, np.int32), sizes)
        weeks = all_times // SHELF_SECONDS
        for week in np.unique(weeks).tolist():
            mine = weeks == week
            shelf = self._shelves.setdefault(week, _Shelf())
            shelf.add(_run(all_keys[mine], all_times[mine], all_stories[mine]))

    def stories_by_key(self, keys: Iterable[int], low: int, high: int) -> dict[int, set[int]]:
        """The stories with each of `keys` published within [low, high], by key (keys with
        none are left out)."""
        wanted = np.unique(np.fromiter(keys, np.uint64))
        wanted = wanted[self._may_hold(wanted)]
        low, high = max(low, 0), min(high, TIME_MAX)
        found: dict[int, set[int]] = {}
        for week, shelf in self._shelves.items():
            if low // SHELF_SECONDS <= week <= high // SHELF_SECONDS:
                shelf.find(wanted, low, high, found)
        return found

    def evict(self, before: int) -> int:
        """Drop the rows published before `before`; return how many went."""
        dropped = 0
        for week in list(self._shelves):
            if (week + 1) * SHELF_SECONDS <= before:
                dropped += len(self._shelves.pop(week))
            elif week * SHELF_SECONDS < before:
                dropped += self._shelves[week].evict(before)
        if dropped:
            self._filter[:] = 0
            for shelf in self._shelves.values():
                for run in shelf.runs:
                    self._mark(run.keys)
        return dropped

    def _mark(self, keys: Keys) -> None:
        slots = (keys & np.uint64(FILTER_BITS - 1)).astype(np.intp)
        np.bitwise_or.at(self._filter, slots >> 3, np.left_shift(1, slots & 7).astype(np.uint8))

    def _may_hold(self, keys: Keys) -> npt.NDArray[np.bool_]:
        """False for keys no row has; True for those some row may have."""
        slots = (keys & np.uint64(FILTER_BITS - 1)).astype(np.intp)
        held: npt.NDArray[np.bool_] = (self._filter[slots >> 3] >> (slots & 7)) & 1 != 0
        return held
