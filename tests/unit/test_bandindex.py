"""The in-memory band index: lookups by key and time against a plain reference, eviction."""

from __future__ import annotations

import random

import numpy as np
import pytest

from aggregator import bandindex
from aggregator.bandindex import BandIndex


def reference(
    rows: list[tuple[int, int, int]], keys: set[int], low: int, high: int
) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    for key, time, story in rows:
        if key in keys and low <= time <= high:
            found.setdefault(key, set()).add(story)
    return found


def test_an_empty_index_finds_nothing() -> None:
    index = BandIndex()
    assert index.stories_by_key([1, 2, 3], 0, 10) == {}
    assert len(index) == 0


def test_keys_are_found_within_the_time_range_only() -> None:
    index = BandIndex()
    index.add([5, 9], 100, story_id=1)
    index.add([9], 200, story_id=2)
    assert index.stories_by_key([9, 5, 4], 100, 200) == {9: {1, 2}, 5: {1}}
    assert index.stories_by_key([9], 150, 250) == {9: {2}}
    assert index.stories_by_key([9], 201, 300) == {}
    # Ranges beyond the stored time type are clamped, not an error.
    assert index.stories_by_key([5], -(2**40), 2**40) == {5: {1}}


def test_the_largest_56_bit_keys_survive() -> None:
    index = BandIndex()
    top = 2**56 - 1
    index.add([top, 0], 1, story_id=7)
    assert index.stories_by_key([top, 0], 0, 2) == {top: {7}, 0: {7}}


def test_many_adds_keep_few_runs_and_answer_as_the_reference() -> None:
    rng = random.Random(42)
    index = BandIndex()
    rows: list[tuple[int, int, int]] = []
    for story in range(1, 400):
        keys = [rng.randrange(3_000) for _ in range(rng.randrange(0, 12))]
        time = rng.randrange(1_000)
        index.add(keys, time, story)
        rows.extend((key, time, story) for key in keys)
    assert len(index) == len(rows)
    runs = [run for shelf in index._shelves.values() for run in shelf.runs]
    assert len(runs) <= 12  # a binary counter: logarithmic in the number of adds
    for _ in range(50):
        keys = {rng.randrange(3_200) for _ in range(rng.randrange(1, 60))}
        low = rng.randrange(1_000)
        high = low + rng.randrange(400)
        assert index.stories_by_key(keys, low, high) == reference(rows, keys, low, high)


def test_add_many_takes_numpy_key_arrays() -> None:
    index = BandIndex()
    index.add_many([np.array([3, 1], np.uint64), np.array([], np.uint64)], [10, 20], [1, 2])
    index.add_many([np.array([1], np.uint64)], [30], [3])
    assert index.stories_by_key([1, 3], 0, 100) == {1: {1, 3}, 3: {1}}


def test_evict_drops_old_rows_and_keeps_the_rest_searchable() -> None:
    rng = random.Random(7)
    index = BandIndex()
    rows: list[tuple[int, int, int]] = []
    for story in range(1, 100):
        keys = [rng.randrange(500) for _ in range(5)]
        time = rng.randrange(1_000)
        index.add(keys, time, story)
        rows.extend((key, time, story) for key in keys)
    kept = [row for row in rows if row[1] >= 600]
    assert index.evict(600) == len(rows) - len(kept)
    assert len(index) == len(kept)
    everything = set(range(500))
    assert index.stories_by_key(everything, 0, 1_000) == reference(kept, everything, 0, 1_000)
    index.add([1], 999, story_id=500)
    assert 500 in index.stories_by_key([1], 0, 1_000)[1]
    assert index.evict(10_000) == len(kept) + 1
    assert index.stories_by_key(everything, 0, 10_000) == {}


def test_runs_stop_merging_at_the_cap_and_still_answer_as_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bandindex, "RUN_CAP", 64)
    rng = random.Random(3)
    index = BandIndex()
    rows: list[tuple[int, int, int]] = []
    for story in range(1, 200):
        keys = [rng.randrange(1_000) for _ in range(10)]
        index.add(keys, story, story)
        rows.extend((key, story, story) for key in keys)
    assert max(len(run) for shelf in index._shelves.values() for run in shelf.runs) <= 64
    keys = set(range(1_000))
    assert index.stories_by_key(keys, 50, 150) == reference(rows, keys, 50, 150)


def test_rows_far_apart_in_time_are_shelved_apart_and_found_by_their_range() -> None:
    week = bandindex.SHELF_SECONDS
    index = BandIndex()
    rows: list[tuple[int, int, int]] = []
    for story in range(1, 60):
        time = story * week // 3  # about three items a week over twenty weeks
        index.add([7, story], time, story)
        rows.extend([(7, time, story), (story, time, story)])
    assert len(index._shelves) == 20
    for low, high in ((0, week), (5 * week - 1, 6 * week + 1), (3 * week, 3 * week)):
        assert index.stories_by_key({7, 12}, low, high) == reference(rows, {7, 12}, low, high)
    assert index.evict(10 * week + 5) == sum(2 for _, time, _ in rows[::2] if time < 10 * week + 5)
    assert min(index._shelves) == 10


def test_keys_sharing_their_filter_bits_are_told_apart() -> None:
    index = BandIndex()
    step = bandindex.FILTER_BITS
    index.add([7, 7 + step], 100, story_id=1)
    index.add([7 + 3 * step], 100, story_id=2)
    # 7 + 2 * step passes the filter (its bits are set) and is then found in no run
    assert index.stories_by_key([7, 7 + 2 * step, 7 + 3 * step, 8], 0, 200) == {
        7: {1},
        7 + 3 * step: {2},
    }


def test_after_an_eviction_the_filter_holds_the_kept_keys_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bandindex, "FILTER_BITS", 64)  # small enough to inspect
    index = BandIndex()
    index.add([1, 2], 100, story_id=1)
    index.add([3], 10**6, story_id=2)
    assert index.evict(1000) == 2
    assert index.stories_by_key([1, 2, 3], 0, 2 * 10**6) == {3: {2}}
    assert index._may_hold(np.array([1, 2, 3], np.uint64)).tolist() == [False, False, True]
    index.add([1], 2 * 10**6, story_id=3)
    assert index.stories_by_key([1, 3], 0, 3 * 10**6) == {1: {3}, 3: {2}}


def test_random_lookups_through_the_filter_answer_as_the_reference() -> None:
    rng = random.Random(29)
    index = BandIndex()
    rows: list[tuple[int, int, int]] = []
    for story in range(300):
        time = rng.randrange(10**6)
        keys = {rng.randrange(2**56) for _ in range(5)} | {rng.randrange(50)}
        index.add(keys, time, story)
        rows.extend((key, time, story) for key in keys)
    stored = [key for key, _, _ in rows]
    for _ in range(50):
        wanted = set(rng.sample(stored, 20)) | {rng.randrange(2**56) for _ in range(200)}
        low = rng.randrange(10**6)
        high = low + rng.randrange(10**6)
        assert index.stories_by_key(wanted, low, high) == reference(rows, wanted, low, high)
