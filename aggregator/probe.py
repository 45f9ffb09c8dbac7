"""Feed discovery and source probing for sysadmins: fetch once, parse, report; never store.

`discover` looks for a site's feeds (<link rel="alternate"> on the page, then the usual paths)
and checks that each candidate parses. `probe` fetches configured sources once and says, per
source, what came back and what is wrong. Both use the service's Fetcher, so what they see is
what the scheduler will see from this network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from aggregator.dates import MOSCOW
from aggregator.domain import FeedState, FetchResult, NotModified, ParsedFeed, Source
from aggregator.errors import FetchError, ParseError
from aggregator.fetch import Fetcher
from aggregator.htmlsource import feed_links, parse_html_source
from aggregator.normalize import display_url
from aggregator.parse import parse_feed

__all__ = [
    "COMMON_PATHS",
    "Candidate",
    "ProbeReport",
    "discover",
    "format_candidate",
    "format_report",
    "probe_sources",
]

COMMON_PATHS = ("/feed/", "/rss", "/rss.xml", "/feed.xml")
GEO_BLOCK_STATUSES = frozenset({403, 451, 477})


@dataclass(frozen=True)
class Candidate:
    """A feed found for a site, checked by fetching and parsing it."""

    url: str
    title: str
    items: int
    newest: datetime | None
    found_by: str  # "the URL itself", "link rel=alternate" or "common path"


@dataclass(frozen=True)
class ProbeReport:
    """One source fetched once: what came back and what is wrong with it."""

    source: Source
    status: int | None
    kind: str  # "feed", "html" or "" when nothing came back
    items: int = 0
    newest: datetime | None = None
    problem: str | None = None
    ok: bool = False
    note: str | None = None  # advice on a source that works


# --- discovery -----------------------------------------------------------------------------


async def discover(fetcher: Fetcher, url: str) -> list[Candidate]:
    """Every feed of the site at `url` that fetches and parses, in the order found."""
    try:
        page = await fetcher.fetch(FeedState(feed_id=0, url=url))
    except FetchError:
        page = None
    tried: list[tuple[str, str]] = []
    if isinstance(page, FetchResult):
        parsed = _as_feed(page)
        if parsed is not None:
            return [_candidate(page.url, parsed, "the URL itself")]
        links = feed_links(page.content, page.headers, page.url)
        tried += [(link.url, "link rel=alternate") for link in links]
    root = _site_root(page.url if isinstance(page, FetchResult) else url)
    tried += [(urljoin(root, path), "common path") for path in COMMON_PATHS]
    found: dict[str, Candidate] = {}
    for candidate_url, how in tried:
        if candidate_url in found:
            continue
        candidate = await _check_feed(fetcher, candidate_url, how)
        if candidate is not None and candidate.url not in found:
            found[candidate.url] = candidate
    return list(found.values())


async def _check_feed(fetcher: Fetcher, url: str, how: str) -> Candidate | None:
    try:
        response = await fetcher.fetch(FeedState(feed_id=0, url=url))
    except FetchError:
        return None
    if not isinstance(response, FetchResult):
        return None
    parsed = _as_feed(response)
    return _candidate(response.url, parsed, how) if parsed is not None else None


def _as_feed(response: FetchResult) -> ParsedFeed | None:
    try:
        parsed = parse_feed(response.content, response.headers, response.url)
    except ParseError:
        return None
    return parsed if parsed.version and parsed.version != "html" else None


def _candidate(url: str, parsed: ParsedFeed, how: str) -> Candidate:
    return Candidate(display_url(url), parsed.title, len(parsed.entries), _newest(parsed), how)


def _site_root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


# --- probing -------------------------------------------------------------------------------


async def probe_sources(
    fetcher: Fetcher, sources: Sequence[Source], now: datetime
) -> list[ProbeReport]:
    """Fetch and parse each source once, concurrently within the fetcher's limits."""
    return list(await asyncio.gather(*(probe_source(fetcher, s, now) for s in sources)))


async def probe_source(fetcher: Fetcher, source: Source, now: datetime) -> ProbeReport:
    """What one source gives right now; never raises for the source's own failures."""
    try:
        response = await fetcher.fetch(FeedState(feed_id=0, url=source.url))
    except FetchError as exc:
        hint = " — geo-blocked?" if exc.status in GEO_BLOCK_STATUSES else ""
        return ProbeReport(source, exc.status, "", problem=exc.message + hint)
    if isinstance(response, NotModified):  # cannot happen without validators; kept honest
        return ProbeReport(source, 304, "", ok=True)
    if source.kind == "html":
        return _probe_html(source, response, now)
    return _probe_feed(source, response)


def _probe_feed(source: Source, response: FetchResult) -> ProbeReport:
    try:
        parsed = parse_feed(response.content, response.headers, response.url)
    except ParseError as exc:
        links = feed_links(response.content, response.headers, response.url)
        if "HTML page" not in exc.message:
            return ProbeReport(source, response.status, "", problem=exc.message)
        if not links:
            return ProbeReport(source, response.status, "html", problem="HTML page, no feed link")
        announced = ", ".join(display_url(link.url) for link in links)
        problem = f"HTML page; it announces: {announced}"
        return ProbeReport(source, response.status, "html", problem=problem)
    ok = bool(parsed.entries) or parsed.problem is None
    return ProbeReport(
        source,
        response.status,
        "feed",
        len(parsed.entries),
        _newest(parsed),
        parsed.problem or (None if parsed.entries else "the feed has no items"),
        ok,
    )


def _probe_html(source: Source, response: FetchResult, now: datetime) -> ProbeReport:
    try:
        parsed = parse_html_source(response.content, response.headers, response.url, source, now)
    except ParseError as exc:
        return ProbeReport(source, response.status, "html", problem=exc.message)
    undated = sum(1 for entry in parsed.entries if entry.published is None)
    problem = f"{undated} item(s) without a date" if undated else None
    links = feed_links(response.content, response.headers, response.url)
    # a feed carries exact dates and ids: worth switching to
    note = f"the page announces a feed: {display_url(links[0].url)}" if links else None
    return ProbeReport(
        source, response.status, "html", len(parsed.entries), _newest(parsed), problem, True, note
    )


def _newest(parsed: ParsedFeed) -> datetime | None:
    dates = [e.published or e.updated for e in parsed.entries if e.published or e.updated]
    return max((d for d in dates if d is not None), default=None)


# --- reports for people --------------------------------------------------------------------


def _moscow(moment: datetime | None) -> str:
    return moment.astimezone(MOSCOW).strftime("%Y-%m-%d %H:%M МСК") if moment else "no dates"


def format_candidate(candidate: Candidate) -> str:
    """One discovered feed: URL, title, item count, last item date and how it was found."""
    title = candidate.title or "(no title)"
    return (
        f"{candidate.url}\n    «{title}», {candidate.items} items, "
        f"last item {_moscow(candidate.newest)} ({candidate.found_by})"
    )


def format_report(report: ProbeReport) -> str:
    """One probed source on one line; a second line with the problem if there is one."""
    state = "ok  " if report.ok else "FAIL"
    status = f"HTTP {report.status}" if report.status is not None else "no response"
    kind = report.kind or "-"
    enabled = "" if report.source.enabled else " [disabled]"
    line = (
        f"{state} {status:<11} {kind:<4} {report.items:>4} items  "
        f"newest {_moscow(report.newest):<20}  {display_url(report.source.url)}{enabled}"
    )
    details = [("problem", report.problem), ("note", report.note)]
    return "\n     ".join([line, *(f"{label}: {text}" for label, text in details if text)])
