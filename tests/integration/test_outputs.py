"""Output feeds over a real Storage (SQLite and PostgreSQL): formats, filters, paging, caching,
named outputs and OPML; every document checked against its format's required elements."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import feedparser
import httpx
import pytest

from aggregator.domain import StoryQuery, UpdatePlan
from aggregator.render import JSON_FEED_VERSION, entry_id
from aggregator.storage import Storage
from aggregator.web.app import create_app
from tests.integration.loopback import client_of
from tests.integration.outputs_data import CONFIG, HUB, NOW, PUBLIC, fill, new_story

ATOM = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"


class CountingStorage(Storage):
    """The real storage, counting story queries: shows when an output came from the cache."""

    story_queries = 0

    def stories(self, query: StoryQuery) -> list[Any]:
        self.story_queries += 1
        return super().stories(query)


@pytest.fixture
def storage(database_url: str) -> Iterator[CountingStorage]:
    base = Storage.open(database_url, upgrade=True)
    store = CountingStorage(base._engine)
    try:
        fill(store)
        yield store
    finally:
        store.close()


@pytest.fixture
def client(storage: Storage) -> Iterator[httpx.Client]:
    with client_of(create_app(CONFIG, storage)) as http:
        yield http


def local(url: str) -> str:
    """A public URL from a feed as a path the test client can request."""
    assert url.startswith(PUBLIC), url
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def ids_of(
    storage: Storage, areas: frozenset[str], topics: frozenset[str] = frozenset()
) -> set[str]:
    """Entry ids of every story with one of the areas or topics, read without a tag filter."""
    every = storage.stories(StoryQuery(limit=10_000))
    return {entry_id(s) for s in every if areas & set(s.areas) or topics & set(s.topics)}


# --- format validation ---------------------------------------------------------------------


def check_atom(body: bytes) -> None:
    """RFC 4287 §4.1.1/§4.1.2: the feed's and every entry's required elements."""
    root = ET.fromstring(body)
    assert root.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert (root.findtext(f"{ATOM}{name}") or "").strip(), name
    self_links = [ln for ln in root.findall(f"{ATOM}link") if ln.get("rel") == "self"]
    assert len(self_links) == 1
    feed_author = root.find(f"{ATOM}author/{ATOM}name") is not None
    for item in root.findall(f"{ATOM}entry"):
        for name in ("id", "title", "updated"):
            assert (item.findtext(f"{ATOM}{name}") or "").strip(), name
        assert feed_author or item.find(f"{ATOM}author/{ATOM}name") is not None
        has_alternate = any(
            ln.get("rel", "alternate") == "alternate" for ln in item.findall(f"{ATOM}link")
        )
        assert has_alternate or item.find(f"{ATOM}content") is not None


def check_json_feed(body: bytes, self_url: str) -> dict[str, Any]:
    """JSON Feed 1.1: version, title, feed_url, items with id and content_html or content_text."""
    document: dict[str, Any] = json.loads(body)
    assert document["version"] == JSON_FEED_VERSION
    assert isinstance(document["title"], str) and document["title"]
    # The self URL names the same output; its filters are in canonical order.
    assert urlsplit(document["feed_url"]).path == urlsplit(self_url).path
    assert isinstance(document["items"], list)
    for item in document["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert item.get("content_html") or item.get("content_text")
        for key in ("date_published", "date_modified"):
            assert key not in item or item[key].endswith("Z")
    return document


def fetch_valid(client: httpx.Client, path: str) -> Any:
    """GET an output and validate it for its format; the parsed feed (or the JSON document)."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    kind = urlsplit(path).path.rpartition(".")[2]
    if kind == "json":
        assert response.headers["content-type"] == "application/feed+json; charset=utf-8"
        return check_json_feed(response.content, PUBLIC + path)
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    if kind == "atom":
        check_atom(response.content)
        assert feed.version == "atom10"
    else:
        assert feed.version == "rss20"
    return feed


