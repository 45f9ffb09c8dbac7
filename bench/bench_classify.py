"""Classification throughput on one core: items/s of topics + mentions next to tokenizing alone.

Usage: ``python bench/bench_classify.py [--items 20000] [--repeat 5]``. Runs over the labelled
evaluation items, repeated to the requested count; prints the median of the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from aggregator.classify import compile_topics
from aggregator.config import load_config
from aggregator.devtools.eval_classify import parse_items
from aggregator.gazetteer import build_gazetteer
from aggregator.textnorm import tokens

ROOT = Path(__file__).resolve().parents[1]
TARGET = 2_000.0


def _rate(
    work: Callable[[str, str], object], items: Sequence[tuple[str, str]], repeat: int
) -> float:
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        for title, text in items:
            work(title, text)
        rates.append(len(items) / (time.perf_counter() - start))
    return statistics.median(rates)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    config = load_config(ROOT / "config")
    data = (ROOT / "tests/data/classify/items.jsonl").read_text(encoding="utf-8").splitlines()
    base = [(i.title, i.text) for i in parse_items(data)]
    items = (base * (args.items // len(base) + 1))[: args.items]
    matcher = compile_topics(config.topics)
    gazetteer = build_gazetteer(config)

    def tokenize(title: str, text: str) -> object:
        return tokens(title), tokens(text)

    def classify(title: str, text: str) -> object:
        return matcher.match(title, text), gazetteer.mentions(title, text)

    classify(*items[0])  # warm the stem caches the way a running service has them
    rows = [
        ("tokenize only", _rate(tokenize, items, args.repeat)),
        ("topics", _rate(lambda a, b: matcher.match(a, b), items, args.repeat)),
        ("mentions", _rate(gazetteer.mentions, items, args.repeat)),
        ("topics + mentions", _rate(classify, items, args.repeat)),
    ]
    baseline = rows[0][1]
    print(f"{len(items)} items, median of {args.repeat} runs, one core")
    print(f"{'step':<20} {'items/s':>12} {'vs tokenize':>12}")
    for name, rate in rows:
        print(f"{name:<20} {rate:12,.0f} {rate / baseline:12.2f}")
    total = rows[-1][1]
    print(f"target {TARGET:,.0f} items/s: {'met' if total >= TARGET else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
