"""Ad-hoc filters and paging from a feed URL's query string, pure: parse, check, canonicalize.

    district=kuzminki,uvao  topic=transport  q=электробус  since=2026-11-01
    limit=20  before=<cursor>  after=<cursor>

A cursor names a story's place in the newest-first order, (published, id), so a page is a
keyset lookup however deep it is. Errors carry a Russian message for the reader.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aggregator.domain import Config, Story
from aggregator.search import query_words

MOSCOW = ZoneInfo("Europe/Moscow")
MAX_LIMIT = 200
FILTER_KEYS = ("district", "topic", "q", "since", "source")
PAGING_KEYS = ("limit", "before", "after")
_CURSOR = re.compile(r"^(-?\d{1,17})\.(\d{1,12})$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadRequest(Exception):
    """A query the service cannot answer; `status` is 404 for unknown slugs, else 400."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Params:
    """Parsed query parameters; `filter_query` is their canonical form without paging."""

    areas: frozenset[str] | None = None
    topics: frozenset[str] | None = None
    words: tuple[frozenset[str], ...] = ()
    since: datetime | None = None
    limit: int = 50
    default_limit: int = 50
    before: tuple[datetime, int] | None = None
    after: tuple[datetime, int] | None = None
    own_sources: bool = False
    filter_query: str = ""

    @property
    def paged(self) -> bool:
        return self.before is not None or self.after is not None


def parse_params(config: Config, query: Mapping[str, str], default_limit: int) -> Params:
    """Check and parse the query string; raise BadRequest with a Russian explanation."""
    unknown = sorted(set(query) - set(FILTER_KEYS) - set(PAGING_KEYS))
    if unknown:
        known = ", ".join((*FILTER_KEYS, *PAGING_KEYS))
        raise BadRequest(f"Неизвестный параметр «{unknown[0]}». Можно: {known}.")
    district_slugs = _slugs(query.get("district"))
    topic_slugs = _slugs(query.get("topic"))
    areas = _areas(config, district_slugs)
    for slug in topic_slugs:
        if config.topic(slug) is None:
            known = ", ".join(t.slug for t in config.topics) or "темы не настроены"
            raise BadRequest(f"Тема «{slug}» не найдена. Есть темы: {known}.", 404)
    text = " ".join((query.get("q") or "").split())
    words = query_words(text)
    if text and not words:
        raise BadRequest(f"В запросе «{text}» нет слов для поиска.")
    since = parse_since(query["since"]) if query.get("since") else None
    own_sources = _own_sources(query.get("source"))
    canonical = {
        "district": ",".join(district_slugs),
        "topic": ",".join(topic_slugs),
        "q": text,
        "since": query.get("since", "").strip(),
        "source": "own" if own_sources else "",
    }
    return Params(
        areas=areas,
        topics=frozenset(topic_slugs) if topic_slugs else None,
        words=words,
        since=since,
        limit=_limit(query.get("limit"), default_limit),
        default_limit=min(default_limit, MAX_LIMIT),
        before=_cursor_param(query, "before"),
        after=_cursor_param(query, "after"),
        own_sources=own_sources,
        filter_query=urlencode([(k, v) for k, v in canonical.items() if v], safe=","),
    )


def _own_sources(value: str | None) -> bool:
    """`source=own` keeps an area's own outlets; `source=all` (the default) adds mentions."""
    if value is None or value == "all":
        return False
    if value == "own":
        return True
    raise BadRequest(
        f"Параметр source={value} не поддерживается: source=own оставляет только "
        "новости собственных изданий района, source=all (по умолчанию) добавляет "
        "новости, где район упоминается.",
        404,
    )


def cursor(story: Story) -> str:
    """The keyset position of `story` in the newest-first order."""
    return format_cursor((story.published, story.id))


def format_cursor(position: tuple[datetime, int]) -> str:
    """A (published, id) position as microseconds since the epoch, a dot and the story id."""
    published, story_id = position
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    micros = (published - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{story_id}"


def parse_cursor(text: str) -> tuple[datetime, int] | None:
    match = _CURSOR.match(text.strip())
    if match is None:
        return None
    micros, story_id = (int(part) for part in match.groups())
    return _EPOCH + timedelta(microseconds=micros), story_id


def parse_since(text: str) -> datetime:
    """An ISO date (Moscow midnight) or datetime (Moscow time unless it names its offset)."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=MOSCOW).astimezone(UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"Не понимаю since={value!r}: нужна дата ГГГГ-ММ-ДД или дата и время ISO 8601."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=MOSCOW)
    return moment.astimezone(UTC)


def _slugs(value: str | None) -> list[str]:
    return sorted({part.strip().lower() for part in (value or "").split(",") if part.strip()})


def _areas(config: Config, slugs: list[str]) -> frozenset[str] | None:
    if not slugs:
        return None
    found: set[str] = set()
    for slug in slugs:
        areas = config.area(slug)
        if areas is None:
            raise BadRequest(
                f"Район или округ «{slug}» не найден. Пишите латиницей, как в адресах лент: "
                "kuzminki, maryino, uvao.",
                404,
            )
        found |= areas
    return frozenset(found)


def _limit(value: str | None, default: int) -> int:
    if value is None or not value.strip():
        return min(default, MAX_LIMIT)
    if not value.strip().isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise BadRequest(f"limit — число от 1 до {MAX_LIMIT}.")
    return int(value)


def _cursor_param(query: Mapping[str, str], key: str) -> tuple[datetime, int] | None:
    value = query.get(key)
    if value is None:
        return None
    parsed = parse_cursor(value)
    if parsed is None:
        raise BadRequest(f"Неверное значение {key}: берите ссылки на страницы из самой ленты.")
    return parsed
