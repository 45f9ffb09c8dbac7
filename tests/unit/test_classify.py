"""Unit tests for topic matching: stems, phrases, exact forms, weights, explain and tags."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from aggregator.classify import (
    StoryTags,
    TopicMatcher,
    TopicRule,
    compile_topics,
    explain_topics,
    story_tags,
    story_topics,
)
from aggregator.domain import Config, District, Entry, Okrug, Topic
from aggregator.gazetteer import build_gazetteer

TOPICS = (
    Topic("transport", "Транспорт", ("метро", "станция метро", "электробус", "МЦД", "остановка")),
    Topic("education", "Образование", ("школа", "детский сад", "ЕГЭ", "учитель")),
    Topic("housing", "ЖКХ", ("ЖКХ", "отключение горячей воды", "Жилищник", "лифт")),
    Topic("construction", "Строительство", ("пятиэтажка", "новостройка", "ввод в эксплуатацию")),
    Topic("economy", "Экономика", ("млрд рублей", "бюджет")),
    Topic("sport", "Спорт", ("каток", "турнир")),
    Topic("svo", "СВО", ("СВО", "боец")),
)


@pytest.fixture(scope="module")
def matcher() -> TopicMatcher:
    return compile_topics(TOPICS)


MATCHES = [
    # inflected forms of one keyword
    ("Электробус вышел на линию", "", ("transport",)),
    ("Новые электробусы", "", ("transport",)),
    ("Шесть электробусов", "", ("transport",)),
    ("Парк электробусами пополнили", "", ("transport",)),
    # multi-word keywords match as consecutive stem phrases
    ("Открыли детский сад", "", ("education",)),
    ("Три детских сада", "", ("education",)),
    ("Нехватка детских садов", "", ("education",)),
    ("Детский праздник в саду", "", ()),
    ("Отключение горячей воды", "", ("housing",)),
    ("Дом сдали", "Ввод в эксплуатацию намечен на весну.", ("construction",)),
    ("Выделили 5 млрд рублей", "", ("economy",)),
    # fleeting vowels
    ("Снос пятиэтажек", "", ("construction",)),
    ("Сезон катков открыт", "", ("sport",)),
    ("Письма бойцам", "", ("svo",)),
    # abbreviations match exactly, any case of the text, hyphenated or not
    ("Поезда МЦД-2", "", ("transport",)),
    ("На МЦД 4 новые станции", "", ("transport",)),
    ("Сдать ЕГЭ", "", ("education",)),
    ("Тарифы ЖКХ", "", ("housing",)),
    ("Помощь участникам СВО", "", ("svo",)),
    # indeclinable «метро» never matches «метров»
    ("Новая станция метро", "", ("transport",)),
    ("Дом высотой 90 метров", "", ()),
    # ё and е are the same letter
    ("Учителя школ", "", ("education",)),
    # several topics at once
    ("Школа и каток", "", ("education", "sport")),
    # nothing matched
    ("", "", ()),
    ("Погода на выходные", "Ожидается мокрый снег.", ()),
]


@pytest.mark.parametrize(("title", "text", "expected"), MATCHES)
def test_match(matcher: TopicMatcher, title: str, text: str, expected: tuple[str, ...]) -> None:
    assert matcher.match(title, text) == expected


def test_one_body_keyword_is_enough_when_nothing_else_matches(matcher: TopicMatcher) -> None:
    assert matcher.match("Новости района", "Открылась школа.") == ("education",)


def test_title_outweighs_a_single_body_keyword(matcher: TopicMatcher) -> None:
    assert matcher.match("Новый каток", "Каток у школы.") == ("sport",)


def test_two_distinct_body_keywords_count_like_a_title(matcher: TopicMatcher) -> None:
    found = matcher.match("Новый каток", "Каток строят у школы, где работает учитель.")
    assert found == ("education", "sport")


def test_repeating_one_keyword_does_not_add_up(matcher: TopicMatcher) -> None:
    found = matcher.match("Новый каток", "Школа, школа и ещё раз школа.")
    assert found == ("sport",)


@pytest.mark.parametrize(
    ("categories", "expected"),
    [
        (("Транспорт",), ("transport",)),
        (("транспорт ",), ("transport",)),
        (("education",), ("education",)),
        (("Культура",), ()),
    ],
)
def test_feed_categories_map_to_topics(
    matcher: TopicMatcher, categories: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    assert matcher.match("Погода", "", categories) == expected


def test_explain_lists_matched_keywords_per_topic(matcher: TopicMatcher) -> None:
    explained = matcher.explain("Электробусы и МЦД", "Детских садов мало, школа одна.")
    assert explained == {
        "transport": ["МЦД", "электробус"],
        "education": ["детский сад", "школа"],
    }


def test_explain_is_empty_without_matches(matcher: TopicMatcher) -> None:
    assert matcher.explain("Погода", "Солнечно") == {}


def test_wrappers_agree_with_the_matcher(matcher: TopicMatcher) -> None:
    title, text = "Школа у станции метро", "Рядом остановка электробуса."
    assert story_topics(title, text, TOPICS) == matcher.match(title, text)
    assert explain_topics(title, text, TOPICS) == matcher.explain(title, text)


def test_empty_and_punctuation_keywords_are_ignored() -> None:
    matcher = compile_topics([Topic("x", "X", ("", "—", "школа"))])
    assert matcher.match("Школа", "") == ("x",)
    assert len(matcher.rules[0].keywords) == 1


def test_rules_keep_config_order() -> None:
    matcher = compile_topics(reversed(TOPICS))
    assert matcher.match("Школа и каток", "") == ("sport", "education")


def test_story_tags_from_an_entry() -> None:
    config = Config(
        okrugs=(
            Okrug(
                "uvao", "Юго-Восточный административный округ", "ЮВАО", "Юго-Восточный", ("marino",)
            ),
        ),
        districts=(District("marino", "Марьино", "uvao"),),
        sources=(),
        topics=TOPICS,
    )
    now = datetime(2025, 1, 1, tzinfo=UTC)
    entry = Entry(
        key="k",
        guid=None,
        link=None,
        title="В Марьине открыли школу",
        summary="Рядом остановка электробуса.",
        content_html="",
        published=now,
        updated=now,
        author=None,
        categories=("ЖКХ",),
        fingerprint="f",
        content_hash="h",
    )
    tags = story_tags(entry, build_gazetteer(config), compile_topics(config.topics))
    assert tags == StoryTags(areas=("marino", "uvao"), topics=("transport", "education", "housing"))


def _rule(slug: str, **extra: object) -> TopicRule:
    base = compile_topics([Topic(slug, slug, ("школа",))]).rules[0]
    return replace(base, **extra)  # type: ignore[arg-type]


def test_rule_patterns_search_the_normalized_text() -> None:
    matcher = TopicMatcher([_rule("x", patterns=(re.compile(r"\bмцд-\d\b"),))])
    assert matcher.match("Запуск МЦД-5", "") == ("x",)
    assert matcher.explain("Запуск МЦД-5", "") == {"x": [r"\bмцд-\d\b"]}
    assert matcher.match("Запуск МЦД", "") == ()


def test_rule_exclusions_veto_the_topic() -> None:
    exclude = compile_topics([Topic("y", "y", ("школа танцев",))]).rules[0].keywords
    matcher = TopicMatcher([_rule("x", exclude=exclude)])
    assert matcher.match("Школа открылась", "") == ("x",)
    assert matcher.match("Школа танцев открылась", "") == ()
