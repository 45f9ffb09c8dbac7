"""The web app over a real Storage (SQLite and PostgreSQL): index, feeds, 404s, conditional GET."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
import httpx
import pytest

from aggregator.domain import (
    Config,
    NewItem,
    ServiceSettings,
    Source,
    StoryQuery,
    Topic,
    UpdatePlan,
)
from aggregator.storage import Storage
from aggregator.web.app import create_app, plural
from aggregator.web.caching import EPOCH, not_modified, strong_etag, validator_headers
from aggregator.web.feeds import split_name
from tests.integration.loopback import client_of
from tests.sample_moscow import NAO, NAO_DISTRICTS, SVAO, UVAO, UVAO_SVAO_DISTRICTS, sample_entry

PUBLIC = "http://news.example.test"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

CONFIG = Config(
    okrugs=(UVAO, SVAO, NAO),
    districts=UVAO_SVAO_DISTRICTS + NAO_DISTRICTS,
    sources=(
        Source("https://kuzminki.example/rss", "Кузьминки сегодня", "kuzminki"),
        Source("https://marino.example/rss", "Марьинский вестник", "marino"),
        Source("https://bibirevo.example/atom", "Газета «Бибирево»", "bibirevo"),
    ),
    topics=(
        Topic("transport", "Транспорт", ("метро",)),
        Topic("sport", "Спорт", ("турнир",)),
    ),
    service=ServiceSettings(public_url=PUBLIC + "/", feed_size=10),
)


def new_story(
    key: str, title: str, hours_ago: int, areas: tuple[str, ...], topics: tuple[str, ...] = ()
) -> NewItem:
    published = NOW - timedelta(hours=hours_ago)
    return NewItem(sample_entry(key, title, published), None, f"story-{key}", areas, topics)


@pytest.fixture
def storage(database_url: str) -> Iterator[Storage]:
    store = Storage.open(database_url, upgrade=True)
    try:
        store.sync_sources(CONFIG.sources, NOW)
        feed_ids = {feed.url: feed.feed_id for feed in store.enabled_feeds()}
        kuzminki, marino, bibirevo = (feed_ids[s.url] for s in CONFIG.sources)
        store.apply(
            kuzminki,
            UpdatePlan(
                new_items=(
                    new_story(
                        "metro",
                        "На Троицкой линии откроется станция «Сосновая роща»",
                        1,
                        ("kuzminki", "uvao"),
                        ("transport",),
                    ),
                    # Tagged with the district only: the okrug feed must still find it.
                    new_story("park", "В парке «Кузьминки» заменят освещение", 5, ("kuzminki",)),
                )
            ),
            NOW,
        )
        store.apply(
            bibirevo,
            UpdatePlan(
                new_items=(
                    new_story(
                        "hockey",
                        "Бибиревские школьники выиграли турнир",
                        3,
                        ("bibirevo", "svao"),
                        ("sport",),
                    ),
                )
            ),
            NOW,
        )
        metro = next(s for s in store.stories(StoryQuery(limit=100)) if s.key == "story-metro")
        store.apply(
            marino,
            UpdatePlan(
                new_items=(
                    NewItem(
                        sample_entry(
                            "metro-m",
                            "Станция «Сосновая роща» откроется в декабре",
                            NOW - timedelta(hours=2),
                            "https://marino.example/metro",
                        ),
                        metro.id,
                        None,
                        ("marino", "uvao"),
                        ("transport",),
                    ),
                    new_story(
                        "tree", "На Братиславской высадили кустарники", 7, ("marino", "uvao")
                    ),
                )
            ),
            NOW,
        )
        yield store
    finally:
        store.close()


@pytest.fixture
def client(storage: Storage) -> Iterator[httpx.Client]:
    with client_of(create_app(CONFIG, storage)) as http:
        yield http


def parsed(client: httpx.Client, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, response.text
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    return feed


def titles(feed: Any) -> set[str]:
    return {e.title for e in feed.entries}


# --- index ---------------------------------------------------------------------------------


def test_index_lists_okrugs_districts_topics_and_latest_stories(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for text in (
        "ЮВАО",
        "Юго-Восточный административный округ",
        "СВАО",
        "Кузьминки",
        "Марьино",
        "Бибирево",
        "Отрадное",
        "Коммунарка",
        "Транспорт",
        "Спорт",
    ):
        assert text in page
    assert 'href="feeds/district/uvao.atom"' in page
    assert 'href="feeds/district/kuzminki.rss"' in page
    assert 'href="feeds/topic/sport.atom"' in page
    assert 'href="feeds/all.atom"' in page
    assert "бывшее поселение" in page
    okrugs = page[page.index('id="okrugs"') :]  # the search form above lists districts too
    assert okrugs.index("Коммунарка") < okrugs.index("Бывшие поселения") < okrugs.index("Сосенское")
    assert "«Сосновая роща»" in page
    assert "2 источника" in page


def test_static_stylesheet(client: httpx.Client) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok")


# --- feeds ---------------------------------------------------------------------------------

FEED_CASES = [
    ("/feeds/all", {"metro", "park", "hockey", "tree"}),
    ("/feeds/district/uvao", {"metro", "park", "tree"}),
    ("/feeds/district/kuzminki", {"metro", "park"}),
    ("/feeds/district/marino", {"metro", "tree"}),
    ("/feeds/district/svao", {"hockey"}),
    ("/feeds/district/otradnoe", set()),
    ("/feeds/district/sosenskoe", set()),
    ("/feeds/topic/transport", {"metro"}),
    ("/feeds/topic/sport", {"hockey"}),
]
TITLES = {
    "metro": "На Троицкой линии откроется станция «Сосновая роща»",
    "park": "В парке «Кузьминки» заменят освещение",
    "hockey": "Бибиревские школьники выиграли турнир",
    "tree": "На Братиславской высадили кустарники",
}


@pytest.mark.parametrize("fmt", ["atom", "rss"])
@pytest.mark.parametrize(("path", "expected"), FEED_CASES)
def test_feed_selects_stories(
    client: httpx.Client, path: str, expected: set[str], fmt: str
) -> None:
    feed = parsed(client, f"{path}.{fmt}")
    assert titles(feed) == {TITLES[key] for key in expected}


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("atom", "application/atom+xml; charset=utf-8"),
        ("rss", "application/rss+xml; charset=utf-8"),
        ("json", "application/feed+json; charset=utf-8"),
    ],
)
def test_feed_headers(client: httpx.Client, fmt: str, content_type: str) -> None:
    response = client.get(f"/feeds/district/uvao.{fmt}")
    assert response.headers["content-type"] == content_type
    # No source sets its own refresh, so the default 15 minutes bounds the max-age.
    assert response.headers["cache-control"] == "public, max-age=900"
    assert response.headers["etag"].startswith('"')
    # The metro story was updated when a second outlet joined it, at NOW.
    assert response.headers["last-modified"] == "Fri, 27 Nov 2026 12:00:00 GMT"


def test_feed_id_and_self_link(client: httpx.Client) -> None:
    atom = parsed(client, "/feeds/district/kuzminki.atom").feed
    assert atom.id == f"{PUBLIC}/feeds/district/kuzminki"
    assert {ln.rel: ln.href for ln in atom.links}["self"] == (
        f"{PUBLIC}/feeds/district/kuzminki.atom"
    )
    assert atom.title == "Кузьминки: новости района"
    rss = client.get("/feeds/district/kuzminki.rss").text
    assert f'href="{PUBLIC}/feeds/district/kuzminki.rss" rel="self"' in rss


def test_story_carried_twice_appears_once_with_its_sources(client: httpx.Client) -> None:
    feed = parsed(client, "/feeds/district/uvao.atom")
    metro = [e for e in feed.entries if e.title == TITLES["metro"]]
    assert len(metro) == 1
    body = metro[0].content[0].value
    assert "Источники:" in body
    assert "Кузьминки сегодня" in body and "Марьинский вестник" in body
    assert len({e.id for e in feed.entries}) == len(feed.entries)


def test_entry_ids_agree_between_formats_and_areas(client: httpx.Client) -> None:
    def ids(path: str) -> dict[str, str]:
        return {e.title: e.id for e in parsed(client, path).entries}

    all_atom = ids("/feeds/all.atom")
    assert ids("/feeds/all.rss") == all_atom
    for title, ident in ids("/feeds/district/marino.atom").items():
        assert all_atom[title] == ident


def test_empty_feed_has_fixed_last_modified(client: httpx.Client) -> None:
    response = client.get("/feeds/district/otradnoe.atom")
    assert response.status_code == 200
    assert response.headers["last-modified"] == "Thu, 01 Jan 1970 00:00:00 GMT"


# --- 404 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "hint"),
    [
        ("/feeds/district/nowhere.atom", "«nowhere» не найден"),
        ("/feeds/district/kuzminki.xml", ".atom, .rss или .json"),
        ("/feeds/district/kuzminki", ".atom, .rss или .json"),
        ("/feeds/topic/weather.rss", "Тема «weather» не найдена"),
        ("/feeds/topic/transport.xml", ".atom, .rss или .json"),
        ("/feeds/everything.atom", "Лента всей Москвы"),
        ("/feeds/all.xml", "Лента всей Москвы"),
        ("/feeds/district/nowhere/topic/transport.atom", "«nowhere» не найден"),
        ("/feeds/district/kuzminki/topic/weather.json", "Тема «weather» не найдена"),
        ("/feeds/all.atom?district=nowhere", "«nowhere» не найден"),
        ("/feeds/all.json?topic=weather", "Тема «weather» не найдена"),
        ("/no/such/page", "Страницы «/no/such/page» нет"),
    ],
)
def test_unknown_feeds_are_404_with_a_russian_hint(
    client: httpx.Client, path: str, hint: str
) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
    assert hint in response.text
    assert f"{PUBLIC}/" in response.text


# --- conditional GET -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/feeds/all.atom", "/feeds/district/svao.rss", "/feeds/district/otradnoe.atom"]
)
def test_etag_round_trip(client: httpx.Client, path: str) -> None:
    first = client.get(path)
    etag = first.headers["etag"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert client.get(path, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"stale"'}).status_code == 200


def test_atom_and_rss_have_different_etags(client: httpx.Client) -> None:
    atom = client.get("/feeds/all.atom").headers["etag"]
    rss = client.get("/feeds/all.rss").headers["etag"]
    assert atom != rss
    assert client.get("/feeds/all.rss", headers={"If-None-Match": atom}).status_code == 200


@pytest.mark.parametrize(
    ("since", "status"),
    [
        ("Fri, 27 Nov 2026 12:00:00 GMT", 304),
        ("Sat, 28 Nov 2026 00:00:00 GMT", 304),
        ("Fri, 27 Nov 2026 11:59:59 GMT", 200),
        ("not a date", 200),
    ],
)
def test_if_modified_since(client: httpx.Client, since: str, status: int) -> None:
    response = client.get("/feeds/all.atom", headers={"If-Modified-Since": since})
    assert response.status_code == status


def test_if_none_match_wins_over_if_modified_since(client: httpx.Client) -> None:
    headers = {"If-None-Match": '"stale"', "If-Modified-Since": "Sat, 28 Nov 2026 00:00:00 GMT"}
    assert client.get("/feeds/all.atom", headers=headers).status_code == 200


def test_new_story_changes_the_etag(client: httpx.Client, storage: Storage) -> None:
    before = client.get("/feeds/district/svao.atom").headers["etag"]
    feed_id = next(f.feed_id for f in storage.enabled_feeds() if "bibirevo" in f.url)
    storage.apply(
        feed_id,
        UpdatePlan(
            new_items=(new_story("pond", "В Бибиреве почистят пруд", -1, ("bibirevo", "svao")),)
        ),
        NOW + timedelta(hours=1),
    )
    response = client.get("/feeds/district/svao.atom", headers={"If-None-Match": before})
    assert response.status_code == 200
    assert response.headers["etag"] != before
    assert response.headers["last-modified"] == "Fri, 27 Nov 2026 13:00:00 GMT"


# --- the pure helpers behind the routes ----------------------------------------------------


@pytest.mark.parametrize(
    ("count", "word"),
    [
        (1, "источник"),
        (2, "источника"),
        (4, "источника"),
        (5, "источников"),
        (11, "источников"),
        (12, "источников"),
        (21, "источник"),
        (22, "источника"),
        (111, "источников"),
    ],
)
def test_plural(count: int, word: str) -> None:
    assert plural(count, "источник", "источника", "источников") == word


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("kuzminki.atom", ("kuzminki", "atom")),
        ("uvao.rss", ("uvao", "rss")),
        ("kuzminki.json", ("kuzminki", "json")),
        ("kuzminki.xml", ("kuzminki.xml", None)),
        ("kuzminki", ("kuzminki", None)),
        ("a.b.rss", ("a.b", "rss")),
        (".atom", ("", "atom")),
    ],
)
def test_split_name(name: str, expected: tuple[str, str | None]) -> None:
    assert split_name(name) == expected


LAST = datetime(2026, 11, 27, 12, 0, 30, 500_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, False),
        ({"if-none-match": '"abc"'}, True),
        ({"if-none-match": 'W/"abc"'}, True),
        ({"if-none-match": '"x", "abc"'}, True),
        ({"if-none-match": "*"}, True),
        ({"if-none-match": '"abcd"'}, False),
        ({"if-modified-since": "Fri, 27 Nov 2026 12:00:30 GMT"}, True),
        ({"if-modified-since": "Fri, 27 Nov 2026 12:00:29 GMT"}, False),
        ({"if-modified-since": "garbage"}, False),
        ({"if-none-match": '"x"', "if-modified-since": "Sat, 28 Nov 2026 00:00:00 GMT"}, False),
    ],
)
def test_not_modified(headers: dict[str, str], expected: bool) -> None:
    assert not_modified(headers, '"abc"', LAST) is expected
    assert not_modified(headers, '"abc"', LAST.replace(tzinfo=None)) is expected


def test_validator_headers() -> None:
    assert validator_headers(strong_etag(b"x"), EPOCH) == {
        "ETag": strong_etag(b"x"),
        "Last-Modified": "Thu, 01 Jan 1970 00:00:00 GMT",
        "Cache-Control": "public, max-age=300",
    }
    assert strong_etag(b"x") != strong_etag(b"y")
