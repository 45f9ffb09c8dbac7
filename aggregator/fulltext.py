"""Full text for `full_text: true` sources: fetch each new item's page and put its body in.

Orchestration between the fetcher and the pure extractor. Pages are fetched one after
another through the feed's own Fetcher (same limits, User-Agent and error mapping), at most
`MAX_PAGES` per feed and cycle, so a first fetch of a long list does not hammer a small site.
A page that fails keeps the item as the list gave it. Items already stored are not
re-ingested from the list page, so their full text is never overwritten by a teaser.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from aggregator.domain import FeedState, FetchResult, ParsedFeed
from aggregator.errors import FetchError
from aggregator.extract import article_html
from aggregator.fetch import Fetcher
from aggregator.normalize import canonical_url

__all__ = ["MAX_PAGES", "fetch_bodies", "with_bodies"]

MAX_PAGES = 20

log = logging.getLogger(__name__)


async def fetch_bodies(
    fetcher: Fetcher, links: Sequence[str], limit: int = MAX_PAGES
) -> dict[str, str]:
    """Extracted article HTML by canonical link, for the pages that could be read."""
    bodies: dict[str, str] = {}
    for link in links[:limit]:
        try:
            page = await fetcher.fetch(FeedState(feed_id=0, url=link))
        except FetchError as exc:
            log.info("full text of %s: %s", link, exc.message)
            continue
        if not isinstance(page, FetchResult):
            continue
        body = await asyncio.to_thread(article_html, page.content, page.headers, page.url)
        if body is not None:
            bodies[link] = body
    return bodies


def with_bodies(
    parsed: ParsedFeed, feed_url: str, new_links: Collection[str], bodies: Mapping[str, str]
) -> ParsedFeed:
    """The new entries (and those without a link) with their extracted bodies put in.

    Stored entries are left out: the list page still shows their teaser, which must not
    replace the full text stored for them.
    """
    entries = []
    for entry in parsed.entries:
        link = canonical_url(entry.link, feed_url)
        if link is not None and link not in new_links:
            continue
        body = bodies.get(link or "")
        entries.append(
            replace(entry, content_html=body, summary_html=body) if body is not None else entry
        )
    return replace(parsed, entries=tuple(entries))
