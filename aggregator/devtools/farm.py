"""A farm of generated district feeds on a FeedServer, for multi-worker tests and `make bench`.

Feed `n` at round `r` is an RSS document of `items` entries, newest first. A feed that changes in
a round gains new entries at the top (the oldest fall off), so a reader sees exactly
`changes(n, r)` new items; one that does not change keeps its bytes, so its strong ETag and its
Last-Modified stay and conditional requests get 304. Every `cp1251_every`-th feed is served in
windows-1251. The text is Russian district news composed at random (seeded by the entry), so
entries are distinct stories; with `reprint_share`, some entries reprint another feed's entry.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import yaml

from aggregator.devtools.feedserver import FeedServer, Route

_DISTRICTS = (
    "Марьино",
    "Кузьминки",
    "Люблино",
    "Текстильщики",
    "Выхино-Жулебино",
    "Бирюлёво Восточное",
    "Южное Бутово",
    "Митино",
    "Сокольники",
    "Хамовники",
    "Измайлово",
    "Бибирево",
)
# Each entry's text is composed from these pools by a generator seeded with the entry. Every
# pool item is one word: a fixed phrase would give unrelated entries shared word pairs, hence
# shared LSH band keys, which real news from different outlets rarely has (and which made the
# cold cycle grow with the store: see design-notes.md).
_ROLES = (
    "глава",
    "депутат",
    "директор",
    "врач",
    "инспектор",
    "тренер",
    "префект",
    "архитектор",
    "прораб",
    "библиотекарь",
    "учитель",
    "волонтёр",
    "краевед",
    "староста",
    "диспетчер",
    "инженер",
)
_NAME_HEADS = ("Кузн", "Смирн", "Вороб", "Лебед", "Соколь", "Мороз", "Павл", "Голуб", "Жук", "Бел")
_NAME_TAILS = ("ецов", "ин", "ёв", "ников", "ский", "ова", "енко", "анов", "ихин", "кова")
_VERBS = (
    "проверил",
    "обсудил",
    "представил",
    "осмотрел",
    "открыл",
    "перенёс",
    "закрыл",
    "расширил",
    "отремонтировал",
    "благоустроил",
    "утвердил",
    "согласовал",
    "посетил",
    "оценил",
    "построил",
    "украсил",
)
_ADJECTIVES = (
    "новый",
    "старый",
    "зимний",
    "детский",
    "районный",
    "пешеходный",
    "спортивный",
    "временный",
    "дворовый",
    "социальный",
    "городской",
    "летний",
    "крытый",
    "уютный",
    "большой",
    "школьный",
)
_NOUNS = (
    "сквер",
    "переход",
    "каток",
    "маршрут",
    "кружок",
    "павильон",
    "кинозал",
    "стадион",
    "медпункт",
    "рынок",
    "фонтан",
    "бульвар",
    "вестибюль",
    "спортзал",
    "проезд",
    "причал",
)
_UNITS = ("мест", "метров", "квартир", "деревьев", "скамеек", "гостей", "участников", "этажей")
_WHEN = (
    "вчера",
    "накануне",
    "сегодня",
    "утром",
    "вечером",
    "днём",
    "недавно",
    "весной",
    "осенью",
    "зимой",
    "летом",
    "досрочно",
)
SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "config"
_BASE_TIME = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class FarmSpec:
    """The shape of the farm: how many feeds, entries per feed, latency, what changes."""

    feeds: int = 300
    items: int = 30
    latency: float = 0.0
    change_share: float = 0.0
    new_per_change: int = 3
    cp1251_every: int = 7
    reprint_share: float = 0.0
    """Share of entries that reprint the same-numbered entry of another feed (one story)."""


def feed_path(n: int, spec: FarmSpec) -> str:
    """The server path of feed `n`."""
    suffix = "-cp1251" if spec.cp1251_every and n % spec.cp1251_every == 0 else ""
    return f"/farm/feed-{n:05d}{suffix}.xml"


def changes(n: int, round_: int, spec: FarmSpec) -> bool:
    """Whether feed `n` gains new entries in `round_` (every feed is new in round 0)."""
    if round_ == 0:
        return True
    if spec.change_share <= 0:
        return False
    step = max(1, round(1 / spec.change_share))
    return (n + round_) % step == 0


def newest_index(n: int, round_: int, spec: FarmSpec) -> int:
    """The index of feed `n`'s newest entry after `round_` (entries are numbered from 0)."""
    grown = sum(1 for r in range(1, round_ + 1) if changes(n, r, spec))
    return spec.items - 1 + grown * spec.new_per_change


def entry_guids(n: int, round_: int, spec: FarmSpec) -> list[str]:
    """The guids feed `n` serves in `round_`, newest first."""
    top = newest_index(n, round_, spec)
    return [_guid(n, i) for i in range(top, max(-1, top - spec.items), -1)]


