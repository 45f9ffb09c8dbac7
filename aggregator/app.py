"""The composition root: builds config, storage, updater, scheduler and web app.

This is the only module that reads the environment and the real clock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn

from aggregator.config import load_config
from aggregator.domain import Config
from aggregator.scheduler import TICK, UpdateScheduler
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


def worker_name() -> str:
    """This process's name in the leases it takes: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_service(config_path: Path, db_url: str, host: str, port: int) -> None:
    """The main job: the scheduler fetching feeds and the web server, in one process."""
    with open_service(config_path, db_url) as (config, storage):
        scheduler = UpdateScheduler(Updater(config, storage, worker_name()), utc_now)
        scheduler.start()
        try:
            _serve_http(config, storage, host, port)
        finally:
            scheduler.shutdown()


def run_worker(
    config_path: Path,
    db_url: str,
    name: str | None = None,
    tick: timedelta = TICK,
    lease: timedelta | None = None,
    parse_workers: int = 0,
) -> None:
    """The scheduler alone, sharing due feeds with other workers through leases; until SIGTERM."""
    owner = name or worker_name()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with open_service(config_path, db_url) as (config, storage):
        updater = Updater(config, storage, owner, lease, parse_workers)
        scheduler = UpdateScheduler(updater, utc_now, tick)
        scheduler.start()
        logging.getLogger(__name__).info("worker %s started (tick %s)", owner, tick)
        try:
            stop.wait()
        finally:
            scheduler.shutdown()
            updater.close()
            # Whatever is still leased was never started: let other workers take it at once.
            storage.release_leases(owner)


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


def count_enabled_feeds(config_path: Path) -> int:
    return sum(1 for source in load_config(config_path).sources if source.enabled)


def upgrade_database(db_url: str) -> None:
    Storage.open(db_url, upgrade=True).close()


def _serve_http(config: Config, storage: Storage, host: str, port: int) -> None:
    uvicorn.run(create_app(config, storage), host=host, port=port, log_level="info")
