"""The labelled evaluation set: its shape, and the clustering quality on the held-out half."""

from __future__ import annotations

import itertools
import json
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from aggregator.devtools.eval_dedupe import DEFAULT_DATA, evaluate, load_items, pairwise

DATA_DIR = DEFAULT_DATA.parent


def _rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in DEFAULT_DATA.read_text(encoding="utf-8").splitlines()]


def test_heldout_precision_and_recall() -> None:
    report = evaluate(load_items(split="heldout"))
    assert report.precision >= 0.97
    assert report.recall >= 0.92


def test_dataset_shape() -> None:
    rows = _rows()
    assert len(rows) >= 300
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(
        set(r) == {"id", "group", "outlet", "title", "lead", "published", "split"} for r in rows
    )
    assert all(r["published"].endswith("+03:00") for r in rows)
    assert {r["split"] for r in rows} == {"tune", "heldout"}


def test_split_is_by_group() -> None:
    halves: dict[str, set[str]] = defaultdict(set)
    for row in _rows():
        halves[row["group"]].add(row["split"])
    assert all(len(split) == 1 for split in halves.values())


def test_groups_have_several_outlets() -> None:
    outlets: dict[str, list[str]] = defaultdict(list)
    for row in _rows():
        outlets[row["group"]].append(row["outlet"])
    assert all(len(names) == len(set(names)) for names in outlets.values())
    assert sum(1 for names in outlets.values() if len(names) >= 2) >= 80
    assert max(len(names) for names in outlets.values()) == 6


def test_dataset_is_reproducible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(DATA_DIR))
    import make_dataset  # type: ignore[import-not-found]

    rows = make_dataset.build(make_dataset.load_stories(Path(DATA_DIR / "stories.yaml")))
    assert rows == _rows()
    sys.modules.pop("make_dataset", None)


def test_arrival_order() -> None:
    items = load_items(split="all")
    assert all(a.published <= b.published for a, b in itertools.pairwise(items))
    spans: dict[str, list[datetime]] = defaultdict(list)
    for item in items:
        spans[item.group].append(item.published)
    assert all(max(t) - min(t) <= timedelta(days=2) for t in spans.values())


@pytest.mark.parametrize(
    ("labels", "groups", "precision", "recall"),
    [
        ([0, 0, 1], ["a", "a", "b"], 1.0, 1.0),
        ([0, 0, 0], ["a", "a", "b"], 1 / 3, 1.0),
        ([0, 1, 2], ["a", "a", "b"], 1.0, 0.0),
        ([0, 1], ["a", "b"], 1.0, 1.0),
        ([0, 0, 1, 1], ["a", "a", "a", "b"], 0.5, 1 / 3),
    ],
)
def test_pairwise(labels: list[int], groups: list[str], precision: float, recall: float) -> None:
    report = pairwise(labels, groups)
    assert report.precision == pytest.approx(precision)
    assert report.recall == pytest.approx(recall)
