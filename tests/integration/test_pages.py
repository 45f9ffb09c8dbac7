"""Subscriber pages over a real Storage: district, story, search, and their 404s."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aggregator.web.pages import search_feed_path
from tests.integration.test_web import PUBLIC, client, storage  # noqa: F401 (fixtures)

if TYPE_CHECKING:
    import httpx


def test_search_names_the_narrowest_output() -> None:
    assert search_feed_path("", "", "") == ("/feeds/all", "")
    assert search_feed_path("kuzminki", "", "") == ("/feeds/district/kuzminki", "")
    assert search_feed_path("", "sport", "") == ("/feeds/topic/sport", "")
    assert search_feed_path("uvao", "sport", "метро ночью") == (
        "/feeds/district/uvao/topic/sport",
        "q=%D0%BC%D0%B5%D1%82%D1%80%D0%BE+%D0%BD%D0%BE%D1%87%D1%8C%D1%8E",
    )


def test_district_page_lists_its_feed_and_stories(client: httpx.Client) -> None:  # noqa: F811
    page = client.get("/district/uvao")
    assert page.status_code == 200
    assert f'value="{PUBLIC}/feeds/district/uvao.atom"' in page.text
    assert 'href="district/kuzminki"' in page.text
    assert 'href="feeds/district/uvao/topic/sport.rss"' in page.text
    assert 'href="story/' in page.text


def test_story_page_lists_every_source(client: httpx.Client) -> None:  # noqa: F811
    index = client.get("/").text
    story_id = int(index.split('href="story/', 1)[1].split('"', 1)[0])
    page = client.get(f"/story/{story_id}")
    assert page.status_code == 200
    assert '<ul class="sources">' in page.text
    assert client.get("/story/999999").status_code == 404


def test_search_yields_feed_urls_or_explains(client: httpx.Client) -> None:  # noqa: F811
    page = client.get("/search", params={"district": "kuzminki", "topic": "", "q": ""})
    assert page.status_code == 200
    for fmt in ("atom", "rss", "json"):
        assert f'value="{PUBLIC}/feeds/district/kuzminki.{fmt}"' in page.text
    bad = client.get("/search", params={"topic": "nosuch"})
    assert bad.status_code == 404
    assert "Тема «nosuch» не найдена" in bad.text
    assert client.get("/search").status_code == 200
    assert client.get("/district/nowhere").status_code == 404
