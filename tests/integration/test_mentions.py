"""District feeds carry stories that mention the district; `?source=own` keeps its own outlets.

A city outlet's story about a footbridge at Nekrasovka names the district only in its text; the
district paper carries its own stories. Real loopback feed server, real database, real parser.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import feedparser
import httpx
import yaml

from aggregator import app
from aggregator.devtools.feedserver import FeedServer
from aggregator.domain import AreaTag, StoryQuery
from aggregator.storage import Storage
from aggregator.web.app import create_app
from tests.integration.loopback import client_of

ROOT = Path(__file__).resolve().parents[2]
CITY = ("/mentions/city.xml", "Городские новости", "city")
PAPER = ("/mentions/nekrasovka.xml", "Некрасовка сегодня", "nekrasovka")
BRIDGE = "Между Некрасовкой и Люберцами построят пешеходный мост"
CLINIC = "На Покровской улице открылась новая поликлиника"
SHOW = "Выставка зимних пейзажей открылась в Некрасовке"
BIKES = "В Москве продлили сезон велопроката"


def write_config(directory: Path, server: FeedServer, sources: list[tuple[str, str, str]]) -> Path:
    directory.mkdir(exist_ok=True)
    for name in ("districts.yaml", "topics.yaml"):
        shutil.copy(ROOT / "config" / name, directory / name)
    feeds = [{"url": server.url(p), "title": t, "district": d} for p, t, d in sources]
    text = yaml.safe_dump({"feeds": feeds}, allow_unicode=True, sort_keys=False)
    (directory / "feeds.yaml").write_text(text, encoding="utf-8")
    return directory


def titles(client: httpx.Client, path: str) -> set[str]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return {entry.title for entry in parsed.entries}


def area_tags(storage: Storage, title: str) -> set[AreaTag]:
    story = next(s for s in storage.stories(StoryQuery(limit=100)) if s.title == title)
    return set(storage.area_tags(story.id))


def test_district_feed_includes_mentions_and_own_leaves_them_out(
    tmp_path: Path, feed_server: FeedServer, database_url: str
) -> None:
    config_dir = write_config(tmp_path / "config", feed_server, [CITY, PAPER])
    summary = app.fetch_once(config_dir, database_url)
    assert (summary.fetched, summary.failed) == (2, 0)

    with (
        app.open_service(config_dir, database_url) as (config, storage),
        client_of(create_app(config, storage)) as client,
    ):
        district = titles(client, "/feeds/district/nekrasovka.atom")
        own = titles(client, "/feeds/district/nekrasovka.atom?source=own")
        okrug = titles(client, "/feeds/district/uvao.rss")
        okrug_own = titles(client, "/feeds/district/uvao.rss?source=own")
        bad = client.get("/feeds/district/nekrasovka.atom?source=neighbours")

    assert district == {BRIDGE, CLINIC, SHOW}
    assert own == {CLINIC, SHOW}
    # an okrug's feed includes its districts, mentioned or own
    assert okrug == {BRIDGE, CLINIC, SHOW}
    assert okrug_own == {CLINIC, SHOW}
    assert bad.status_code == 404 and "source=own" in bad.text


def test_own_feed_has_its_own_id_and_self_link(
    tmp_path: Path, feed_server: FeedServer, database_url: str
) -> None:
    config_dir = write_config(tmp_path / "config", feed_server, [CITY, PAPER])
    app.fetch_once(config_dir, database_url)
    with (
        app.open_service(config_dir, database_url) as (config, storage),
        client_of(create_app(config, storage)) as client,
    ):
        full = feedparser.parse(client.get("/feeds/district/nekrasovka.atom").content)
        own = feedparser.parse(client.get("/feeds/district/nekrasovka.atom?source=own").content)
    assert full.feed.id != own.feed.id
    assert own.feed.id.endswith("?source=own")
    assert any(link.href.endswith(".atom?source=own") for link in own.feed.links)


def test_area_tags_say_why_and_a_source_outranks_a_mention(
    tmp_path: Path, feed_server: FeedServer, database_url: str
) -> None:
    city_only = write_config(tmp_path / "city", feed_server, [CITY])
    app.fetch_once(city_only, database_url)
    with app.open_service(city_only, database_url) as (_, storage):
        assert area_tags(storage, BRIDGE) == {
            AreaTag("nekrasovka", "mention"),
            AreaTag("uvao", "mention"),
        }
        assert area_tags(storage, SHOW) == {
            AreaTag("nekrasovka", "mention"),
            AreaTag("uvao", "mention"),
        }
        assert area_tags(storage, BIKES) == set()

    # The district paper carries the exhibition story too: it joins the same story, and the
    # district becomes the story's own.
    both = write_config(tmp_path / "both", feed_server, [CITY, PAPER])
    app.fetch_once(both, database_url)
    with app.open_service(both, database_url) as (_, storage):
        assert area_tags(storage, SHOW) == {
            AreaTag("nekrasovka", "source"),
            AreaTag("uvao", "source"),
        }
        assert area_tags(storage, BRIDGE) == {
            AreaTag("nekrasovka", "mention"),
            AreaTag("uvao", "mention"),
        }
        assert storage.counts()["stories"] == 4


def test_feed_categories_are_stored_for_reclassifying(
    tmp_path: Path, feed_server: FeedServer, database_url: str
) -> None:
    config_dir = write_config(tmp_path / "config", feed_server, [CITY])
    app.fetch_once(config_dir, database_url)
    with app.open_service(config_dir, database_url) as (_, storage):
        story = next(s for s in storage.stories(StoryQuery(limit=100)) if s.title == BRIDGE)
        texts = storage.item_texts(story.id)
    assert [t.categories for t in texts] == [("Транспорт и дороги",)]
    assert texts[0].outlet == "Городские новости"
