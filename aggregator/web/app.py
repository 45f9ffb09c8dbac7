"""The web shell: the Russian index page, the Atom, RSS and JSON feeds, OPML, a health check.

Handlers that touch storage are plain `def`: storage is synchronous SQLAlchemy, and Starlette
runs such handlers in its threadpool, so the event loop never waits on the database. Feed
handlers are async only to answer cached outputs without a thread hop; anything that needs
the database goes to the threadpool (`web.outputs.FeedOutputs.respond_async`). Repeated
requests for cached outputs are answered before routing (`web.fastpath`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from aggregator.domain import (
    Config,
    District,
    FeedHealth,
    Okrug,
    Story,
    StoryMember,
    StoryQuery,
)
from aggregator.errors import StorageError
from aggregator.metrics import Metrics
from aggregator.web.fastpath import FastFeeds
from aggregator.web.feeds import (
    FeedSpec,
    all_spec,
    area_spec,
    combined_spec,
    labels,
    named_spec,
    split_name,
    topic_spec,
)
from aggregator.web.opml import opml_response
from aggregator.web.outputs import CONTENT_TYPES, FeedOutputs
from aggregator.web.pages import SubscriberPages
from aggregator.web.status import HealthStore, StatusPages

HERE = Path(__file__).parent
MOSCOW = ZoneInfo("Europe/Moscow")
INDEX_STORIES = 20
__all__ = ["CONTENT_TYPES", "create_app", "okrug_views", "plural"]


class StoryStore(Protocol):
    """What the web needs from `aggregator.storage.Storage`."""

    def stories(self, query: StoryQuery) -> list[Story]: ...

    def feed_health(self, recent_since: datetime | None = None) -> list[FeedHealth]: ...

    def overdue_feeds(self, before: datetime) -> int: ...

    def band_index_rows(self) -> int: ...

    def change_version(self) -> int: ...

    def story(self, story_id: int) -> Story | None: ...

    def story_members(self, story_id: int) -> list[StoryMember]: ...


@dataclass(frozen=True)
class OkrugView:
    """An okrug on the index: current districts, and former settlements listed apart."""

    okrug: Okrug
    districts: tuple[District, ...]
    settlements: tuple[District, ...]


def create_app(
    config: Config,
    storage: StoryStore,
    *,
    clock: Callable[[], datetime] | None = None,
    metrics: Metrics | None = None,
    version_ttl: float = 0.0,
    monotonic: Callable[[], float] = time.monotonic,
) -> Starlette:
    """The Starlette application serving `config`'s feeds from `storage`.

    `metrics` is the process's registry (shared with its updater); `clock` gives UTC now.
    `version_ttl`: how long (s, by `monotonic`) cached outputs are served before storage's
    change version is read again; 0 reads it on every request.
    """
    site = _Site(config, storage, version_ttl, monotonic)
    health: HealthStore = storage
    status = StatusPages(
        health, site.templates, clock or _utc_now, metrics if metrics is not None else Metrics()
    )
    routes = [
        *status.routes(),
        *SubscriberPages(config, storage, site.templates, site.labels).routes(),
        Route("/", site.index),
        Route("/healthz", site.healthz),
        Route("/opml", site.opml),
        Route("/feeds/district/{area}/topic/{name}", site.combined_feed),
        Route("/feeds/district/{name}", site.area_feed),
        Route("/feeds/topic/{name}", site.topic_feed),
        Route("/feeds/{name}", site.all_feed),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={404: site.page_not_found},
        middleware=[Middleware(FastFeeds, outputs=site.outputs)],
    )


def _utc_now() -> datetime:
    # Only for callers that pass no clock (tests); app.py passes its own.
    return datetime.now(UTC)


def okrug_views(config: Config) -> list[OkrugView]:
    """The okrugs in config order with their districts sorted by Russian name."""
    views = []
    for okrug in config.okrugs:
        members = [d for d in map(config.district, okrug.districts) if d is not None]
        members.sort(key=lambda d: d.name.replace("ё", "е").replace("Ё", "Е"))
        views.append(
            OkrugView(
                okrug=okrug,
                districts=tuple(d for d in members if d.kind == "district"),
                settlements=tuple(d for d in members if d.kind == "settlement"),
            )
        )
    return views


def plural(count: int, one: str, few: str, many: str) -> str:
    """Russian plural agreement: 1 источник, 2 источника, 5 источников."""
    if count % 10 == 1 and count % 100 != 11:
        return one
    if count % 10 in (2, 3, 4) and count % 100 not in (12, 13, 14):
        return few
    return many


def moscow_time(moment: datetime) -> str:
    """A datetime as a Muscovite reads it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(MOSCOW).strftime("%d.%m.%Y, %H:%M")


