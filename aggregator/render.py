"""Stories to Atom 1.0, RSS 2.0 and JSON Feed 1.1 bytes: pure, the only module importing feedgen.

Each story becomes one entry whose content lists every outlet that carried it. HTML taken from
stories is already sanitized upstream; everything built here is escaped, and characters that
XML 1.0 forbids are stripped so one bad byte upstream never breaks a whole feed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import urlsplit

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator

from aggregator.domain import OutputFeed, Story, StorySource
from aggregator.identity import story_uuid

GENERATOR = "moscow-district-feeds"
AREA_SCHEME = "urn:moscow-district-feeds:area"
TOPIC_SCHEME = "urn:moscow-district-feeds:topic"
SOURCES_HEADING = "Источники:"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"
JSON_EXTENSION = "_moscow_district_feeds"

# XML 1.0 allows tab, newline, carriage return and everything from U+0020 except surrogates
# and the two non-characters U+FFFE/U+FFFF; lxml refuses the rest outright.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """Remove the characters XML 1.0 cannot carry (C0 controls, surrogates, U+FFFE, U+FFFF)."""
    return _INVALID_XML.sub("", text)


def render_atom(
    meta: OutputFeed, stories: Sequence[Story], *, labels: Mapping[str, str] | None = None
) -> bytes:
    """An Atom 1.0 document of `stories` in the given order; `labels` names area and topic slugs."""
    document: bytes = _build(meta, stories, labels or {}).atom_str(pretty=True, encoding="UTF-8")
    return document


def render_rss(
    meta: OutputFeed, stories: Sequence[Story], *, labels: Mapping[str, str] | None = None
) -> bytes:
    """An RSS 2.0 document of `stories` with an atom:link to itself and non-permalink guids."""
    document: bytes = _build(meta, stories, labels or {}).rss_str(pretty=True, encoding="UTF-8")
    return document


def render_json(
    meta: OutputFeed, stories: Sequence[Story], *, labels: Mapping[str, str] | None = None
) -> bytes:
    """A JSON Feed 1.1 document: the same ids, dates, outlets and categories as the XML feeds."""
    names = labels or {}
    links = dict(meta.links)
    document: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": meta.title or GENERATOR,
        "home_page_url": meta.html_url,
        "feed_url": meta.self_url,
        "description": meta.subtitle or meta.title,
        "language": "ru",
        "authors": [{"name": meta.title or GENERATOR}],
    }
    if "next" in links:
        document["next_url"] = links["next"]
    hubs = [{"type": "WebSub", "url": href} for rel, href in meta.links if rel == "hub"]
    if hubs:
        document["hubs"] = hubs
    seen: set[str] = set()
    items = []
    for story in stories:
        ident = entry_id(story)
        if ident not in seen:
            seen.add(ident)
            items.append(_json_item(ident, story, names))
    document["items"] = items
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


def _json_item(ident: str, story: Story, labels: Mapping[str, str]) -> dict[str, Any]:
    title = story.title or "Без заголовка"
    item: dict[str, Any] = {"id": ident}
    if story.link and urlsplit(story.link).scheme.lower() in ("http", "https"):
        item["url"] = story.link
    item["title"] = title
    item["content_html"] = content_html(story) or f"<p>{escape(title)}</p>"
    if story.summary.strip():
        item["summary"] = story.summary.strip()
    item["date_published"] = _iso(story.published)
    item["date_modified"] = _iso(story.updated)
    sources = _distinct_sources(story.sources)
    if sources:
        item["authors"] = [{"name": sources[0].outlet or GENERATOR}]
    tags = [labels.get(slug, slug) for slug in dict.fromkeys((*story.areas, *story.topics))]
    if tags:
        item["tags"] = list(dict.fromkeys(tags))
    item[JSON_EXTENSION] = {
        "areas": list(dict.fromkeys(story.areas)),
        "topics": list(dict.fromkeys(story.topics)),
        "sources": [{"outlet": s.outlet, "feed_url": s.feed_url, "url": s.link} for s in sources],
    }
    return item


def _iso(moment: datetime) -> str:
    return _utc(moment).isoformat().replace("+00:00", "Z")


def entry_id(story: Story) -> str:
    """The stable id of a story's entry, shared by the Atom and RSS renderings."""
    return f"urn:uuid:{story_uuid(story.key)}"


