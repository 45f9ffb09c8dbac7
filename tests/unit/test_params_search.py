"""Query parameters, cursors and full-text words: parsing, canonical forms and errors."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest

from aggregator.domain import Config, District, Okrug, Story, Topic
from aggregator.search import query_words, story_terms
from aggregator.web.params import (
    MAX_LIMIT,
    BadRequest,
    cursor,
    format_cursor,
    parse_cursor,
    parse_params,
    parse_since,
)

CONFIG = Config(
    okrugs=(Okrug("uvao", "Юго-Восточный", "ЮВАО", "ЮВ", ("kuzminki", "marino")),),
    districts=(District("kuzminki", "Кузьминки", "uvao"), District("marino", "Марьино", "uvao")),
    sources=(),
    topics=(Topic("transport", "Транспорт", ("метро",)),),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", datetime(2026, 10, 31, 21, 0, tzinfo=UTC)),  # Moscow midnight
        ("2026-11-01T10:30", datetime(2026, 11, 1, 7, 30, tzinfo=UTC)),
        ("2026-11-01T10:30:00Z", datetime(2026, 11, 1, 10, 30, tzinfo=UTC)),
        ("2026-11-01T10:30:00+05:00", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
    ],
)
def test_since_is_moscow_time_unless_it_names_an_offset(text: str, expected: datetime) -> None:
    assert parse_since(text) == expected


@pytest.mark.parametrize("text", ["вчера", "2026-13-01", "01.11.2026", ""])
def test_since_rejects_what_it_cannot_read(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_since(text)


def test_cursor_round_trips_with_microseconds() -> None:
    published = datetime(2026, 11, 27, 9, 15, 30, 123456, tzinfo=UTC)
    story = Story(42, "k", "t", None, "", "", published, published, ())
    assert parse_cursor(cursor(story)) == (published, 42)
    assert format_cursor((published, 42)) == cursor(story)
    for bad in ("", "abc", "1.2.3", "12", "1e5.3"):
        assert parse_cursor(bad) is None


def test_params_canonical_form_and_area_expansion() -> None:
    params = parse_params(
        CONFIG,
        {"district": " marino,UVAO ", "topic": "transport", "q": "  новые   электробусы "},
        50,
    )
    assert params.areas == frozenset({"uvao", "kuzminki", "marino"})
    assert params.topics == frozenset({"transport"})
    assert parse_qsl(params.filter_query) == [
        ("district", "marino,uvao"),
        ("topic", "transport"),
        ("q", "новые электробусы"),
    ]
    assert len(params.words) == 2
    assert params.limit == 50 and not params.paged


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"district": "atlantida"}, 404),
        ({"topic": "weather"}, 404),
        ({"limit": "0"}, 400),
        ({"limit": str(MAX_LIMIT + 1)}, 400),
        ({"limit": "десять"}, 400),
        ({"after": "xyz"}, 400),
        ({"page": "2"}, 400),
    ],
)
def test_params_errors(query: dict[str, str], status: int) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_params(CONFIG, query, 50)
    assert caught.value.status == status


def test_story_terms_are_stems_without_stop_words() -> None:
    terms = story_terms(["В Кузьминках открыли новый маршрут электробусов", "МЦД-2 и метро"])
    assert {"кузьминк", "электробус", "маршрут", "мцд", "2", "метр"} <= terms
    assert not {"в", "и"} & terms


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("кузьминки", "Жители Кузьминок вышли на субботник"),
        ("кузьминки", "В Кузьминках открыли каток"),
        ("электробус", "Электробусов на маршруте стало больше"),
        ("пятиэтажка", "Снос пятиэтажек продолжится"),
    ],
)
def test_every_query_word_meets_a_story_term_across_word_forms(query: str, text: str) -> None:
    terms = story_terms([text])
    assert all(forms & terms for forms in query_words(query))


def test_query_words_drop_stop_words_and_punctuation() -> None:
    assert query_words("— и в —") == ()
    assert len(query_words("метро в Марьине")) == 2