def _guid(n: int, i: int) -> str:
    return f"urn:farm:{n}:{i}"


def _surname(rng: random.Random) -> str:
    return rng.choice(_NAME_HEADS) + rng.choice(_NAME_TAILS)


def _sentence(rng: random.Random) -> str:
    adjective, noun, role = rng.choice(_ADJECTIVES), rng.choice(_NOUNS), rng.choice(_ROLES)
    return (
        f"{role[0].upper()}{role[1:]} {_surname(rng)} {rng.choice(_WHEN)} "
        f"{rng.choice(_VERBS)} {adjective} {noun}: {rng.randint(2, 990)} {rng.choice(_UNITS)}."
    )


def _story(n: int, i: int) -> tuple[str, str]:
    """The title and text first published as entry `i` of feed `n`."""
    rng = random.Random(n * 1_000_003 + i)
    district = _DISTRICTS[n % len(_DISTRICTS)]
    title = f"{district}: {_surname(rng)} {rng.choice(_VERBS)} {rng.choice(_NOUNS)}"
    text = " ".join(_sentence(rng) for _ in range(3))
    return title, text


def reprint_of(n: int, i: int, spec: FarmSpec) -> int | None:
    """The feed whose entry `i` feed `n` reprints as its own entry `i`, if it does."""
    if spec.reprint_share <= 0 or spec.feeds < 2:
        return None
    rng = random.Random(-(n * 1_000_003 + i))
    if rng.random() >= spec.reprint_share:
        return None
    other = rng.randrange(spec.feeds - 1)
    return other if other < n else other + 1


def _entry(n: int, i: int, spec: FarmSpec) -> str:
    source = reprint_of(n, i, spec)
    title, text = _story(n if source is None else source, i)
    if source is not None:
        title = f"{title} (перепечатка)"
    published = _BASE_TIME + timedelta(hours=i, minutes=n % 60)
    return (
        "<item>"
        f"<title>{escape(title)}</title>"
        f"<link>https://farm.example/{n}/news/{i}</link>"
        f'<guid isPermaLink="false">{_guid(n, i)}</guid>'
        f"<pubDate>{format_datetime(published)}</pubDate>"
        f"<description>{escape(text)}</description>"
        "</item>"
    )


def render_feed(n: int, round_: int, spec: FarmSpec) -> tuple[bytes, str]:
    """Feed `n` as served in `round_`: its body and Content-Type."""
    cp1251 = "cp1251" in feed_path(n, spec)
    encoding = "windows-1251" if cp1251 else "utf-8"
    top = newest_index(n, round_, spec)
    entries = "".join(_entry(n, i, spec) for i in range(top, max(-1, top - spec.items), -1))
    district = _DISTRICTS[n % len(_DISTRICTS)]
    document = (
        f'<?xml version="1.0" encoding="{encoding}"?>'
        '<rss version="2.0"><channel>'
        f"<title>Вестник района {district} № {n}</title>"
        f"<link>https://farm.example/{n}/</link>"
        f"<description>Новости района {district}</description>"
        f"{entries}</channel></rss>"
    )
    return document.encode(encoding), f"application/rss+xml; charset={encoding}"


def last_modified(n: int, round_: int, spec: FarmSpec) -> str:
    """A Last-Modified that moves only when the feed's content does."""
    top = newest_index(n, round_, spec)
    return format_datetime(_BASE_TIME + timedelta(hours=top, minutes=n % 60), usegmt=True)


def serve_round(
    server: FeedServer, spec: FarmSpec, round_: int, delay: dict[int, float] | None = None
) -> None:
    """Set every feed's route on `server` to its content in `round_` (strong ETag from the body)."""
    for n in range(spec.feeds):
        body, content_type = render_feed(n, round_, spec)
        server.set_route(
            feed_path(n, spec),
            Route(
                body,
                content_type,
                last_modified=last_modified(n, round_, spec),
                delay=(delay or {}).get(n, spec.latency),
            ),
        )


def write_config(
    directory: Path, base_url: str, spec: FarmSpec, service: dict[str, object] | None = None
) -> Path:
    """A config directory for the farm: the shipped districts and topics, one feed per farm feed."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("districts.yaml", "topics.yaml"):
        shutil.copyfile(SHIPPED_CONFIG / name, directory / name)
    feeds = [
        {"url": base_url + feed_path(n, spec), "title": f"Ферма {n}", "district": "city"}
        for n in range(spec.feeds)
    ]
    (directory / "feeds.yaml").write_text(
        yaml.safe_dump({"feeds": feeds}, allow_unicode=True), encoding="utf-8"
    )
    (directory / "service.yaml").write_text(
        yaml.safe_dump(service or {}, allow_unicode=True), encoding="utf-8"
    )
    return directory