def content_html(story: Story) -> str:
    """The entry body: the story's HTML (or its escaped summary), then a list of 2+ outlets."""
    body = story.content_html.strip()
    if not body and story.summary.strip():
        body = f"<p>{escape(story.summary.strip())}</p>"
    sources = _distinct_sources(story.sources)
    if len(sources) < 2:
        return body
    items = "".join(f"<li>{_source_html(source)}</li>" for source in sources)
    return f"{body}<p>{SOURCES_HEADING}</p><ul>{items}</ul>"


def _build(meta: OutputFeed, stories: Sequence[Story], labels: Mapping[str, str]) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.register_extension("history", _History, atom=True, rss=True)
    fg.history.configure(meta)
    fg.id(xml_safe(meta.id))
    fg.title(xml_safe(meta.title) or GENERATOR)
    fg.subtitle(xml_safe(meta.subtitle) or xml_safe(meta.title) or GENERATOR)
    # feedgen takes the last link as the RSS channel link, so the page goes last.
    fg.link(href=meta.self_url, rel="self")
    for rel, href in meta.links:
        fg.link(href=href, rel=rel)
    fg.link(href=meta.html_url, rel="alternate", type="text/html")
    fg.language("ru")
    fg.generator(GENERATOR)
    fg.author(name=xml_safe(meta.title) or GENERATOR)
    fg.updated(_utc(meta.updated))
    fg.lastBuildDate(_utc(meta.updated))
    seen: set[str] = set()
    for story in stories:
        ident = entry_id(story)
        if ident in seen:
            continue
        seen.add(ident)
        _add_entry(fg.add_entry(order="append"), ident, story, labels)
    return fg


class _History(BaseExtension):  # type: ignore[misc]
    """RFC 5005 in the XML feeds: the fh:archive marker, and the paging links in RSS.

    feedgen writes every link into Atom itself, but into RSS only the self link, so the other
    relations (first, next, previous, prev-archive, hub) are added here as atom:link elements.
    """

    def __init__(self) -> None:
        self.links: tuple[tuple[str, str], ...] = ()
        self.archive = False

    def configure(self, meta: OutputFeed) -> None:
        self.links = meta.links
        self.archive = meta.archive

    def extend_ns(self) -> dict[str, str]:
        return {"fh": HISTORY_NS} if self.archive else {}

    def extend_atom(self, feed: Any) -> Any:
        if self.archive:
            feed.append(feed.makeelement(f"{{{HISTORY_NS}}}archive", {}))
        return feed

    def extend_rss(self, feed: Any) -> Any:
        channel = feed[0]
        for rel, href in self.links:
            channel.append(channel.makeelement(f"{{{ATOM_NS}}}link", {"href": href, "rel": rel}))
        if self.archive:
            channel.append(channel.makeelement(f"{{{HISTORY_NS}}}archive", {}))
        return feed


def _add_entry(fe: FeedEntry, ident: str, story: Story, labels: Mapping[str, str]) -> None:
    fe.id(ident)
    fe.guid(ident, permalink=False)
    title = xml_safe(story.title) or "Без заголовка"
    fe.title(title)
    if story.link:
        fe.link(href=xml_safe(story.link), rel="alternate", type="text/html")
    fe.published(_utc(story.published))
    fe.updated(_utc(story.updated))
    summary = xml_safe(story.summary.strip())
    if summary:
        fe.summary(summary, type="text")
    # Atom wants content when there is no link; a story with no text carries its title.
    body = xml_safe(content_html(story)) or f"<p>{escape(title)}</p>"
    fe.content(body, type="html")
    if story.sources:
        outlet = xml_safe(story.sources[0].outlet) or GENERATOR
        fe.author(name=outlet)
        fe.dc.dc_creator(outlet)
    for scheme, slugs in ((AREA_SCHEME, story.areas), (TOPIC_SCHEME, story.topics)):
        for slug in dict.fromkeys(slugs):
            term = xml_safe(slug)
            fe.category(term=term, scheme=scheme, label=xml_safe(labels.get(slug, term)))


def _distinct_sources(sources: Sequence[StorySource]) -> list[StorySource]:
    """Sources without repeats: one outlet may reach a story through two of its feeds."""
    seen: set[tuple[str, str | None]] = set()
    result: list[StorySource] = []
    for source in sources:
        marker = (source.outlet, source.link)
        if marker not in seen:
            seen.add(marker)
            result.append(source)
    return result


def _source_html(source: StorySource) -> str:
    name = escape(source.outlet or source.feed_url)
    link = source.link
    if link and urlsplit(link).scheme.lower() in ("http", "https"):
        return f'<a href="{escape(link, quote=True)}">{name}</a>'
    return name


def _utc(moment: datetime) -> datetime:
    """Aware UTC; a naive value (as SQLite may hand back) is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
