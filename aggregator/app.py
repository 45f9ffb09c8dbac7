"""The composition root: builds config, storage, updater, scheduler and web app.

This is the only module that reads the environment and the real clock.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

from aggregator.config import load_config
from aggregator.domain import Config
from aggregator.notify import HubNotifier
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
        scheduler = UpdateScheduler(_updater(config, storage), utc_now)
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
        return asyncio.run(_updater(config, storage).run(feeds, utc_now(), progress))


def export_opml(config_path: Path, fmt: str) -> bytes:
    """The OPML list of every output of the configured service."""
    from aggregator.web.opml import build_opml

    return build_opml(load_config(config_path), fmt, utc_now())


def _updater(config: Config, storage: Storage) -> Updater:
    """The updater, pinging the WebSub hub after each cycle when one is configured."""
    return Updater(config, storage, HubNotifier(config, storage).after_cycle)


def count_enabled_feeds(config_path: Path) -> int:
    return sum(1 for source in load_config(config_path).sources if source.enabled)


def upgrade_database(db_url: str) -> None:
    Storage.open(db_url, upgrade=True).close()


OUTPUT_VERSION_TTL = 1.0
"""Seconds a served output may lag a stored change: spares the database a read per request."""


def _serve_http(config: Config, storage: Storage, host: str, port: int) -> None:
    app = create_app(config, storage, version_ttl=OUTPUT_VERSION_TTL)
    uvicorn.run(app, host=host, port=port, log_level="info")
