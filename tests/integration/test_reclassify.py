"""Reclassifying and explaining stored stories, through the app and the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from aggregator import app
from aggregator.devtools.feedserver import FeedServer
from aggregator.domain import AreaTag, Retag, Story, StoryQuery
from aggregator.reclassify import reclassify
from aggregator.storage import Storage
from tests.integration.test_mentions import BIKES, BRIDGE, CITY, PAPER, SHOW, write_config

ROOT = Path(__file__).resolve().parents[2]


def story(storage: Storage, title: str) -> Story:
    return next(s for s in storage.stories(StoryQuery(limit=100)) if s.title == title)


def add_topic(config_dir: Path, text: str) -> None:
    topics = config_dir / "topics.yaml"
    topics.write_text(topics.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_reclassify_follows_a_config_change_and_keeps_source_areas(
    tmp_path: Path, feed_server: FeedServer, database_url: str
) -> None:
    config_dir = write_config(tmp_path / "config", feed_server, [CITY, PAPER])
    app.fetch_once(config_dir, database_url)
    with app.open_service(config_dir, database_url) as (_, storage):
        assert "bridges" not in story(storage, BRIDGE).topics
        show = story(storage, SHOW)
        # a stale mention, as an older gazetteer might have left it
        storage.retag([Retag(show.id, ("culture",), ("arbat",))])
        assert AreaTag("arbat", "mention") in storage.area_tags(show.id)

    add_topic(
        config_dir,
        "  - slug: bridges\n    name: Мосты\n    keywords: [мост]\n    exclude: [мостовая]\n",
    )
    summary = app.reclassify_stories(config_dir, database_url, None)

    assert summary.stories == 4
    with app.open_service(config_dir, database_url) as (_, storage):
        bridge = story(storage, BRIDGE)
        assert "bridges" in bridge.topics and "transport" in bridge.topics
        assert set(storage.area_tags(bridge.id)) == {
            AreaTag("nekrasovka", "mention"),
            AreaTag("uvao", "mention"),
        }
        show = story(storage, SHOW)
        assert set(storage.area_tags(show.id)) == {
            AreaTag("nekrasovka", "source"),
            AreaTag("uvao", "source"),
        }
        assert story(storage, BIKES).topics == ("transport",)


def test_reclassify_since_leaves_older_stories(
    tmp_path: Path, feed_server: FeedServer, database_url: str
) -> None:
    config_dir = write_config(tmp_path / "config", feed_server, [CITY])
    app.fetch_once(config_dir, database_url)
    add_topic(config_dir, "  - slug: bridges\n    name: Мосты\n    keywords: [мост, велосипед]\n")
    with app.open_service(config_dir, database_url) as (config, storage):
        # BRIDGE was published on 27 November, BIKES on the 26th
        summary = reclassify(config, storage, since=datetime(2026, 11, 27, tzinfo=UTC))
        assert summary.stories == 1
        assert "bridges" in story(storage, BRIDGE).topics
        assert "bridges" not in story(storage, BIKES).topics
        assert storage.count_stories(datetime(2026, 11, 26, tzinfo=UTC)) == 2


def run_cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "AGGREGATOR_DATABASE_URL": database_url},
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_explain_names_the_mention_and_reclassify_runs(
    tmp_path: Path, feed_server: FeedServer, database_url: str
) -> None:
    config_dir = write_config(tmp_path / "config", feed_server, [CITY, PAPER])
    app.fetch_once(config_dir, database_url)
    with app.open_service(config_dir, database_url) as (_, storage):
        bridge_id = story(storage, BRIDGE).id
        show_id = story(storage, SHOW).id

    result = run_cli(
        "explain", str(bridge_id), "--config", str(config_dir), "-q", database_url=database_url
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "nekrasovka (Некрасовка) via mention" in out
    assert "title: «Некрасовкой»" in out
    assert "okrug of the mentioned Некрасовка" in out
    assert "feed categories «транспорт и дороги»" in out  # the city outlet's <category>

    shared = run_cli(
        "explain", str(show_id), "--config", str(config_dir), "-q", database_url=database_url
    )
    assert "nekrasovka (Некрасовка) via source" in shared.stdout
    assert "outlet Некрасовка сегодня (nekrasovka)" in shared.stdout

    missing = run_cli(
        "explain", "999999", "--config", str(config_dir), "-q", database_url=database_url
    )
    assert missing.returncode == 1 and "no story with id 999999" in missing.stderr

    again = run_cli(
        "reclassify",
        "--since",
        "3650d",
        "--config",
        str(config_dir),
        "-q",
        database_url=database_url,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("reclassified 4 stories")
    bad = run_cli(
        "reclassify", "--since", "month", "--config", str(config_dir), database_url=database_url
    )
    assert bad.returncode == 1 and "not a duration" in bad.stderr
