"""A small Moscow shared by the output tests: three okrugs, their districts and one entry shape."""

from __future__ import annotations

from datetime import date, datetime

from aggregator.domain import District, Entry, Okrug

UVAO = Okrug(
    "uvao",
    "Юго-Восточный административный округ",
    "ЮВАО",
    "Юго-Восточный",
    ("kuzminki", "marino"),
)
SVAO = Okrug(
    "svao",
    "Северо-Восточный административный округ",
    "СВАО",
    "Северо-Восточный",
    ("bibirevo", "otradnoe"),
)
NAO = Okrug(
    "nao",
    "Новомосковский административный округ",
    "НАО",
    "Новомосковский",
    ("kommunarka", "sosenskoe"),
)
UVAO_SVAO_DISTRICTS = (
    District("kuzminki", "Кузьминки", "uvao"),
    District("marino", "Марьино", "uvao"),
    District("bibirevo", "Бибирево", "svao"),
    District("otradnoe", "Отрадное", "svao"),
)
NAO_DISTRICTS = (
    District("kommunarka", "Коммунарка", "nao"),
    District("sosenskoe", "Сосенское", "nao", "settlement", date(2024, 5, 8)),
)


def sample_entry(key: str, title: str, published: datetime, link: str | None = None) -> Entry:
    """An entry whose identity fields all derive from `key`, so tests can predict them."""
    return Entry(
        key=key,
        guid=key,
        link=link or f"https://news.example/{key}",
        title=title,
        summary=f"{title}. Подробности — в материале районной газеты.",
        content_html=f"<p>{title}.</p>",
        published=published,
        updated=published,
        author=None,
        categories=(),
        fingerprint=f"fp-{key}",
        content_hash=f"hash-{key}",
    )
