"""The offline demo's city stories, republished with light edits by several district papers,
appear once each in /feeds/all.atom with every outlet that carried them listed as a source."""

from __future__ import annotations

from pathlib import Path

import feedparser

from aggregator import app
from aggregator.config import load_config
from aggregator.render import SOURCES_HEADING
from aggregator.web.app import create_app
from tests.integration.loopback import client_of

# Each city story by a phrase of its text, and the demo outlets whose feeds carry it.
CITY_STORIES = {
    "соснов": {
        "Юго-Восточный курьер",
        "Кузьминки сегодня",
        "Митино сегодня",
        "Газета «Бибирево»",
        "Солнцево: новости района",
    },
    "450 двор": {
        "Юго-Восточный курьер",
        "Кузьминки сегодня",
        "Митино сегодня",
        "Марьинский вестник",
        "Отрадное: районная газета",
    },
    "диспансеризац": {
        "Юго-Восточный курьер",
        "Марьинский вестник",
        "Строгино онлайн",
        "Вестник Царицына",
    },
}


def all_atom(config_dir: Path, database_url: str) -> feedparser.FeedParserDict:
    with (
        app.open_service(config_dir, database_url) as (config, storage),
        client_of(create_app(config, storage)) as client,
    ):
        response = client.get("/feeds/all.atom")
    assert response.status_code == 200
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0
    return parsed


def entry_text(entry: feedparser.FeedParserDict) -> str:
    return f"{entry.title} {entry.get('summary', '')}"


def test_each_city_story_appears_once_with_its_sources(
    demo_config: Path, database_url: str
) -> None:
    summary = app.fetch_once(demo_config, database_url)
    enabled = [s for s in load_config(demo_config).sources if s.enabled]
    assert summary.failed == 0 and summary.fetched == len(enabled) >= 9
    parsed = all_atom(demo_config, database_url)
    titles = [entry.title for entry in parsed.entries]
    assert len(titles) == len(set(titles))
    for phrase, outlets in CITY_STORIES.items():
        matching = [e for e in parsed.entries if phrase.lower() in entry_text(e).lower()]
        assert len(matching) == 1, (phrase, [e.title for e in matching])
        content = matching[0].content[0].value
        assert SOURCES_HEADING in content
        listed = content.split(SOURCES_HEADING, 1)[1]
        assert all(outlet in listed for outlet in outlets), (phrase, listed)
    # Every demo item is in exactly one story: the stories hold all the items.
    merged = sum(len(outlets) - 1 for outlets in CITY_STORIES.values())
    assert summary.new_stories == summary.new_items - merged


def test_a_second_fetch_keeps_entry_ids_and_sources(demo_config: Path, database_url: str) -> None:
    app.fetch_once(demo_config, database_url)
    first = all_atom(demo_config, database_url)
    again = app.fetch_once(demo_config, database_url)
    assert again.new_items == 0 and again.new_stories == 0
    second = all_atom(demo_config, database_url)
    assert [e.id for e in first.entries] == [e.id for e in second.entries]
    assert [e.content[0].value for e in first.entries] == [
        e.content[0].value for e in second.entries
    ]
