"""Serving one output feed: filters, RFC 5005 paging, the in-process cache and conditional GET.

A rendered output is cached in memory with the storage's change version it was built at; a
request first reads that version (one primary-key row) and serves the cached bytes while it
is unchanged. The ETag is a hash of the bytes, so a re-render that gives the same document
still answers If-None-Match with 304. Each answered request also records its exact path and
query string, so `web.fastpath` can answer the same request again before routing.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from starlette.concurrency import run_in_threadpool
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
RawHeaders = list[tuple[bytes, bytes]]


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


@dataclass
class _Target:
    """An exact request target's cache key, and the raw headers of its last rendered output."""

    key: tuple[str, ...]
    fmt: str
    rendered: Rendered | None = None
    ok: RawHeaders | None = None
    unchanged: RawHeaders | None = None


class FeedOutputs:
    """Answers requests for output feeds of one config from one storage."""

    def __init__(
        self,
        config: Config,
        storage: OutputStore,
        labels: Mapping[str, str],
        *,
        version_ttl: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.storage = storage
        self.labels = labels
        self.public_url = config.service.public_url.rstrip("/")
        self.cache = RenderCache()
        self.cache_control = cache_control(config)
        self._version_ttl = version_ttl
        self._clock = clock
        self._version: tuple[int, float] | None = None
        self._version_lock = threading.Lock()
        self._refreshing = False  # one request is reading the change version again
        self._targets: dict[tuple[str, bytes], _Target] = {}
        self._targets_lock = threading.Lock()  # handlers in the threadpool record targets

    def change_version(self) -> int:
        """The storage's change version, read at most once per `version_ttl` seconds.

        With a TTL of 0 every request reads it; a busy server may trade that many reads of
        one row for outputs that lag a stored change by up to the TTL.
        """
        now = self._clock()
        with self._version_lock:
            if self._version is not None and now - self._version[1] < self._version_ttl:
                return self._version[0]
        try:
            version = self.storage.change_version()
        finally:
            with self._version_lock:
                self._refreshing = False
        with self._version_lock:
            self._version = (version, now)
        return version

    def fresh_version(self) -> int | None:
        """The remembered change version while it is younger than the TTL; no I/O."""
        with self._version_lock:
            if self._version is None or self._clock() - self._version[1] >= self._version_ttl:
                return None
            return self._version[0]

    def served_version(self) -> int | None:
        """The version the fast path may serve at; no I/O.

        When the TTL lapses, the first caller gets None and goes on to read the version again;
        callers meanwhile keep the old one for up to another TTL, so a busy server's
        connections do not all queue for the database at the same moment.
        """
        with self._version_lock:
            if self._version is None:
                return None
            age = self._clock() - self._version[1]
            if age < self._version_ttl:
                return self._version[0]
            if self._refreshing and age < 2 * self._version_ttl:
                return self._version[0]
            self._refreshing = True
            return None

    async def respond_async(self, request: Request, spec: FeedSpec, fmt: str) -> Response:
        """`respond`, answering cached outputs on the event loop and the rest in a thread."""
        version = self.fresh_version()
        if version is not None:
            prepared = self._prepare(request, spec, fmt)
            if isinstance(prepared, Response):
                return prepared
            rendered = self.cache.get(prepared[1], version)
            if rendered is not None:
                self._remember(request, prepared[1], fmt)
                return self._answer(request, rendered, fmt)
        return await run_in_threadpool(self.respond, request, spec, fmt)

    def cached_answer(
        self, path: str, query_string: bytes, headers: Mapping[str, str]
    ) -> tuple[int, RawHeaders, bytes] | None:
        """Status, raw headers and body for a request target answered before, while its
        cached output is still valid at a fresh change version; None otherwise. No I/O."""
        target = self._targets.get((path, query_string))
        if target is None:
            return None
        version = self.served_version()
        if version is None:
            return None
        rendered = self.cache.get(target.key, version)
        if rendered is None:
            return None
        if target.rendered is not rendered or target.ok is None or target.unchanged is None:
            # Built by the very functions the slow path answers with, so the headers match.
            ok, unchanged = self._response(rendered, target.fmt), self._not_modified(rendered)
            target.ok, target.unchanged = ok.raw_headers, unchanged.raw_headers
            target.rendered = rendered
        if not_modified(headers, rendered.etag, rendered.updated):
            return 304, target.unchanged, b""
        return 200, target.ok, rendered.body

    def respond(self, request: Request, spec: FeedSpec, fmt: str) -> Response:
        """The feed `spec` in `fmt`, narrowed by the request's query parameters."""
        prepared = self._prepare(request, spec, fmt)
        if isinstance(prepared, Response):
            return prepared
        (spec, params), key = prepared
        version = self.change_version()
        rendered = self.cache.get(key, version)
        if rendered is None:
            rendered = self._render(spec, fmt, params, version)
            self.cache.put(key, rendered)
        self._remember(request, key, fmt)
        return self._answer(request, rendered, fmt)

    def _remember(self, request: Request, key: tuple[str, ...], fmt: str) -> None:
        """Record which cache key this exact path and query string asked for."""
        target = (request.scope["path"], request.scope["query_string"])
        if target in self._targets:
            return
        with self._targets_lock:
            if len(self._targets) >= CACHE_ENTRIES:
                # Oldest first: a dict keeps insertion order. A forgotten target only costs the
                # next identical request a trip through routing.
                del self._targets[next(iter(self._targets))]
            self._targets[target] = _Target(key, fmt)

    def _prepare(
        self, request: Request, spec: FeedSpec, fmt: str
    ) -> tuple[tuple[FeedSpec, Params], tuple[str, ...]] | Response:
        """The narrowed spec, its parameters and cache key; or the error response."""
        try:
            params = parse_params(self.config, request.query_params, self.config.service.feed_size)
            if params.before is not None and params.after is not None:
                raise BadRequest("before и after вместе не бывают: возьмите одну ссылку из ленты.")
        except BadRequest as exc:
            text = f"{exc.message}\nВсе районы, округа и темы: {self.public_url}/\n"
            return PlainTextResponse(text, status_code=exc.status)
        if params.filter_query:
            spec = spec.narrowed(
                params.areas, params.topics, params.words, params.filter_query, params.own_sources
            )
        key = (spec.path, fmt, spec.filter_query, _paging(params, params.before, params.after))
        return (spec, params), key

    def _answer(self, request: Request, rendered: Rendered, fmt: str) -> Response:
        if not_modified(request.headers, rendered.etag, rendered.updated):
            return self._not_modified(rendered)
        return self._response(rendered, fmt)

    def _response(self, rendered: Rendered, fmt: str) -> Response:
        headers = validator_headers(rendered.etag, rendered.updated, self.cache_control)
        return Response(rendered.body, media_type=CONTENT_TYPES[fmt], headers=headers)

    def _not_modified(self, rendered: Rendered) -> Response:
        headers = validator_headers(rendered.etag, rendered.updated, self.cache_control)
        return Response(status_code=304, headers=headers)

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