OUTPUTS = [
    "/feeds/all",
    "/feeds/district/uvao",
    "/feeds/district/kuzminki",
    "/feeds/district/otradnoe",  # empty
    "/feeds/topic/transport",
    "/feeds/district/uvao/topic/transport",
    "/feeds/district/svao/topic/sport",
    "/feeds/uvao-transport",
    "/feeds/elektrobusy",
    "/feeds/all?district=kuzminki,bibirevo",
    "/feeds/all?topic=sport&q=турнир",
    "/feeds/district/uvao?q=кузьминки&since=2026-11-27",
    "/feeds/district/kuzminki?limit=4",
]


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
@pytest.mark.parametrize("output", OUTPUTS)
def test_every_output_is_valid(client: httpx.Client, output: str, fmt: str) -> None:
    path, _, query = output.partition("?")
    fetch_valid(client, f"{path}.{fmt}" + (f"?{query}" if query else ""))


def test_formats_share_ids_dates_and_categories(client: httpx.Client) -> None:
    atom = fetch_valid(client, "/feeds/district/kuzminki.atom")
    rss = fetch_valid(client, "/feeds/district/kuzminki.rss")
    document = fetch_valid(client, "/feeds/district/kuzminki.json")
    assert [e.id for e in atom.entries] == [e.id for e in rss.entries]
    assert [e.id for e in atom.entries] == [i["id"] for i in document["items"]]
    assert atom.feed.id == f"{PUBLIC}/feeds/district/kuzminki"
    first = document["items"][0]
    assert first["authors"] == [{"name": "Кузьминки сегодня"}]
    assert "Кузьминки" in first["tags"] and "ЮВАО" in first["tags"]
    terms = {tag.term for tag in atom.entries[0].tags}
    assert {"kuzminki", "uvao"} <= terms


# --- filters -------------------------------------------------------------------------------


def titles(feed: Any) -> list[str]:
    return [e.title for e in feed.entries]


def test_full_text_query_matches_russian_word_forms(client: httpx.Client) -> None:
    # «электробус» finds «Электробусы», «кузьминки» finds «в Кузьминках» and «Кузьминок».
    found = titles(fetch_valid(client, "/feeds/all.atom?q=электробус&limit=200"))
    assert found and all("лектробус" in t for t in found)
    assert any("марьинцев" in t for t in found)
    both = titles(fetch_valid(client, "/feeds/all.atom?q=электробусы+кузьминки&limit=200"))
    assert both and all("Кузьминках" in t and "лектробус" in t for t in both)
    forms = titles(fetch_valid(client, "/feeds/all.atom?q=кузьминки&limit=200"))
    assert any("Кузьминок" in t for t in forms) and any("Кузьминках" in t for t in forms)
    assert titles(fetch_valid(client, "/feeds/all.atom?q=трамвай")) == []


def test_query_parameters_combine(client: httpx.Client) -> None:
    union = titles(fetch_valid(client, "/feeds/all.atom?district=marino,bibirevo"))
    assert sorted(union) == sorted(
        [
            "На Братиславской высадили кустарники",
            "Электробус довёз марьинцев до метро",
            "Бибиревские школьники выиграли турнир",
        ]
    )
    # On a district feed the parameters narrow it further.
    narrowed = titles(fetch_valid(client, "/feeds/district/uvao.atom?topic=transport&limit=200"))
    assert "Электробус довёз марьинцев до метро" in narrowed
    assert all("лектробус" in t for t in narrowed)
    assert titles(fetch_valid(client, "/feeds/district/svao.atom?district=kuzminki")) == []


def test_since_keeps_newer_stories(client: httpx.Client) -> None:
    # 12:00 UTC is 15:00 in Moscow; since=…T13:00 Moscow time means 10:00 UTC.
    feed = fetch_valid(client, "/feeds/district/kuzminki.atom?since=2026-11-27T13:00&limit=200")
    published = [e.published_parsed for e in feed.entries]
    assert published and all(p.tm_hour >= 10 and p.tm_mday == 27 for p in published)
    assert len(feed.entries) < len(
        fetch_valid(client, "/feeds/district/kuzminki.atom?limit=200").entries
    )


def test_combined_and_named_outputs(client: httpx.Client) -> None:
    combined = fetch_valid(client, "/feeds/district/uvao/topic/transport.atom?limit=200")
    named = fetch_valid(client, "/feeds/uvao-transport.atom?limit=200")
    assert titles(combined) == titles(named) and titles(named)
    assert named.feed.title == "ЮВАО: транспорт"
    assert named.feed.id == f"{PUBLIC}/feeds/uvao-transport"
    document = fetch_valid(client, "/feeds/elektrobusy.json")
    assert document["items"] and all("лектробус" in i["title"] for i in document["items"])


