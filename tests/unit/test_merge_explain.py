"""Explaining stories: similarity to the lead item, export records, --since dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aggregator.dedupe import entry_features
from aggregator.domain import Entry, Story, StoryMember
from aggregator.merge_explain import describe, parse_since, record, similarities
from aggregator.similarity import Thresholds

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def member(item_id: int, title: str, lead: str, *, features: bool = True) -> StoryMember:
    e = Entry(
        key=str(item_id),
        guid=None,
        link=f"https://news.example/{item_id}",
        title=title,
        summary=lead,
        content_html="",
        published=NOW,
        updated=NOW,
        author=None,
        categories=(),
        fingerprint="fp",
        content_hash="h",
    )
    stored = entry_features(e) if features else None
    return StoryMember(
        item_id, f"Газета {item_id}", "https://feed.example/", e.link, title, NOW, NOW, stored
    )


LEAD = "Собянин: в Москве откроют 12 новых поликлиник до конца года"
TEXT = "Мэр Москвы Сергей Собянин сообщил, что до конца года в городе откроют 12 новых поликлиник."
STORY = Story(1, "k", LEAD, None, TEXT, "", NOW, NOW, (), ("kuzminki", "uvao"), ("health",), NOW)


def test_lead_scores_one_reprint_scores_high_unrelated_low() -> None:
    members = [
        member(1, LEAD, TEXT),
        member(2, "В Москве до конца года откроют 12 поликлиник", TEXT + " Текст: Редакция"),
        member(3, "В Кузьминках прошёл турнир по шахматам", "Юные шахматисты сыграли турнир."),
        member(4, LEAD, TEXT, features=False),
    ]
    scores = similarities(members, Thresholds())
    assert scores[0] == 1.0 and scores[3] is None
    assert scores[1] is not None and scores[1] >= 0.6
    assert scores[2] is not None and scores[2] < 0.2


def test_without_lead_features_nothing_is_scored() -> None:
    members = [member(1, LEAD, TEXT, features=False), member(2, LEAD, TEXT)]
    assert similarities(members, Thresholds()) == [None, None]


def test_record_keeps_districts_only_and_member_fields() -> None:
    members = [member(1, LEAD, TEXT)]
    line = record(STORY, members, [1.0], frozenset({"kuzminki"}))
    assert line["districts"] == ["kuzminki"] and line["first_seen"] == NOW.isoformat()
    assert line["members"] == [
        {
            "outlet": "Газета 1",
            "feed_url": "https://feed.example/",
            "item_url": "https://news.example/1",
            "title": LEAD,
            "similarity": 1.0,
        }
    ]
    assert "[ lead] Газета 1" in describe(STORY, members, [1.0])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", datetime(2026, 10, 31, 21, 0, tzinfo=UTC)),
        ("2026-11-01T12:30", datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),
        ("2026-11-01T12:30+00:00", datetime(2026, 11, 1, 12, 30, tzinfo=UTC)),
    ],
)
def test_since_is_moscow_time_unless_an_offset_is_given(text: str, expected: datetime) -> None:
    assert parse_since(text) == expected


def test_since_refuses_words() -> None:
    with pytest.raises(ValueError, match="not a date"):
        parse_since("вчера")
