"""Subscriber pages in Russian: a district or okrug, one story with all its sources, search.

Every page works without JavaScript: feed addresses sit in read-only inputs a reader can
select, and static/copy.js only adds copy buttons. Search is a GET form whose result is a
feed URL, so a search can be bookmarked and subscribed to like any other output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from aggregator import dedupe, merge_explain
from aggregator.domain import Config, Story, StoryMember, StoryQuery
from aggregator.web.feeds import FORMATS
from aggregator.web.params import BadRequest, parse_params

AREA_STORIES = 20
PREVIEW_STORIES = 10
SEARCH_KEYS = ("district", "topic", "q")


class PageStore(Protocol):
    """What the pages need from `aggregator.storage.Storage`."""

    def stories(self, query: StoryQuery) -> list[Story]: ...

    def story(self, story_id: int) -> Story | None: ...

    def story_members(self, story_id: int) -> list[StoryMember]: ...


@dataclass(frozen=True)
class FeedChoice:
    """A feed in every format: `href` is relative to the site root, `url` absolute."""

    title: str
    links: tuple[tuple[str, str, str], ...]
    """(format label, relative href, absolute URL) for Atom, RSS and JSON Feed."""


def feed_choice(public_url: str, title: str, path: str, query: str = "") -> FeedChoice:
    """The Atom, RSS and JSON addresses of the output at `path` (no extension) with `query`."""
    names = {"atom": "Atom", "rss": "RSS", "json": "JSON Feed"}
    suffix = f"?{query}" if query else ""
    links = tuple(
        (names[fmt], f"{path.lstrip('/')}.{fmt}{suffix}", f"{public_url}{path}.{fmt}{suffix}")
        for fmt in FORMATS
    )
    return FeedChoice(title, links)


def search_feed_path(district: str, topic: str, words: str) -> tuple[str, str]:
    """The output a search names: a district/topic feed path, and `q=` on top for words."""
    if district and topic:
        path = f"/feeds/district/{district}/topic/{topic}"
    elif district:
        path = f"/feeds/district/{district}"
    elif topic:
        path = f"/feeds/topic/{topic}"
    else:
        path = "/feeds/all"
    return path, urlencode({"q": words}) if words else ""


class SubscriberPages:
    """The page handlers, closed over the config, storage and the site's templates."""

    def __init__(
        self,
        config: Config,
        storage: PageStore,
        templates: jinja2.Environment,
        labels: Mapping[str, str],
    ) -> None:
        self.config = config
        self.storage = storage
        self.templates = templates
        self.labels = labels
        self.public_url = config.service.public_url.rstrip("/")
        self.limits = dedupe.thresholds(config.service.dedupe)

    def routes(self) -> list[Route]:
        return [
            Route("/district/{slug}", self.area_page),
            Route("/story/{story_id:int}", self.story_page),
            Route("/search", self.search_page),
        ]

    def area_page(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        areas = self.config.area(slug)
        if areas is None or slug not in self.labels:
            return self._missing(f"Района или округа «{slug}» нет.")
        okrug = self.config.okrug(slug)
        district = self.config.district(slug)
        name = okrug.name if okrug else district.name if district else self.labels[slug]
        path = f"/feeds/district/{slug}"
        topic_feeds = [
            feed_choice(self.public_url, t.name, f"{path}/topic/{t.slug}")
            for t in self.config.topics
        ]
        members = [d for d in map(self.config.district, okrug.districts if okrug else ()) if d]
        return self._page(
            "area.html",
            name=name,
            slug=slug,
            okrug=okrug,
            parent=self.config.okrug(district.okrug) if district else None,
            members=members,
            feed=feed_choice(self.public_url, name, path),
            topic_feeds=topic_feeds,
            stories=self.storage.stories(StoryQuery(areas=areas, limit=AREA_STORIES)),
        )

    def story_page(self, request: Request) -> Response:
        story = self.storage.story(request.path_params["story_id"])
        if story is None:
            return self._missing("Такой новости нет: возможно, её уже удалили из архива.")
        outlets = len({source.outlet for source in story.sources})
        members = self.storage.story_members(story.id)
        scores = merge_explain.similarities(members, self.limits)
        return self._page(
            "story.html",
            story=story,
            outlets=outlets,
            members=list(zip(members, scores, strict=True)),
            source_districts={source.feed_url: source.district for source in story.sources},
        )

    def search_page(self, request: Request) -> Response:
        form = {key: " ".join(request.query_params.get(key, "").split()) for key in SEARCH_KEYS}
        if not any(form.values()):
            return self._page("search.html", form=form, error=None, feed=None, stories=[])
        try:
            params = parse_params(self.config, {k: v for k, v in form.items() if v}, 50)
        except BadRequest as exc:
            page = self._render("search.html", form=form, error=exc.message, feed=None, stories=[])
            return HTMLResponse(page, status_code=exc.status)
        path, query = search_feed_path(form["district"], form["topic"], form["q"])
        query_story = StoryQuery(
            areas=params.areas, topics=params.topics, words=params.words, limit=PREVIEW_STORIES
        )
        return self._page(
            "search.html",
            form=form,
            error=None,
            feed=feed_choice(self.public_url, self._search_title(form), path, query),
            stories=self.storage.stories(query_story),
        )

    def _search_title(self, form: Mapping[str, str]) -> str:
        keys = ("district", "topic")
        parts = [self.labels.get(form[key], form[key]) for key in keys if form[key]]
        if form["q"]:
            parts.append(f"«{form['q']}»")
        return ", ".join(parts) or "Вся Москва"

    def _render(self, template: str, **values: object) -> str:
        return self.templates.get_template(template).render(
            labels=self.labels,
            okrugs=self.config.okrugs,
            districts=self.config.district,
            topics=self.config.topics,
            base_href="../" if template != "search.html" else "./",
            **values,
        )

    def _page(self, template: str, **values: object) -> Response:
        return HTMLResponse(self._render(template, **values))

    def _missing(self, message: str) -> Response:
        page = self._render("missing.html", message=message)
        return HTMLResponse(page, status_code=404)
