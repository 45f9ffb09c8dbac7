"""Plain-text entries for benchmarks and tests of near-duplicate matching."""

from __future__ import annotations

from datetime import datetime

from aggregator.domain import Entry
from aggregator.identity import fingerprint


def text_entry(
    key: str, title: str, lead: str, published: datetime, link: str | None = None
) -> Entry:
    """An entry with only a title and a lead, as a normalized feed item would carry them."""
    return Entry(
        key=key,
        guid=key,
        link=link if link is not None else f"https://news.example/{key}",
        title=title,
        summary=lead,
        content_html=f"<p>{lead}</p>",
        published=published,
        updated=published,
        author=None,
        categories=(),
        fingerprint=fingerprint(title, lead),
        content_hash=f"h-{key}",
    )
