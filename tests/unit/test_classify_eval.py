"""The classification targets on the held-out half of the labelled set in tests/data/classify."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.classify import compile_topics
from aggregator.config import load_config
from aggregator.devtools.eval_classify import Item, Report, evaluate, parse_items
from aggregator.gazetteer import build_gazetteer

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "classify" / "items.jsonl"


@pytest.fixture(scope="module")
def items() -> list[Item]:
    return parse_items(DATA.read_text(encoding="utf-8").splitlines())


@pytest.fixture(scope="module")
def heldout(items: list[Item]) -> Report:
    config = load_config(ROOT / "config")
    return evaluate(
        [i for i in items if i.split == "heldout"],
        compile_topics(config.topics),
        build_gazetteer(config),
        [t.slug for t in config.topics],
    )


def test_the_set_is_large_and_split_in_halves(items: list[Item]) -> None:
    assert len(items) >= 300
    assert len({i.id for i in items}) == len(items)
    tune = sum(i.split == "tune" for i in items)
    assert {i.split for i in items} == {"tune", "heldout"}
    assert abs(2 * tune - len(items)) <= 1


def test_labels_use_configured_slugs(items: list[Item]) -> None:
    config = load_config(ROOT / "config")
    topics = {t.slug for t in config.topics}
    areas = {d.slug for d in config.districts} | {o.slug for o in config.okrugs}
    assert all(i.topics <= topics for i in items)
    assert all(i.areas <= areas for i in items)


def test_topic_macro_f1(heldout: Report) -> None:
    assert heldout.macro_f1 >= 0.85


def test_mention_precision(heldout: Report) -> None:
    assert heldout.mentions.precision >= 0.95


def test_mention_recall(heldout: Report) -> None:
    assert heldout.mentions.recall >= 0.85
