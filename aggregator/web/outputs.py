"""Serving one output feed: filters, RFC 5005 paging, the in-process cache and conditional GET.

A rendered output is cached in memory with the storage's change version it was built at; a
request first reads that version (one primary-key row) and serves the cached bytes while it
is unchanged. The ETag is a hash of the bytes, so a re-render that gives the same document
still answers If-None-Match with 304.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from aggregator.domain import Config, Story, StoryQuery
from aggregator.render import render_atom, render_json, render_rss
from aggregator.web.caching import (
    EPOCH,
    cache_control,
    not_modified,
    strong_etag,
    validator_headers,
)
from aggregator.web.feeds import FeedSpec
from aggregator.web.params import BadRequest, Params, cursor, format_cursor, parse_params

CONTENT_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
Renderer = Callable[..., bytes]
RENDERERS: dict[str, Renderer] = {"atom": render_atom, "rss": render_rss, "json": render_json}
CACHE_ENTRIES = 1024


class OutputStore(Protocol):
    """What outputs need from `aggregator.storage.Storage`."""

    def stories(self, query: StoryQuery) -> list[Story]: ...

    def change_version(self) -> int: ...


@dataclass(frozen=True)
class Rendered:
    """One output document, ready to send."""

    body: bytes
    etag: str
    updated: datetime
    version: int


class RenderCache:
    """A bounded, thread-safe LRU of rendered outputs, each valid for one change version."""

    def __init__(self, size: int = CACHE_ENTRIES) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, ...], Rendered] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, ...], version: int) -> Rendered | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None or found.version != version:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: tuple[str, ...], rendered: Rendered) -> None:
        with self._lock:
            self._entries[key] = rendered
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


class FeedOutputs:
    """Answers requests for output feeds of one config from one storage."""

    def __init__(self, config: Config, storage: OutputStore, labels: Mapping[str, str]) -> None:
        self.config = config
        self.storage = storage
        self.labels = labels
        self.public_url = config.service.public_url.rstrip("/")
        self.cache = RenderCache()
        self.cache_control = cache_control(config)

    def respond(self, request: Request, spec: FeedSpec, fmt: str) -> Response:
        """The feed `spec` in `fmt`, narrowed by the request's query parameters."""
        try:
            params = parse_params(self.config, request.query_params, self.config.service.feed_size)
            if params.before is not None and params.after is not None:
                raise BadRequest("before и after вместе не бывают: возьмите одну ссылку из ленты.")
        except BadRequest as exc:
            text = f"{exc.message}\nВсе районы, округа и темы: {self.public_url}/\n"
            return PlainTextResponse(text, status_code=exc.status)
        if params.filter_query:
            spec = spec.narrowed(params.areas, params.topics, params.words, params.filter_query)
        version = self.storage.change_version()
        key = (spec.path, fmt, spec.filter_query, _paging(params, params.before, params.after))
        rendered = self.cache.get(key, version)
        if rendered is None:
            rendered = self._render(spec, fmt, params, version)
            self.cache.put(key, rendered)
        headers = validator_headers(rendered.etag, rendered.updated, self.cache_control)
        if not_modified(request.headers, rendered.etag, rendered.updated):
            return Response(status_code=304, headers=headers)
        return Response(rendered.body, media_type=CONTENT_TYPES[fmt], headers=headers)

    def _render(self, spec: FeedSpec, fmt: str, params: Params, version: int) -> Rendered:
        query = replace(
            spec.query(params.limit + 1),
            since=params.since,
            before=params.before,
            after=params.after,
        )
        found = self.storage.stories(query)
        page, more = _page(found, params)
        updated = max((s.updated for s in page), default=EPOCH)
        links = self._links(spec, fmt, params, page, more)
        paging = _paging(params, params.before, params.after)
        meta = spec.meta(
            self.public_url, fmt, updated, paging=paging, links=links, archive=params.paged
        )
        body = RENDERERS[fmt](meta, page, labels=self.labels)
        return Rendered(body, strong_etag(body), updated, version)

    def _links(
        self, spec: FeedSpec, fmt: str, params: Params, page: Sequence[Story], more: bool
    ) -> tuple[tuple[str, str], ...]:
        """RFC 5005 links: first and current (the subscription document), next and
        prev-archive (older), previous (newer); a hub on outputs the service announces."""
        first = spec.url(self.public_url, fmt, _paging(params, None, None))
        links: list[tuple[str, str]] = [("first", first)]
        older = _older_cursor(params, page, more)
        if older is not None:
            href = spec.url(self.public_url, fmt, _paging(params, older, None))
            links += [("next", href), ("prev-archive", href)]
        if params.before is not None or (params.after is not None and more):
            newer = _newer_cursor(params, page)
            href = spec.url(self.public_url, fmt, _paging(params, None, newer))
            links.append(("previous", href))
        if params.paged:
            links.append(("current", first))
        hub = self.config.service.websub_hub
        if hub and not params.paged and not spec.filter_query:
            links.append(("hub", hub))
        return tuple(links)


def _page(found: list[Story], params: Params) -> tuple[list[Story], bool]:
    """The stories of this page, newest first, and whether more lie beyond it."""
    if len(found) <= params.limit:
        return found, False
    if params.after is not None:
        return found[1:], True  # the extra story is the newest one
    return found[: params.limit], True


def _older_cursor(params: Params, page: Sequence[Story], more: bool) -> str | None:
    if params.after is not None:
        # Walking back towards the newest page: everything from the cursor down is older.
        return cursor(page[-1]) if page else format_cursor(params.after)
    if more and page:
        return cursor(page[-1])
    return None


def _newer_cursor(params: Params, page: Sequence[Story]) -> str:
    """The cursor of the page just newer than this one (only asked when there is one)."""
    if page:
        return cursor(page[0])
    position = params.before or params.after
    assert position is not None
    return format_cursor(position)


Position = tuple[datetime, int] | str | None


def _paging(params: Params, before: Position, after: Position) -> str:
    """The paging part of a query string: a limit other than the default, and one cursor."""
    parts = []
    if params.limit != params.default_limit:
        parts.append(f"limit={params.limit}")
    for name, value in (("before", before), ("after", after)):
        if value is not None:
            parts.append(f"{name}={value if isinstance(value, str) else format_cursor(value)}")
    return "&".join(parts)
