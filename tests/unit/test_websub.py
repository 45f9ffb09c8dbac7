"""Which outputs a changed story touches: its districts and their okrugs, topics, pairs of
the two, the whole city, and the named outputs whose filters it passes."""

from __future__ import annotations

from aggregator.domain import (
    Config,
    NamedOutput,
    ServiceSettings,
    Topic,
)
from aggregator.websub import changed_paths, topic_urls
from tests.sample_moscow import SVAO, UVAO, UVAO_SVAO_DISTRICTS

CONFIG = Config(
    okrugs=(UVAO, SVAO),
    districts=UVAO_SVAO_DISTRICTS,
    sources=(),
    topics=(Topic("transport", "Транспорт", ("метро",)), Topic("sport", "Спорт", ("турнир",))),
    service=ServiceSettings(public_url="https://feeds.example/"),
    outputs=(
        NamedOutput("uvao-sport", "ЮВАО: спорт", "", areas=("uvao",), topics=("sport",)),
        NamedOutput("svao", "СВАО", "", areas=("svao",)),
        NamedOutput("metro", "Метро", "", query="метро"),
    ),
)


def test_a_district_story_touches_its_okrug_topic_and_pairs() -> None:
    paths = changed_paths(CONFIG, [(frozenset({"kuzminki"}), frozenset({"transport"}))])
    assert paths == sorted(
        [
            "/feeds/all",
            "/feeds/district/kuzminki",
            "/feeds/district/uvao",
            "/feeds/topic/transport",
            "/feeds/district/kuzminki/topic/transport",
            "/feeds/district/uvao/topic/transport",
            "/feeds/metro",
        ]
    )


def test_named_outputs_follow_their_filters() -> None:
    sport = changed_paths(CONFIG, [(frozenset({"marino", "uvao"}), frozenset({"sport"}))])
    assert "/feeds/uvao-sport" in sport and "/feeds/svao" not in sport
    north = changed_paths(CONFIG, [(frozenset({"bibirevo"}), frozenset())])
    assert "/feeds/svao" in north and "/feeds/uvao-sport" not in north


def test_unknown_tags_and_city_stories() -> None:
    assert changed_paths(CONFIG, [(frozenset({"atlantida"}), frozenset({"weather"}))]) == [
        "/feeds/all",
        "/feeds/metro",
    ]
    assert changed_paths(CONFIG, []) == []


def test_topic_urls_cover_every_format() -> None:
    urls = topic_urls(CONFIG, [(frozenset(), frozenset())])
    assert "https://feeds.example/feeds/all.atom" in urls
    assert "https://feeds.example/feeds/all.rss" in urls
    assert "https://feeds.example/feeds/all.json" in urls
