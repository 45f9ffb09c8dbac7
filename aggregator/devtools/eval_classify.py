"""Evaluate topic and district-mention classification on the labelled set in tests/data/classify.

Usage: ``python -m aggregator.devtools.eval_classify [--split heldout|tune|all]``. Prints
per-topic precision, recall and F1, macro-F1, mention precision and recall, and the confusions.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aggregator.classify import TopicMatcher, compile_topics
from aggregator.config import load_config
from aggregator.gazetteer import Gazetteer, build_gazetteer

DEFAULT_DATA = Path("tests/data/classify/items.jsonl")


@dataclass(frozen=True)
class Item:
    """One labelled story: gold topics and gold mentioned district, settlement and okrug slugs."""

    id: str
    split: str
    title: str
    text: str
    topics: frozenset[str]
    areas: frozenset[str]


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Report:
    """Scores of one evaluation run and the errors behind them."""

    topics: dict[str, Score]
    mentions: Score
    errors: list[str] = field(default_factory=list)
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(gold topic, a topic given wrongly, or "-" for no topic at all) → number of stories."""

    @property
    def macro_f1(self) -> float:
        scored = [s for s in self.topics.values() if s.tp + s.fp + s.fn]
        return sum(s.f1 for s in scored) / len(scored) if scored else 1.0


def parse_items(lines: Sequence[str]) -> list[Item]:
    """Items from JSON Lines text (blank lines skipped)."""
    items = []
    for line in lines:
        if not line.strip():
            continue
        raw = json.loads(line)
        items.append(
            Item(
                raw["id"],
                raw["split"],
                raw["title"],
                raw["text"],
                frozenset(raw["topics"]),
                frozenset(raw["districts"]) | frozenset(raw["okrugs"]),
            )
        )
    return items


def evaluate(
    items: Sequence[Item], matcher: TopicMatcher, gazetteer: Gazetteer, topic_slugs: Sequence[str]
) -> Report:
    """Score predictions against gold labels; pure, so the tests call it directly."""
    counts = {slug: [0, 0, 0] for slug in topic_slugs}
    mention = [0, 0, 0]
    errors: list[str] = []
    confusions: Counter[tuple[str, str]] = Counter()
    for item in items:
        predicted = frozenset(matcher.match(item.title, item.text))
        for labelled in item.topics or {"(none)"}:
            confusions.update((labelled, extra) for extra in predicted - item.topics)
        if not predicted:
            confusions.update((missed, "-") for missed in item.topics)
        for slug, c in counts.items():
            c[0] += slug in predicted and slug in item.topics
            c[1] += slug in predicted and slug not in item.topics
            c[2] += slug not in predicted and slug in item.topics
        areas = frozenset(gazetteer.slugs(item.title, item.text))
        mention[0] += len(areas & item.areas)
        mention[1] += len(areas - item.areas)
        mention[2] += len(item.areas - areas)
        for kind, got, gold in (("topic", predicted, item.topics), ("area", areas, item.areas)):
            if extra := sorted(got - gold):
                errors.append(f"FP {kind} {','.join(extra)}: {item.id} {item.title}")
            if missing := sorted(gold - got):
                errors.append(f"FN {kind} {','.join(missing)}: {item.id} {item.title}")
    return Report({s: Score(*c) for s, c in counts.items()}, Score(*mention), errors, confusions)


def format_report(report: Report) -> str:
    """A plain-text table of the report."""
    lines = [f"{'topic':<14} {'P':>6} {'R':>6} {'F1':>6} {'tp':>4} {'fp':>4} {'fn':>4}"]
    for slug, s in report.topics.items():
        lines.append(
            f"{slug:<14} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} {s.tp:4} {s.fp:4} {s.fn:4}"
        )
    m = report.mentions
    lines += [
        f"macro-F1 {report.macro_f1:.3f}",
        f"mentions P {m.precision:.3f} R {m.recall:.3f} (tp {m.tp} fp {m.fp} fn {m.fn})",
        "",
        "confusions (a story labelled X also got Y; X → - means no topic at all):",
        *(f"  {gold:<14} → {got:<14} {n}" for (gold, got), n in report.confusions.most_common()),
        "",
        *report.errors,
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("heldout", "tune", "all"), default="heldout")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--config", type=Path, default=Path("config"))
    args = parser.parse_args(argv)
    config = load_config(args.config)
    items = parse_items(args.data.read_text(encoding="utf-8").splitlines())
    if args.split != "all":
        items = [i for i in items if i.split == args.split]
    report = evaluate(
        items,
        compile_topics(config.topics),
        build_gazetteer(config),
        [t.slug for t in config.topics],
    )
    print(f"{len(items)} items, split {args.split}")
    print(format_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
