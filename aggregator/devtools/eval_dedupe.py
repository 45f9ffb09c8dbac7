"""Evaluate near-duplicate clustering on the labelled set in tests/data/dedupe.

`python -m aggregator.devtools.eval_dedupe [--split heldout|tune|all]` prints pairwise precision,
recall and F1 and lists the confusions; `--tune` searches thresholds on the tune half only.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from aggregator.similarity import ItemText, Thresholds, cluster

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "dedupe" / "items.jsonl"
SPLITS = ("heldout", "tune", "all")


@dataclass(frozen=True)
class LabelledItem:
    """One evaluation item with its story label."""

    id: str
    group: str
    outlet: str
    title: str
    lead: str
    published: datetime
    split: str

    def text(self) -> ItemText:
        return ItemText(self.title, self.lead, self.published)


@dataclass(frozen=True)
class Report:
    """Pairwise scores of one clustering and the pairs it got wrong (as index pairs)."""

    precision: float
    recall: float
    f1: float
    false_merges: tuple[tuple[int, int], ...]
    missed: tuple[tuple[int, int], ...]


def load_items(path: Path = DEFAULT_DATA, split: str = "all") -> list[LabelledItem]:
    """Items of one split (or all), in arrival order (publication time, then id)."""
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        raw["published"] = datetime.fromisoformat(raw["published"])
        item = LabelledItem(**raw)
        if split in ("all", item.split):
            items.append(item)
    return sorted(items, key=lambda i: (i.published, i.id))


def pairwise(labels: Sequence[int], groups: Sequence[str]) -> Report:
    """Pairwise precision and recall: same predicted story versus same labelled group."""
    true_pos = 0
    false_merges: list[tuple[int, int]] = []
    missed: list[tuple[int, int]] = []
    for i, j in itertools.combinations(range(len(labels)), 2):
        predicted, actual = labels[i] == labels[j], groups[i] == groups[j]
        if predicted and actual:
            true_pos += 1
        elif predicted:
            false_merges.append((i, j))
        elif actual:
            missed.append((i, j))
    precision = true_pos / (true_pos + len(false_merges)) if true_pos + len(false_merges) else 1.0
    recall = true_pos / (true_pos + len(missed)) if true_pos + len(missed) else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Report(precision, recall, f1, tuple(false_merges), tuple(missed))


def evaluate(items: Sequence[LabelledItem], thresholds: Thresholds | None = None) -> Report:
    """Cluster `items` in arrival order and score the result."""
    labels = cluster([item.text() for item in items], thresholds)
    return pairwise(labels, [item.group for item in items])


def grid(base: Thresholds) -> Iterable[Thresholds]:
    """The threshold combinations `--tune` tries."""
    for score, containment, title_weight in itertools.product(
        (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6),
        (0.2, 0.3, 0.4, 0.5, 0.6),
        (0.0, 0.1, 0.2, 0.3),
    ):
        yield replace(base, min_score=score, min_containment=containment, title_weight=title_weight)


def tune(items: Sequence[LabelledItem]) -> tuple[Thresholds, Report]:
    """The grid point with the best F1 on `items`, scored with the time window switched off.

    Without the window, hard negatives weeks apart (two holiday parking notices) still count, so
    the thresholds separate stories by text alone. Ties go to precision, then to the stricter
    containment and score, then to the lighter title weight (outlets rewrite titles freely).
    """
    no_window = Thresholds(window=timedelta(days=36500))
    scored = [(evaluate(items, t), t) for t in grid(no_window)]
    report, best = max(
        scored,
        key=lambda rt: (
            round(rt[0].f1, 4),
            rt[0].precision,
            rt[1].min_containment,
            rt[1].min_score,
            -rt[1].title_weight,
        ),
    )
    return replace(best, window=Thresholds().window), report


def _describe(items: Sequence[LabelledItem], pairs: Iterable[tuple[int, int]]) -> list[str]:
    lines = []
    for i, j in pairs:
        a, b = items[i], items[j]
        lines.append(f"  {a.id} [{a.group}] {a.title}")
        lines.append(f"  {b.id} [{b.group}] {b.title}")
        lines.append("")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", choices=SPLITS, default="heldout")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--tune", action="store_true", help="grid-search on the tune half")
    args = parser.parse_args(argv)
    if args.tune:
        best, tuned = tune(load_items(args.data, "tune"))
        print(f"best on tune: {best}")
        print(f"tune: precision {tuned.precision:.4f} recall {tuned.recall:.4f} f1 {tuned.f1:.4f}")
        return 0
    items = load_items(args.data, args.split)
    report = evaluate(items)
    groups = len({item.group for item in items})
    print(f"split {args.split}: {len(items)} items, {groups} groups")
    print(f"precision {report.precision:.4f}  recall {report.recall:.4f}  f1 {report.f1:.4f}")
    print(f"\nmerged pairs that should not be ({len(report.false_merges)}):")
    print("\n".join(_describe(items, report.false_merges)))
    print(f"missed pairs ({len(report.missed)}):")
    print("\n".join(_describe(items, report.missed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