def web_link(url: str | None) -> str | None:
    """The URL if it is http(s), else None: autoescaping does not stop a javascript: href."""
    if url and urlsplit(url).scheme.lower() in ("http", "https"):
        return url
    return None


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["msk"] = moscow_time
    env.filters["web_link"] = web_link
    env.globals["plural"] = plural
    return env


class _Site:
    """The request handlers, closed over the config, storage and templates."""

    def __init__(
        self,
        config: Config,
        storage: StoryStore,
        version_ttl: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.storage = storage
        self.labels = labels(config)
        self.okrugs = okrug_views(config)
        self.templates = _environment()
        self.public_url = config.service.public_url.rstrip("/")
        self.outputs = FeedOutputs(
            config, storage, self.labels, version_ttl=version_ttl, clock=clock
        )

    def index(self, request: Request) -> Response:
        stories = self.storage.stories(StoryQuery(limit=INDEX_STORIES))
        health = self.storage.feed_health()
        page = self.templates.get_template("index.html").render(
            okrugs=self.okrugs,
            topics=self.config.topics,
            stories=stories,
            labels=self.labels,
            okrug_list=self.config.okrugs,
            districts=self.config.district,
            feeds_total=sum(1 for h in health if h.enabled),
            feeds_failing=sum(1 for h in health if h.enabled and h.consecutive_errors > 0),
        )
        return HTMLResponse(page)

    def healthz(self, request: Request) -> Response:
        try:
            self.storage.stories(StoryQuery(limit=1))
        except StorageError:
            return PlainTextResponse("storage unavailable", status_code=503)
        return PlainTextResponse("ok")

    async def all_feed(self, request: Request) -> Response:
        slug, fmt = split_name(request.path_params["name"])
        named = self.config.output(slug)
        if fmt is not None and named is not None:
            return await self._feed(request, named_spec(self.config, named), fmt)
        if slug != "all" or fmt is None:
            names = ", ".join(o.name for o in self.config.outputs)
            extra = f" Подборки: {names}." if names else ""
            return self._not_found(
                f"Ленты «{request.url.path}» нет. Лента всей Москвы: "
                f"{self.public_url}/feeds/all.atom, .rss или .json.{extra}"
            )
        return await self._feed(request, all_spec(), fmt)

    async def combined_feed(self, request: Request) -> Response:
        area = request.path_params["area"]
        slug, fmt = split_name(request.path_params["name"])
        if fmt is None:
            return self._bad_format(request)
        if self.config.area(area) is None:
            return self._not_found(f"Район или округ «{area}» не найден.")
        spec = combined_spec(self.config, area, slug)
        if spec is None:
            known = ", ".join(t.slug for t in self.config.topics) or "темы не настроены"
            return self._not_found(f"Тема «{slug}» не найдена. Есть темы: {known}.")
        return await self._feed(request, spec, fmt)

    def opml(self, request: Request) -> Response:
        return opml_response(self.config, request)

    async def area_feed(self, request: Request) -> Response:
        slug, fmt = split_name(request.path_params["name"])
        if fmt is None:
            return self._bad_format(request)
        spec = area_spec(self.config, slug)
        if spec is None:
            return self._not_found(
                f"Район или округ «{slug}» не найден. Адрес ленты района выглядит так: "
                f"{self.public_url}/feeds/district/kuzminki.atom, округа — "
                f"{self.public_url}/feeds/district/uvao.rss."
            )
        return await self._feed(request, spec, fmt)

    async def topic_feed(self, request: Request) -> Response:
        slug, fmt = split_name(request.path_params["name"])
        if fmt is None:
            return self._bad_format(request)
        spec = topic_spec(self.config, slug)
        if spec is None:
            known = ", ".join(t.slug for t in self.config.topics) or "темы не настроены"
            return self._not_found(f"Тема «{slug}» не найдена. Есть темы: {known}.")
        return await self._feed(request, spec, fmt)

    async def page_not_found(self, request: Request, exc: Exception) -> Response:
        return self._not_found(f"Страницы «{request.url.path}» нет.")

    async def _feed(self, request: Request, spec: FeedSpec, fmt: str) -> Response:
        # Cached outputs are answered on the event loop; rendering runs in the threadpool.
        return await self.outputs.respond_async(request, spec, fmt)

    def _bad_format(self, request: Request) -> Response:
        return self._not_found(
            f"Ленты «{request.url.path}» нет: адрес ленты кончается на .atom, .rss или .json. "
            f"Все ленты перечислены на {self.public_url}/"
        )

    def _not_found(self, message: str) -> Response:
        text = f"{message}\nВсе районы, округа и темы: {self.public_url}/\n"
        return PlainTextResponse(text, status_code=404)
