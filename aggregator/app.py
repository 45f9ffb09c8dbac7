"""The composition root: builds config, storage, updater, scheduler and web app.

This is the only module that reads the environment and the real clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import uvicorn
from starlette.applications import Starlette

from aggregator import dedupe, merge_explain, probe
from aggregator.classify import compile_topics
from aggregator.config import load_config
from aggregator.domain import CITY, DEFAULT_PUBLIC_URL, Config, Source
from aggregator.explain import explain_story
from aggregator.fetch import Fetcher
from aggregator.gazetteer import build_gazetteer
from aggregator.health import RECENT, StatusRow, status_rows
from aggregator.htmlsource import DISTRICT_PRESS
from aggregator.metrics import Metrics
from aggregator.notify import HubNotifier
from aggregator.reclassify import ReclassifySummary, reclassify
from aggregator.scheduler import TICK, UpdateScheduler
from aggregator.storage import Storage
from aggregator.update import (
    LOCAL_OWNER,
    CycleSummary,
    ProgressCallback,
    Updater,
    tune_gc_for_updates,
)
from aggregator.web.app import create_app

CONFIG_ENV = "AGGREGATOR_CONFIG"
DATABASE_ENV = "AGGREGATOR_DATABASE_URL"
_LISTEN_ENV = "AGGREGATOR_LISTEN"
"""Set by `serve --workers` for its processes, so their self links follow --host/--port."""
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


def run_service(
    config_path: Path, db_url: str, host: str, port: int, *, quiet: bool = False
) -> None:
    """The main job: the scheduler fetching feeds and the web server, in one process."""
    with open_service(config_path, db_url) as (config, storage):
        metrics = Metrics()
        scheduler = UpdateScheduler(_updater(config, storage, metrics, worker_name()), utc_now)
        scheduler.start()
        try:
            _serve_http(config, storage, host, port, metrics, quiet=quiet)
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
        updater = _updater(config, storage, Metrics(), owner, lease, parse_workers)
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


def serve(
    config_path: Path, db_url: str, host: str, port: int, *, workers: int = 1, quiet: bool = False
) -> None:
    """The web side alone, in `workers` processes sharing one socket; fetching runs elsewhere.

    Each worker keeps its own output cache; they agree through the database's change version.
    """
    with open_service(config_path, db_url) as (config, storage):
        if workers <= 1:
            _serve_http(config, storage, host, port, quiet=quiet)
            return
    # Workers are spawned processes that import `web_worker`: the environment tells them
    # which config and database to open.
    os.environ[CONFIG_ENV] = str(config_path.resolve())
    os.environ[DATABASE_ENV] = db_url
    os.environ[_LISTEN_ENV] = f"{host} {port}"
    uvicorn.run(
        "aggregator.app:web_worker",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        **_uvicorn_logging(quiet),
    )


def web_worker() -> Starlette:
    """The web app of one `serve --workers` process, from $AGGREGATOR_CONFIG and _DATABASE_URL."""
    config = load_config(config_dir(None))
    host, _, port = os.environ.get(_LISTEN_ENV, "127.0.0.1 8000").partition(" ")
    config = with_listen_url(config, host, int(port))
    storage = Storage.open(database_url(), upgrade=False)
    return create_app(config, storage, clock=utc_now, version_ttl=OUTPUT_VERSION_TTL)


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


def _updater(
    config: Config,
    storage: Storage,
    metrics: Metrics | None = None,
    owner: str = LOCAL_OWNER,
    lease: timedelta | None = None,
    parse_workers: int = 0,
) -> Updater:
    """The updater, pinging the WebSub hub after each cycle when one is configured."""
    tune_gc_for_updates()
    return Updater(
        config,
        storage,
        metrics,
        HubNotifier(config, storage).after_cycle,
        owner=owner,
        lease=lease,
        parse_workers=parse_workers,
    )


def feed_status(config_path: Path, db_url: str) -> list[StatusRow]:
    """Every feed's health, failing feeds first, as `aggregator status` prints it."""
    with open_service(config_path, db_url) as (_config, storage):
        return status_rows(storage.feed_health(utc_now() - RECENT))


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


def explain(config_path: Path, db_url: str, story_id: int) -> str | None:
    """Why a stored story has its topics and areas, or None for an unknown story."""
    with open_service(config_path, db_url) as (config, storage):
        story = storage.story(story_id)
        if story is None:
            return None
        return explain_story(
            story,
            storage.item_texts(story_id),
            storage.area_tags(story_id),
            config,
            compile_topics(config.topics),
            build_gazetteer(config),
        )


def count_stories(config_path: Path, db_url: str, within: timedelta | None) -> int:
    with open_service(config_path, db_url) as (_, storage):
        return storage.count_stories(None if within is None else utc_now() - within)


def reclassify_stories(
    config_path: Path,
    db_url: str,
    within: timedelta | None,
    progress: Callable[[int], None] | None = None,
) -> ReclassifySummary:
    """Recompute the topics and mentioned areas of stories published within `within` (or all)."""
    with open_service(config_path, db_url) as (config, storage):
        since = None if within is None else utc_now() - within
        return reclassify(config, storage, since, progress)


def show_story(config_path: Path, db_url: str, story_id: int) -> str | None:
    """A story with its members and their similarity to the lead item, or None if unknown."""
    with open_service(config_path, db_url) as (config, storage):
        story = storage.story(story_id)
        if story is None:
            return None
        members = storage.story_members(story_id)
    limits = dedupe.thresholds(config.service.dedupe)
    return merge_explain.describe(story, members, merge_explain.similarities(members, limits))


def export_stories(config_path: Path, db_url: str, since: datetime | None, out: TextIO) -> int:
    """Write every story first seen since `since` as JSON Lines to `out`; return the count."""
    with open_service(config_path, db_url) as (config, storage):
        limits = dedupe.thresholds(config.service.dedupe)
        districts = frozenset(d.slug for d in config.districts)
        count = 0
        for story in storage.stories_since(since):
            members = storage.story_members(story.id)
            scores = merge_explain.similarities(members, limits)
            line = merge_explain.record(story, members, scores, districts)
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            count += 1
    return count


OUTPUT_VERSION_TTL = 1.0
"""Seconds a served output may lag a stored change: spares the database a read per request."""


def with_listen_url(config: Config, host: str, port: int) -> Config:
    """Without a configured `public_url`, feeds link to where this server listens, not to the
    default port, so `--port 9000` alone gives working self links."""
    if config.service.public_url != DEFAULT_PUBLIC_URL:
        return config
    # A wildcard address is not reachable as a link; loopback is, from the machine itself.
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    service = replace(config.service, public_url=f"http://{shown}:{port}")
    return replace(config, service=service)


def _serve_http(
    config: Config,
    storage: Storage,
    host: str,
    port: int,
    metrics: Metrics | None = None,
    *,
    quiet: bool = False,
) -> None:
    config = with_listen_url(config, host, port)
    web = create_app(
        config, storage, clock=utc_now, metrics=metrics, version_ttl=OUTPUT_VERSION_TTL
    )
    uvicorn.run(web, host=host, port=port, **_uvicorn_logging(quiet))


def _uvicorn_logging(quiet: bool) -> dict[str, Any]:
    """uvicorn's log settings: `-q` also drops the access log (a log call per request)."""
    return {"log_level": "warning" if quiet else "info", "access_log": not quiet}
