"""A small Moscow for output tests: two okrugs, four districts, topics and a named output,
and a helper that stores stories through the real Storage API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aggregator.domain import (
    Config,
    NamedOutput,
    NewItem,
    ServiceSettings,
    Source,
    Topic,
    UpdatePlan,
)
from aggregator.storage import Storage
from tests.sample_moscow import SVAO, UVAO, UVAO_SVAO_DISTRICTS, sample_entry

PUBLIC = "http://news.example.test"
HUB = "http://127.0.0.1:9/hub"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

CONFIG = Config(
    okrugs=(UVAO, SVAO),
    districts=UVAO_SVAO_DISTRICTS,
    sources=(
        Source("https://kuzminki.example/rss", "Кузьминки сегодня", "kuzminki"),
        Source("https://marino.example/rss", "Марьинский вестник", "marino"),
        Source(
            "https://bibirevo.example/atom",
            "Газета «Бибирево»",
            "bibirevo",
            refresh=timedelta(minutes=5),
        ),
    ),
    topics=(
        Topic("transport", "Транспорт", ("метро", "электробус")),
        Topic("sport", "Спорт", ("турнир",)),
    ),
    service=ServiceSettings(public_url=PUBLIC + "/", feed_size=10, websub_hub=HUB),
    outputs=(
        NamedOutput(
            "uvao-transport",
            "ЮВАО: транспорт",
            "Транспорт Юго-Восточного округа",
            areas=("uvao",),
            topics=("transport",),
        ),
        NamedOutput(
            "elektrobusy", "Электробусы", "Все новости об электробусах", query="электробус"
        ),
    ),
)

KUZMINKI_TEXTS = [
    "Во дворах Кузьминок обновят детские площадки",
    "В Кузьминках прошёл турнир по мини-футболу",
    "Электробусы вышли на новый маршрут в Кузьминках",
    "Жители Кузьминок обсудили благоустройство парка",
    "В библиотеке на Волжском бульваре открылась выставка",
]


def new_story(
    key: str, title: str, published: datetime, areas: tuple[str, ...], topics: tuple[str, ...] = ()
) -> NewItem:
    return NewItem(sample_entry(key, title, published), None, f"story-{key}", areas, topics)


def fill(storage: Storage, kuzminki_stories: int = 23) -> None:
    """Kuzminki gets many stories (several sharing one publication time), the others a few."""
    storage.sync_sources(CONFIG.sources, NOW)
    ids = {feed.url: feed.feed_id for feed in storage.enabled_feeds()}
    kuzminki, marino, bibirevo = (ids[s.url] for s in CONFIG.sources)
    items = []
    for n in range(kuzminki_stories):
        text = KUZMINKI_TEXTS[n % len(KUZMINKI_TEXTS)]
        # Every third pair shares its minute: paging must break ties by id.
        published = NOW - timedelta(hours=n - n % 3 // 2)
        topics = ("transport",) if "Электробус" in text else ("sport",) if "турнир" in text else ()
        items.append(
            new_story(f"k{n:02d}", f"{text} (№ {n})", published, ("kuzminki", "uvao"), topics)
        )
    storage.apply(kuzminki, UpdatePlan(new_items=tuple(items)), NOW)
    storage.apply(
        marino,
        UpdatePlan(
            new_items=(
                new_story(
                    "m1",
                    "На Братиславской высадили кустарники",
                    NOW - timedelta(hours=2),
                    ("marino", "uvao"),
                ),
                new_story(
                    "m2",
                    "Электробус довёз марьинцев до метро",
                    NOW - timedelta(days=3),
                    ("marino", "uvao"),
                    ("transport",),
                ),
            )
        ),
        NOW,
    )
    storage.apply(
        bibirevo,
        UpdatePlan(
            new_items=(
                new_story(
                    "b1",
                    "Бибиревские школьники выиграли турнир",
                    NOW - timedelta(hours=3),
                    ("bibirevo", "svao"),
                    ("sport",),
                ),
            )
        ),
        NOW,
    )
