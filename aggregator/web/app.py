"""The web shell: the Russian index page, the Atom and RSS feeds, and a health check.

Handlers that touch storage are plain `def`: storage is synchronous SQLAlchemy, and Starlette
runs such handlers in its threadpool, so the event loop never waits on the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from aggregator import dedupe
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
from aggregator.render import render_atom, render_rss
from aggregator.web.caching import EPOCH, not_modified, strong_etag, validator_headers
from aggregator.web.feeds import FeedSpec, all_spec, area_spec, labels, split_name, topic_spec
from aggregator.web.story import StoryPage

HERE = Path(__file__).parent
MOSCOW = ZoneInfo("Europe/Moscow")
INDEX_STORIES = 20
CONTENT_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
}
RENDERERS = {"atom": render_atom, "rss": render_rss}


class StoryStore(Protocol):
    """What the web needs from `aggregator.storage.Storage`."""

    def stories(self, query: StoryQuery) -> list[Story]: ...

    def feed_health(self) -> list[FeedHealth]: ...

    def story(self, story_id: int) -> Story | None: ...

    def story_members(self, story_id: int) -> list[StoryMember]: ...


@dataclass(frozen=True)
class OkrugView:
    """An okrug on the index: current districts, and former settlements listed apart."""

    okrug: Okrug
    districts: tuple[District, ...]
    settlements: tuple[District, ...]


def create_app(config: Config, storage: StoryStore) -> Starlette:
    """The Starlette application serving `config`'s feeds from `storage`."""
    site = _Site(config, storage)
    routes = [
        Route("/", site.index),
        Route("/healthz", site.healthz),
        Route("/feeds/district/{name}", site.area_feed),
        Route("/feeds/topic/{name}", site.topic_feed),
        Route("/feeds/{name}", site.all_feed),
        Route(
            "/story/{story_id:int}",
            StoryPage(
                storage,
                site.templates,
                site.labels,
                dedupe.thresholds(config.service.dedupe),
                site.public_url,
            ).page,
        ),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={404: site.page_not_found})


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

    def __init__(self, config: Config, storage: StoryStore) -> None:
        self.config = config
        self.storage = storage
        self.labels = labels(config)
        self.okrugs = okrug_views(config)
        self.templates = _environment()
        self.public_url = config.service.public_url.rstrip("/")

    def index(self, request: Request) -> Response:
        stories = self.storage.stories(StoryQuery(limit=INDEX_STORIES))
        health = self.storage.feed_health()
        page = self.templates.get_template("index.html").render(
            okrugs=self.okrugs,
            topics=self.config.topics,
            stories=stories,
            labels=self.labels,
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

    def all_feed(self, request: Request) -> Response:
        slug, fmt = split_name(request.path_params["name"])
        if slug != "all" or fmt is None:
            return self._not_found(
                f"Ленты «{request.url.path}» нет. Лента всей Москвы: "
                f"{self.public_url}/feeds/all.atom или {self.public_url}/feeds/all.rss."
            )
        return self._feed(request, all_spec(), fmt)

    def area_feed(self, request: Request) -> Response:
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
        return self._feed(request, spec, fmt)

    def topic_feed(self, request: Request) -> Response:
        slug, fmt = split_name(request.path_params["name"])
        if fmt is None:
            return self._bad_format(request)
        spec = topic_spec(self.config, slug)
        if spec is None:
            known = ", ".join(t.slug for t in self.config.topics) or "темы не настроены"
            return self._not_found(f"Тема «{slug}» не найдена. Есть темы: {known}.")
        return self._feed(request, spec, fmt)

    async def page_not_found(self, request: Request, exc: Exception) -> Response:
        return self._not_found(f"Страницы «{request.url.path}» нет.")

    def _feed(self, request: Request, spec: FeedSpec, fmt: str) -> Response:
        stories = self.storage.stories(spec.query(self.config.service.feed_size))
        updated = max((s.updated for s in stories), default=EPOCH)
        meta = spec.meta(self.public_url, fmt, updated)
        body = RENDERERS[fmt](meta, stories, labels=self.labels)
        etag = strong_etag(body)
        headers = validator_headers(etag, updated)
        if not_modified(request.headers, etag, updated):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=CONTENT_TYPES[fmt], headers=headers)

    def _bad_format(self, request: Request) -> Response:
        return self._not_found(
            f"Ленты «{request.url.path}» нет: адрес ленты кончается на .atom или .rss. "
            f"Все ленты перечислены на {self.public_url}/"
        )

    def _not_found(self, message: str) -> Response:
        text = f"{message}\nВсе районы, округа и темы: {self.public_url}/\n"
        return PlainTextResponse(text, status_code=404)
