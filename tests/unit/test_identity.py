"""Table tests for aggregator.identity: keys, fingerprints, content hashes and story ids."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from aggregator.domain import Entry
from aggregator.identity import (
    STORY_NAMESPACE,
    content_hash,
    entry_key,
    fingerprint,
    story_key,
    story_uuid,
)

TITLE = "Собянин открыл новую станцию метро «Печатники»"
TEXT = (
    "Мэр Москвы Сергей Собянин открыл станцию Большой кольцевой линии. "
    "Пассажиропоток станции составит около 40 тысяч человек в сутки. "
    "Рядом с вестибюлем обустроили перехватывающую парковку и остановки автобусов, "
    "а жители Печатников и Текстильщиков смогут быстрее добираться до центра. "
    "Строители завершили отделку платформы гранитом и установили эскалаторы."
)


@pytest.mark.parametrize(
    ("guid", "link", "expected"),
    [
        ("https://uv-kurier.ru/?p=101", "https://uv-kurier.ru/news/1", "v1:guid:https://uv-kurier.ru/?p=101"),
        ("  tag:zbulvar.ru,2024:42  ", None, "v1:guid:tag:zbulvar.ru,2024:42"),
        ("", "https://uv-kurier.ru/news/1", "v1:link:https://uv-kurier.ru/news/1"),
        ("   ", "https://uv-kurier.ru/news/1", "v1:link:https://uv-kurier.ru/news/1"),
        (None, "https://uv-kurier.ru/news/1", "v1:link:https://uv-kurier.ru/news/1"),
    ],
)  # fmt: skip
def test_entry_key_prefers_guid_then_link(
    guid: str | None, link: str | None, expected: str
) -> None:
    assert entry_key(guid, link, TITLE, TEXT) == expected


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ((TITLE, TEXT), (TITLE, TEXT), True),
        ((TITLE, TEXT), ("  " + TITLE.replace(" ", "   ") + "\n", TEXT.replace(" ", "\n")), True),
        ((TITLE, TEXT), (TITLE, TEXT + " И ещё одна фраза."), False),
        ((TITLE, TEXT), ("Другой заголовок", TEXT), False),
        (("", ""), ("", ""), True),
    ],
)
def test_entry_key_hash_fallback(a: tuple[str, str], b: tuple[str, str], same: bool) -> None:
    key_a, key_b = entry_key(None, None, *a), entry_key(None, None, *b)
    assert key_a.startswith("v1:hash:")
    assert (key_a == key_b) is same


@pytest.mark.parametrize(
    ("title", "text"),
    [
        (TITLE, TEXT),
        (TITLE.upper(), TEXT),
        (TITLE.replace("«", '"').replace("»", '"'), TEXT),
        (TITLE.replace("«", "„").replace("»", "“"), TEXT),
        (TITLE + ".", TEXT),
        ("  " + TITLE + "  ", "\n\n" + TEXT.replace(". ", ".\n\n")),
        (TITLE, TEXT.replace("Мэр", "мэр")),
        (TITLE.replace("е", "ё"), TEXT),
        (TITLE, "Текст: Юго-Восточный Курьер | " + TEXT),
        (TITLE, "Фото: пресс-служба мэра. " + TEXT),
        (TITLE, TEXT + " Текст: Анна Смирнова"),
        (TITLE, TEXT.replace("Большой кольцевой", "Большой  кольцевой")),
        (TITLE, TEXT.replace(" — ", " - ")),
        (TITLE, TEXT + " " + "Дальше идёт длинный хвост статьи. " * 20),
    ],
)
def test_fingerprint_ignores_trivial_differences(title: str, text: str) -> None:
    assert fingerprint(title, text) == fingerprint(TITLE, TEXT + " " + "Другой хвост. " * 30)


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("Собянин открыл новую станцию метро «Текстильщики»", TEXT),
        (TITLE, TEXT.replace("40 тысяч", "50 тысяч")),
        (TITLE, "Совсем другая новость о реновации в Марьине."),
        (TITLE, ""),
        ("", TEXT),
    ],
)
def test_fingerprint_differs_for_different_content(title: str, text: str) -> None:
    assert fingerprint(title, text) != fingerprint(TITLE, TEXT)


def test_fingerprint_is_versioned_and_deterministic() -> None:
    value = fingerprint(TITLE, TEXT)
    assert value.startswith("v1:")
    assert value == fingerprint(TITLE, TEXT)
    assert len(value) == len("v1:") + 32


HTML = "<p>Мэр Москвы открыл станцию.</p>\n<p>Подробности позже.</p>"


@pytest.mark.parametrize(
    ("title", "link", "html", "same"),
    [
        (TITLE, "https://a.ru/1", HTML, True),
        (TITLE + "  ", "https://a.ru/1", HTML, True),
        (TITLE, "https://a.ru/1", HTML.replace("\n", "\n\n   "), True),
        (TITLE, "https://a.ru/1", HTML.replace("</p>\n<p>", "</p><p>"), True),
        (TITLE, "https://a.ru/1", "  " + HTML.replace(" ", "  ") + "\n", True),
        (TITLE + " (обновлено)", "https://a.ru/1", HTML, False),
        (TITLE, "https://a.ru/2", HTML, False),
        (TITLE, None, HTML, False),
        (TITLE, "https://a.ru/1", HTML.replace("позже", "скоро"), False),
        (TITLE, "https://a.ru/1", HTML.replace("<p>", "<p><b>", 1), False),
    ],
)
def test_content_hash(title: str, link: str | None, html: str, same: bool) -> None:
    base = content_hash(TITLE, "https://a.ru/1", HTML)
    assert base.startswith("v1:")
    assert (content_hash(title, link, html) == base) is same


def make_entry(link: str | None, fp: str = "v1:abc") -> Entry:
    now = datetime(2025, 10, 20, tzinfo=UTC)
    return Entry(
        key="v1:guid:1",
        guid="1",
        link=link,
        title=TITLE,
        summary=TEXT,
        content_html=HTML,
        published=now,
        updated=now,
        author=None,
        categories=(),
        fingerprint=fp,
        content_hash="v1:x",
    )


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (make_entry("https://mos.ru/news/item/1/"), "v1:link:https://mos.ru/news/item/1/"),
        (make_entry(None, "v1:0123"), "v1:fp:v1:0123"),
        (make_entry("", "v1:0123"), "v1:fp:v1:0123"),
    ],
)
def test_story_key(entry: Entry, expected: str) -> None:
    assert story_key(entry) == expected


def test_story_key_ignores_volatile_fields() -> None:
    entry = make_entry("https://mos.ru/news/item/1/")
    later = replace(entry, title="Новый заголовок", content_hash="v1:y", key="v1:guid:2")
    assert story_key(entry) == story_key(later)


def test_story_uuid_is_fixed() -> None:
    # pinned: output entry ids must never change between releases
    assert str(story_uuid("v1:link:https://mos.ru/news/item/1/")) == (
        "4036c827-2d60-5b6f-a596-7acda823fcca"
    )
    value = story_uuid("v1:link:https://mos.ru/news/item/1/")
    assert value.version == 5
    assert value == uuid.uuid5(STORY_NAMESPACE, "v1:link:https://mos.ru/news/item/1/")
    assert value != story_uuid("v1:link:https://mos.ru/news/item/2/")
    assert str(value) == str(story_uuid("v1:link:https://mos.ru/news/item/1/"))
