"""HTML sources end to end: the loopback server serves pages in the district press template.

The preset's items go through normalize → dedupe → classify → store and come out in the
district's output feed; a `full_text` source gets each new item's page body.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import httpx
import pytest
import yaml

from aggregator import app
from aggregator.devtools.feedserver import FeedServer, Route
from aggregator.web.app import create_app
from tests.integration.loopback import client_of

ROOT = Path(__file__).resolve().parents[2]
TEASERS = ("Электробусы пошли", "поликлинику", "В Марфине высадили", "Автобус № 650")

LIST_WITH_ARTICLE = """<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><title>Марьинский вестник</title></head>
<body>
<div class="today">Сегодня 28 ноября 2026</div>
<section class="list">
  <div class="item">
    <div>Москва. Юго-Восточный административный округ</div>
    <div>Опубликовано 04 мая 2022 в 15:24 | Текст: Марьинский вестник</div>
    <h2><a href="{article}">В Марьине открылся новый сквер у пруда</a></h2>
    <p>Короткий анонс на странице списка.</p>
  </div>
  <div class="item">
    <div>Москва. Юго-Восточный административный округ</div>
    <div>Опубликовано 03 мая 2022 в 09:10 | Текст: Марьинский вестник</div>
    <h2><a href="/missing-article/">Ярмарка выходного дня вернулась на Перерву</a></h2>
    <p>Торговые ряды работают по субботам и воскресеньям.</p>
  </div>
</section>
<aside><h3>Читайте также</h3><a href="/x/">Автобус № 650 изменит маршрут</a></aside>
</body></html>
"""


@pytest.fixture
def config_dir(tmp_path: Path, feed_server: FeedServer) -> Path:
    article = feed_server.url("/html/maryino-article.html")
    body = LIST_WITH_ARTICLE.format(article=article).encode()
    feed_server.set_route("/maryino/news/", Route(body=body, content_type="text/html"))
    directory = tmp_path / "config"
    directory.mkdir()
    for name in ("districts.yaml", "topics.yaml"):
        shutil.copy(ROOT / "config" / name, directory / name)
    press = {"kind": "html", "preset": "district-press"}
    feeds = [
        {"url": feed_server.url("/html/uv-kurier-news.html"), "title": "«Юго-Восточный курьер»"}
        | {"district": "uvao"}
        | press,
        {"url": feed_server.url("/html/zbulvar-news.html"), "title": "«Звёздный бульвар»"}
        | {"district": "svao"}
        | press,
        {"url": feed_server.url("/maryino/news/"), "title": "«Марьинский вестник»"}
        | {"district": "marino", "full_text": True}
        | press,
    ]
    text = yaml.safe_dump({"feeds": feeds}, allow_unicode=True, sort_keys=False)
    (directory / "feeds.yaml").write_text(text, encoding="utf-8")
    return directory


@pytest.fixture
def client(config_dir: Path, database_url: str) -> Iterator[httpx.Client]:
    with (
        app.open_service(config_dir, database_url) as (config, storage),
        client_of(create_app(config, storage)) as http,
    ):
        yield http


def entries(client: httpx.Client, path: str) -> list[feedparser.FeedParserDict]:
    parsed = feedparser.parse(client.get(path).content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return list(parsed.entries)


def published(entry: feedparser.FeedParserDict) -> datetime:
    return datetime(*entry.published_parsed[:6], tzinfo=UTC)


def test_preset_items_reach_the_district_feeds(
    config_dir: Path, database_url: str, client: httpx.Client
) -> None:
    summary = app.fetch_once(config_dir, database_url)
    assert (summary.fetched, summary.failed) == (3, 0), summary.failures
    assert summary.new_items == 3 + 2 + 2

    okrug = {e.title: e for e in entries(client, "/feeds/district/uvao.atom")}
    assert set(okrug) == {
        "В Кузьминках завершили капремонт шести домов",
        "В парке «Кузьминки» открылся каток с искусственным льдом",
        "В Некрасовке построят школу на 1100 учеников",
        "В Марьине открылся новый сквер у пруда",  # Марьино is in ЮВАО
        "Ярмарка выходного дня вернулась на Перерву",
    }
    kapremont = okrug["В Кузьминках завершили капремонт шести домов"]
    assert published(kapremont) == datetime(2022, 5, 4, 12, 24, tzinfo=UTC)
    assert kapremont.link.endswith("/news/2022/05/04/kapremont-v-kuzminkakh/")

    svao = {e.title: e for e in entries(client, "/feeds/district/svao.atom")}
    assert published(svao["В Бибиреве открыли детский сад на 250 мест"]) == datetime(
        2023, 5, 19, 8, 40, tzinfo=UTC
    )

    everything = client.get("/feeds/all.atom").text
    for teaser in TEASERS:
        assert teaser not in everything
    assert "Опубликовано" not in everything
    # every item has its own page date, never the header's "today" or the time of the fetch
    assert all(published(e).year < 2026 for e in entries(client, "/feeds/all.atom"))


def test_full_text_replaces_the_teaser_with_the_article_body(
    config_dir: Path, database_url: str, client: httpx.Client, feed_server: FeedServer
) -> None:
    app.fetch_once(config_dir, database_url)

    marino = {e.title: e for e in entries(client, "/feeds/district/marino.atom")}
    skver = marino["В Марьине открылся новый сквер у пруда"].content[0].value
    assert "Короткий анонс" not in skver
    assert "Люблинского пруда" in skver and "воркаута" in skver
    for dropped in ("Автобус № 650", "Фото:", "Текст:", "ВКонтакте", "Читайте"):
        assert dropped not in skver
    # the article that cannot be fetched keeps its list-page lead
    fair = marino["Ярмарка выходного дня вернулась на Перерву"].content[0].value
    assert "по субботам и воскресеньям" in fair

    # a second cycle: the list page is unchanged (304), no article page is fetched again
    feed_server.clear_requests()
    again = app.fetch_once(config_dir, database_url)
    assert again.not_modified == 3
    paths = [request.path for request in feed_server.requests]
    assert "/html/maryino-article.html" not in paths

    # the list page changes (a new ETag): the stored full text is not replaced by the teaser
    article = feed_server.url("/html/maryino-article.html")
    changed = LIST_WITH_ARTICLE.format(article=article).replace("Сегодня 28", "Сегодня 29")
    feed_server.set_route("/maryino/news/", Route(body=changed.encode(), content_type="text/html"))
    third = app.fetch_once(config_dir, database_url)
    assert (third.fetched, third.new_items, third.updated_items) == (1, 0, 0)
    marino = {e.title: e for e in entries(client, "/feeds/district/marino.atom")}
    assert "воркаута" in marino["В Марьине открылся новый сквер у пруда"].content[0].value


def test_a_page_without_items_is_a_recorded_failure(
    tmp_path: Path, database_url: str, feed_server: FeedServer
) -> None:
    directory = tmp_path / "other"
    directory.mkdir()
    for name in ("districts.yaml", "topics.yaml"):
        shutil.copy(ROOT / "config" / name, directory / name)
    source = {"url": feed_server.url("/html/bibirevo-home.html"), "title": "«Бибирево»"}
    source |= {"district": "bibirevo", "kind": "html", "preset": "district-press"}
    text = yaml.safe_dump({"feeds": [source]}, allow_unicode=True, sort_keys=False)
    (directory / "feeds.yaml").write_text(text, encoding="utf-8")

    summary = app.fetch_once(directory, database_url)

    assert (summary.fetched, summary.failed) == (0, 1)
    assert "HTML page, no items" in summary.failures[0]
