"""The explain report and the pure re-tagging of a story from its items' texts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.classify import TopicMatcher, compile_topics
from aggregator.config import load_config
from aggregator.domain import AreaTag, Config, ItemText, Retag, Story
from aggregator.explain import explain_story
from aggregator.gazetteer import Gazetteer, build_gazetteer
from aggregator.reclassify import retag

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def setup() -> tuple[Config, TopicMatcher, Gazetteer]:
    config = load_config(ROOT / "config")
    return config, compile_topics(config.topics), build_gazetteer(config)


def story(topics: tuple[str, ...]) -> Story:
    return Story(7, "k", "Т", None, "", "", NOW, NOW, (), (), topics)


CITY_ITEM = ItemText(
    11,
    7,
    "Городская лента",
    "Жителей Кузьминок позвали на слушания о новой школе",
    "Слушания пройдут в управе.",
    ("Образование",),
)
PAPER_ITEM = ItemText(
    12, 7, "Марьинский вестник", "Школа откроется в сентябре", "", (), district="marino"
)


def test_retag_is_the_union_over_items(setup: tuple[Config, TopicMatcher, Gazetteer]) -> None:
    _, matcher, gazetteer = setup
    assert retag(7, [CITY_ITEM, PAPER_ITEM], matcher, gazetteer) == Retag(
        7, ("education",), ("kuzminki", "uvao")
    )
    assert retag(7, [], matcher, gazetteer) == Retag(7, (), ())


def test_report_names_mentions_sources_and_keywords(
    setup: tuple[Config, TopicMatcher, Gazetteer],
) -> None:
    config, matcher, gazetteer = setup
    tags = [AreaTag("marino", "source"), AreaTag("uvao", "source"), AreaTag("kuzminki", "mention")]
    report = explain_story(
        story(("education",)), [CITY_ITEM, PAPER_ITEM], tags, config, matcher, gazetteer
    )
    lines = report.splitlines()
    assert "  lead 11 from Городская лента (city)" in lines
    assert "  kuzminki (Кузьминки) via mention" in lines
    assert "    item 11 title: «Кузьминок» (rule plain)" in lines
    assert "  marino (Марьино) via source" in lines
    assert "    outlet Марьинский вестник (marino)" in lines
    assert "    okrug of the mentioned Кузьминки" in lines
    education = next(line for line in lines if line.startswith("    item 11: keywords"))
    assert "«школа»" in education and "feed categories «образование»" in education
    assert (
        "(government not given: keywords/phrases/patterns «управа» (score 1); below the bar)"
        in report
    )


def test_report_flags_tags_the_config_no_longer_gives(
    setup: tuple[Config, TopicMatcher, Gazetteer],
) -> None:
    config, matcher, gazetteer = setup
    report = explain_story(story(("sport",)), [CITY_ITEM], [], config, matcher, gazetteer)
    assert "  sport  [stored, but the current config no longer gives it" in report
    assert "  education  [not stored yet: run aggregator reclassify]" in report
    assert "  kuzminki (Кузьминки)  [not stored yet: run reclassify]" in report
