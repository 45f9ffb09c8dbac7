"""The composition root: builds config, storage, updater, scheduler and web app.

This is the only module that reads the environment and the real clock.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import uvicorn

from aggregator import dedupe, explain, probe
from aggregator.config import load_config
from aggregator.domain import CITY, Config, Source
from aggregator.fetch import Fetcher
from aggregator.htmlsource import DISTRICT_PRESS
from aggregator.scheduler import UpdateScheduler
from aggregator.storage import Storage
from aggregator.update import CycleSummary, ProgressCallback, Updater
from aggregator.web.app import create_app

CONFIG_ENV = "AGGREGATOR_CONFIG"
DATABASE_ENV = "AGGREGATOR_DATABASE_URL"
DEFAULT_CONFIG_DIR = "config"
DEFAULT_DATABASE_URL = "sqlite:///data/aggregator.db"


def utc_now() -> datetime:
    return datetime.now(UTC)


def config_dir(option: str | None) -> Path:
    """The config directory: the --config option, else $AGGREGATOR_CONFIG, else ./config."""
    return Path(option or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_DIR)


def database_url() -> str:
    """The database: $AGGREGATOR_DATABASE_URL, else a SQLite file under data/."""
    return os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE_URL


@contextmanager
def open_service(config_path: Path, db_url: str) -> Iterator[tuple[Config, Storage]]:
    """Load and validate the config, upgrade the database and sync the configured feeds."""
    config = load_config(config_path)
    storage = Storage.open(db_url, upgrade=True)
    try:
        storage.sync_sources(config.sources, utc_now())
        yield config, storage
    finally:
        storage.close()


def run_service(config_path: Path, db_url: str, host: str, port: int) -> None:
    """The main job: the scheduler fetching feeds and the web server, in one process."""
    with open_service(config_path, db_url) as (config, storage):
        scheduler = UpdateScheduler(Updater(config, storage), utc_now)
        scheduler.start()
        try:
            _serve_http(config, storage, host, port)
        finally:
            scheduler.shutdown()


def serve(config_path: Path, db_url: str, host: str, port: int) -> None:
    """The web side alone, for deployments where workers fetch elsewhere."""
    with open_service(config_path, db_url) as (config, storage):
        _serve_http(config, storage, host, port)


def fetch_once(
    config_path: Path, db_url: str, progress: ProgressCallback | None = None
) -> CycleSummary:
    """Fetch every enabled feed once, store what is new, and return the counts."""
    with open_service(config_path, db_url) as (config, storage):
        feeds = storage.enabled_feeds()
        return asyncio.run(Updater(config, storage).run(feeds, utc_now(), progress))


def discover_site(
    config_path: Path, url: str
) -> tuple[list[probe.Candidate], probe.ProbeReport | None]:
    """The feeds found for a site; without any, how the page reads with the district preset."""
    config = load_config(config_path)

    async def look() -> tuple[list[probe.Candidate], probe.ProbeReport | None]:
        async with Fetcher(config.service) as fetcher:
            found = await probe.discover(fetcher, url)
            if found:
                return found, None
            page = Source(url, "", CITY, kind="html", preset=DISTRICT_PRESS)
            return found, await probe.probe_source(fetcher, page, utc_now())

    return asyncio.run(look())


def probe_configured(config_path: Path, which: str = "enabled") -> list[probe.ProbeReport]:
    """Fetch the configured sources once (`enabled`, `disabled` or `all`) and report on each."""
    config = load_config(config_path)
    sources = [
        s
        for s in config.sources
        if which == "all" or (s.enabled if which == "enabled" else not s.enabled)
    ]

    async def run() -> list[probe.ProbeReport]:
        async with Fetcher(config.service) as fetcher:
            return await probe.probe_sources(fetcher, sources, utc_now())

    return asyncio.run(run())


def count_enabled_feeds(config_path: Path) -> int:
    return sum(1 for source in load_config(config_path).sources if source.enabled)


def upgrade_database(db_url: str) -> None:
    Storage.open(db_url, upgrade=True).close()


def show_story(config_path: Path, db_url: str, story_id: int) -> str | None:
    """A story with its members and their similarity to the lead item, or None if unknown."""
    config = load_config(config_path)
    storage = Storage.open(db_url, upgrade=True)
    try:
        story = storage.story(story_id)
        if story is None:
            return None
        members = storage.story_members(story_id)
    finally:
        storage.close()
    limits = dedupe.thresholds(config.service.dedupe)
    return explain.describe(story, members, explain.similarities(members, limits))


def export_stories(config_path: Path, db_url: str, since: datetime | None, out: TextIO) -> int:
    """Write every story first seen since `since` as JSON Lines to `out`; return the count."""
    config = load_config(config_path)
    limits = dedupe.thresholds(config.service.dedupe)
    districts = frozenset(d.slug for d in config.districts)
    storage = Storage.open(db_url, upgrade=True)
    count = 0
    try:
        for story in storage.stories_since(since):
            members = storage.story_members(story.id)
            scores = explain.similarities(members, limits)
            line = explain.record(story, members, scores, districts)
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            count += 1
    finally:
        storage.close()
    return count


def _serve_http(config: Config, storage: Storage, host: str, port: int) -> None:
    uvicorn.run(create_app(config, storage), host=host, port=port, log_level="info")
