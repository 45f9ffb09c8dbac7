"""Feed health and metrics routes: /status (Russian HTML), /status.json and /metrics.

Handlers are plain `def` like the rest of the web shell: storage is synchronous and Starlette
runs them in its threadpool.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from aggregator.domain import FeedHealth
from aggregator.errors import StorageError
from aggregator.health import RECENT, status_rows
from aggregator.metrics import Metrics

OVERDUE_AFTER = timedelta(seconds=30)
"""A feed is overdue once its next fetch is a scheduler tick (scheduler.TICK) in the past."""


class HealthStore(Protocol):
    """What these routes need from `aggregator.storage.Storage`."""

    def feed_health(self, recent_since: datetime | None = None) -> list[FeedHealth]: ...

    def overdue_feeds(self, before: datetime) -> int: ...

    def band_index_rows(self) -> int: ...


class StatusPages:
    """The handlers, closed over storage, templates, the clock and the process's metrics."""

    def __init__(
        self,
        storage: HealthStore,
        templates: jinja2.Environment,
        clock: Callable[[], datetime],
        metrics: Metrics,
    ) -> None:
        self.storage = storage
        self.templates = templates
        self.clock = clock
        self.metrics = metrics

    def routes(self) -> list[Route]:
        return [
            Route("/status", self.status_page),
            Route("/status.json", self.status_json),
            Route("/metrics", self.metrics_page),
        ]

    def status_page(self, request: Request) -> Response:
        now = self.clock()
        rows = status_rows(self.storage.feed_health(now - RECENT))
        page = self.templates.get_template("status.html").render(
            rows=rows,
            now=now,
            failing=sum(1 for row in rows if row.state == "failing"),
            enabled=sum(1 for row in rows if row.state in ("failing", "ok", "pending")),
        )
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    def status_json(self, request: Request) -> Response:
        now = self.clock()
        rows = status_rows(self.storage.feed_health(now - RECENT))
        body = {"generated_at": now.isoformat(), "feeds": [row.as_json() for row in rows]}
        return JSONResponse(body, headers={"Cache-Control": "no-cache"})

    def metrics_page(self, request: Request) -> Response:
        try:
            self.metrics.set_overdue(self.storage.overdue_feeds(self.clock() - OVERDUE_AFTER))
        except StorageError:
            self.metrics.record_database_error()
        self.metrics.set_band_index_rows(self.storage.band_index_rows())
        body, content_type = self.metrics.exposition()
        return Response(body, headers={"Content-Type": content_type})
