"""Explaining and exporting stories: `aggregator story ID`, `aggregator export stories` and the
/story/{id} page, over the demo feeds in a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from aggregator import app
from aggregator.domain import StoryQuery
from aggregator.web.app import create_app
from tests.integration.loopback import client_of

ROOT = Path(__file__).resolve().parents[2]
METRO_OUTLETS = {
    "Юго-Восточный курьер",
    "Кузьминки сегодня",
    "Митино сегодня",
    "Газета «Бибирево»",
    "Солнцево: новости района",
}


def metro_story_id(config_dir: Path, database_url: str) -> int:
    with app.open_service(config_dir, database_url) as (_, storage):
        [story] = [s for s in storage.stories(StoryQuery(limit=500)) if "Сосновая роща" in s.title]
    return story.id


def cli(config_dir: Path, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator", *args, "--config", str(config_dir), "-q"],
        capture_output=True,
        text=True,
        env={**os.environ, "AGGREGATOR_DATABASE_URL": db},
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_story_page_lists_every_source(demo_config: Path, database_url: str) -> None:
    app.fetch_once(demo_config, database_url)
    story_id = metro_story_id(demo_config, database_url)
    with (
        app.open_service(demo_config, database_url) as (config, storage),
        client_of(create_app(config, storage)) as client,
    ):
        page = client.get(f"/story/{story_id}")
        missing = client.get("/story/999999")
        index = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "5 публикаций в 5 изданиях" in page.text and "первая публикация" in page.text
    assert all(outlet in page.text for outlet in METRO_OUTLETS)
    assert page.text.count("сходство с первой") == 4
    assert 'href="https://uv-kurier.example/news/transport/sosnovaya-roshcha-dekabr"' in page.text
    assert missing.status_code == 404 and "Такой новости нет" in missing.text
    assert f'href="story/{story_id}"' in index.text


def test_story_command_explains_the_merge(demo_config: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'agg.db'}"
    app.fetch_once(demo_config, db)
    story_id = metro_story_id(demo_config, db)
    result = cli(demo_config, db, "story", str(story_id))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"story {story_id}: ")
    assert "members (5)" in result.stdout
    scored = [line for line in lines if line.strip().startswith("[")]
    assert len(scored) == 5 and "lead" in scored[0]
    assert all(0.4 <= float(line.split("]")[0].strip(" [")) <= 1.0 for line in scored[1:])
    assert all(any(f"] {outlet}: " in line for line in scored) for outlet in METRO_OUTLETS)
    unknown = cli(demo_config, db, "story", "424242")
    assert unknown.returncode == 1 and "no story with id 424242" in unknown.stderr


def test_export_writes_one_story_per_line(demo_config: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'agg.db'}"
    summary = app.fetch_once(demo_config, db)
    out = tmp_path / "stories.jsonl"
    result = cli(
        demo_config, db, "export", "stories", "--since", "2026-01-01", "--output", str(out)
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == summary.new_stories
    assert len({r["id"] for r in records}) == len(records)
    assert all(
        set(r) == {"id", "title", "first_seen", "topics", "districts", "members"} for r in records
    )
    assert sum(len(r["members"]) for r in records) == summary.new_items
    [metro] = [r for r in records if r["id"] == metro_story_id(demo_config, db)]
    assert {m["outlet"] for m in metro["members"]} == METRO_OUTLETS
    assert metro["members"][0]["similarity"] == 1.0
    assert all(m["item_url"].startswith("http") and m["feed_url"] for m in metro["members"])
    assert "kuzminki" in metro["districts"] and "uvao" not in metro["districts"]
    later = cli(demo_config, db, "export", "stories", "--since", "2100-01-01")
    assert later.returncode == 0 and later.stdout == ""
    bad = cli(demo_config, db, "export", "stories", "--since", "вчера")
    assert bad.returncode == 1 and "not a date" in bad.stderr