@pytest.mark.parametrize(
    ("path", "status", "hint"),
    [
        ("/feeds/all.atom?limit=0", 400, "limit"),
        ("/feeds/all.atom?limit=201", 400, "от 1 до 200"),
        ("/feeds/all.atom?since=вчера", 400, "since"),
        ("/feeds/all.atom?before=abc", 400, "before"),
        ("/feeds/all.atom?colour=red", 400, "Неизвестный параметр «colour»"),
        ("/feeds/all.atom?q=—", 400, "нет слов"),
        ("/feeds/all.rss?district=kuzminki,atlantida", 404, "«atlantida» не найден"),
        ("/feeds/nothing-here.json", 404, "Подборки: uvao-transport, elektrobusy"),
    ],
)
def test_bad_queries_explain_themselves(
    client: httpx.Client, path: str, status: int, hint: str
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert hint in response.text


# --- paging --------------------------------------------------------------------------------


def links(feed: Any) -> dict[str, str]:
    return {ln.rel: ln.href for ln in feed.feed.links}


@pytest.mark.parametrize(
    ("output", "fmt"),
    [
        ("district/kuzminki", "atom"),
        ("district/kuzminki", "rss"),
        ("district/uvao", "atom"),
        ("topic/transport", "atom"),
        ("district/uvao/topic/transport", "rss"),
    ],
)
def test_paging_a_district_visits_every_story_once(
    client: httpx.Client, storage: Storage, output: str, fmt: str
) -> None:
    seen: list[str] = []
    path: str | None = f"/feeds/{output}.{fmt}?limit=4"
    pages = 0
    while path is not None:
        feed = fetch_valid(client, path)
        seen += [e.id for e in feed.entries]
        pages += 1
        assert pages < 50
        nxt = links(feed).get("next")
        path = local(nxt) if nxt else None
    assert len(seen) == len(set(seen))
    areas = CONFIG.area(output.split("/")[1]) if output.startswith("district/") else None
    topic = frozenset({"transport"}) if "transport" in output else frozenset()
    if areas is None:
        assert set(seen) == ids_of(storage, frozenset(), topic)
    elif topic:
        assert set(seen) == ids_of(storage, areas) & ids_of(storage, frozenset(), topic)
    else:
        assert set(seen) == ids_of(storage, areas)
    assert len(seen) > 4 and pages == -(-len(seen) // 4)


@pytest.mark.parametrize("area", ["kuzminki", "uvao"])
def test_paging_json_and_back_again(client: httpx.Client, storage: Storage, area: str) -> None:
    pages: list[list[str]] = []
    url: str | None = f"{PUBLIC}/feeds/district/{area}.json?limit=5"
    while url:
        document = fetch_valid(client, local(url))
        pages.append([item["id"] for item in document["items"]])
        url = document.get("next_url")
    areas = CONFIG.area(area)
    assert areas is not None
    assert sum(len(p) for p in pages) == len(ids_of(storage, areas))
    # From the last XML page, rel="previous" walks back to the subscription document.
    path: str | None = f"/feeds/district/{area}.atom?limit=5"
    while True:
        feed = fetch_valid(client, path)
        nxt = links(feed).get("next")
        if not nxt:
            break
        path = local(nxt)
    back: list[list[str]] = []
    while path is not None:
        feed = fetch_valid(client, path)
        back.append([e.id for e in feed.entries])
        previous = links(feed).get("previous")
        path = local(previous) if previous else None
    assert back[::-1] == pages


def test_rfc5005_links_and_archive_marker(client: httpx.Client) -> None:
    first = client.get("/feeds/district/kuzminki.atom?limit=4")
    root = ET.fromstring(first.content)
    rels = {ln.get("rel"): ln.get("href") for ln in root.findall(f"{ATOM}link")}
    assert rels["first"] == rels["self"] == f"{PUBLIC}/feeds/district/kuzminki.atom?limit=4"
    assert rels["next"] == rels["prev-archive"]
    assert rels["hub"] == HUB
    assert root.find(f"{FH}archive") is None
    page = ET.fromstring(client.get(local(rels["next"])).content)
    page_rels = {ln.get("rel"): ln.get("href") for ln in page.findall(f"{ATOM}link")}
    assert page.find(f"{FH}archive") is not None
    assert page_rels["current"] == rels["self"]
    assert "hub" not in page_rels
    # The feed id is the same on every page and in every format.
    assert page.findtext(f"{ATOM}id") == root.findtext(f"{ATOM}id")
    rss = client.get(local(rels["next"]).replace(".atom", ".rss")).text
    assert 'rel="next"' in rss and "<fh:archive/>" in rss


# --- caching -------------------------------------------------------------------------------


def test_rendered_outputs_are_cached_until_a_story_changes(
    client: httpx.Client, storage: CountingStorage
) -> None:
    first = client.get("/feeds/district/marino.atom")
    queries = storage.story_queries
    again = client.get("/feeds/district/marino.atom")
    assert again.content == first.content
    assert storage.story_queries == queries  # served from memory
    assert (
        client.get(
            "/feeds/district/marino.atom", headers={"If-None-Match": first.headers["etag"]}
        ).status_code
        == 304
    )
    feed_id = next(f.feed_id for f in storage.enabled_feeds() if "marino" in f.url)
    later = NOW + timedelta(minutes=5)
    storage.apply(
        feed_id,
        UpdatePlan(
            new_items=(new_story("m3", "В Марьине открыли новый сквер", later, ("marino", "uvao")),)
        ),
        later,
    )
    changed = client.get(
        "/feeds/district/marino.atom", headers={"If-None-Match": first.headers["etag"]}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != first.headers["etag"]
    assert "В Марьине открыли новый сквер" in changed.text
    assert changed.headers["last-modified"] == "Fri, 27 Nov 2026 12:05:00 GMT"
    # A source refreshes every 5 minutes, so readers may keep a copy that long.
    assert changed.headers["cache-control"] == "public, max-age=300"


def test_every_format_answers_conditional_requests(client: httpx.Client) -> None:
    for fmt in ("atom", "rss", "json"):
        path = f"/feeds/district/uvao/topic/transport.{fmt}?limit=3"
        response = client.get(path)
        etag, modified = response.headers["etag"], response.headers["last-modified"]
        assert etag.startswith('"') and not etag.startswith("W/")
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
        assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304


# --- OPML ----------------------------------------------------------------------------------


def test_opml_lists_every_output_grouped(client: httpx.Client) -> None:
    response = client.get("/opml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/x-opml")
    body = ET.fromstring(response.content).find("body")
    assert body is not None
    groups = {g.get("text"): g for g in body.findall("outline")}
    assert list(groups) == ["Вся Москва", "Округа и районы", "Темы", "Подборки"]
    okrugs = groups["Округа и районы"].findall("outline")
    assert [o.get("text") for o in okrugs] == [o.name for o in CONFIG.okrugs]
    urls = [o.get("xmlUrl") for o in body.iter("outline") if o.get("xmlUrl")]
    expected = 1 + len(CONFIG.okrugs) + len(CONFIG.districts) + len(CONFIG.topics) + 2
    assert len(urls) == len(set(urls)) == expected
    assert f"{PUBLIC}/feeds/district/kuzminki.atom" in urls
    for url in urls:
        assert url is not None
        fetch_valid(client, local(url))
    rss = client.get("/opml?format=rss").text
    assert f"{PUBLIC}/feeds/topic/sport.rss" in rss


def test_a_version_ttl_serves_cached_outputs_until_it_expires(storage: CountingStorage) -> None:
    moments = [100.0]
    outputs_app = create_app(CONFIG, storage, version_ttl=1.0, monotonic=lambda: moments[0])
    with client_of(outputs_app) as ttl_client:
        before = ttl_client.get("/feeds/district/marino.json").json()
        queries = storage.story_queries
        feed_id = next(f.feed_id for f in storage.enabled_feeds() if "marino" in f.url)
        later = NOW + timedelta(minutes=5)
        plan = UpdatePlan(new_items=(new_story("m4", "Сквер у пруда", later, ("marino",)),))
        storage.apply(feed_id, plan, later)
        moments[0] += 0.5  # within the TTL: the stored change is not seen yet
        assert ttl_client.get("/feeds/district/marino.json").json() == before
        assert storage.story_queries == queries
        moments[0] += 1.0  # past it: the version is read again and the output re-rendered
        after = ttl_client.get("/feeds/district/marino.json").json()
        assert after["items"][0]["title"] == "Сквер у пруда"
