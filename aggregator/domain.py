"""Frozen data shared by every layer: config, fetch results, parsed and normalized entries, stories.

All datetimes here are timezone-aware UTC; Europe/Moscow appears only where a human reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

CITY = "city"
"""The `district` of a city-wide source: its stories belong to no district by origin."""


# --- configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class District:
    """A district (район) or a former New Moscow settlement (поселение, valid until 2024-05-08)."""

    slug: str
    name: str
    okrug: str
    kind: Literal["district", "settlement"] = "district"
    valid_until: date | None = None


@dataclass(frozen=True)
class Okrug:
    """An administrative okrug; `districts` lists the slugs of its districts and settlements."""

    slug: str
    name: str
    abbr: str
    short_name: str
    districts: tuple[str, ...]


@dataclass(frozen=True)
class HtmlSelectors:
    """CSS selectors of an HTML list page: `item` finds each item, the others search inside it.

    `link` defaults to the first link in the title, else in the item; `date` reads a `datetime`
    attribute if the element has one, else its text.
    """

    item: str
    title: str
    link: str | None = None
    date: str | None = None
    summary: str | None = None
    image: str | None = None


SourceKind = Literal["feed", "html"]


@dataclass(frozen=True)
class Source:
    """A configured feed: `district` is a district slug, an okrug slug or CITY.

    An `html` source is a news list page read with `selectors` or a named `preset`;
    `full_text` fetches each new item's page and extracts the article body.
    """

    url: str
    title: str
    district: str
    refresh: timedelta | None = None
    enabled: bool = True
    kind: SourceKind = "feed"
    selectors: HtmlSelectors | None = None
    preset: str | None = None
    full_text: bool = False


@dataclass(frozen=True)
class Topic:
    """A topic with its Russian name and keywords (matched on stems, not exact forms).

    `patterns` are regular expressions over the normalized text, an `exclude` word or phrase
    vetoes the topic, and a feed's own <category> equal to one of `categories` assigns it.
    """

    slug: str
    name: str
    keywords: tuple[str, ...]
    patterns: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class DedupeSettings:
    """Near-duplicate verification thresholds (`dedupe:` in service.yaml); defaults were tuned."""

    min_score: float = 0.4
    min_containment: float = 0.4
    containment_weight: float = 0.5
    jaccard_weight: float = 0.3
    title_weight: float = 0.2
    number_veto: bool = True
    window: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class ServiceSettings:
    """Service-wide settings from `config/service.yaml`; every field has a sensible default."""

    contact_url: str = "https://github.com/moscow-district-feeds/aggregator"
    public_url: str = DEFAULT_PUBLIC_URL
    default_refresh: timedelta = timedelta(minutes=15)
    max_body_bytes: int = 10 * 1024 * 1024
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    total_timeout: float = 60.0
    max_redirects: int = 5
    concurrency: int = 16
    feed_size: int = 50
    per_host_concurrency: int = 2
    min_interval: timedelta = timedelta(minutes=1)
    max_interval: timedelta = timedelta(days=1)
    backoff_cap: timedelta = timedelta(hours=24)
    websub_hub: str | None = None
    dedupe: DedupeSettings = field(default_factory=DedupeSettings)


@dataclass(frozen=True)
class NamedOutput:
    """A feed a sysadmin defined in `config/outputs.yaml`: a saved search served at /feeds/{name}.

    `areas` and `topics` are slugs as written (an okrug slug stands for its districts); `query`
    holds full-text words that every story must contain.
    """

    name: str
    title: str
    description: str
    areas: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    query: str = ""


@dataclass(frozen=True)
class Config:
    """The validated configuration; built only by `aggregator.config.load_config`."""

    okrugs: tuple[Okrug, ...]
    districts: tuple[District, ...]
    sources: tuple[Source, ...]
    topics: tuple[Topic, ...]
    service: ServiceSettings = field(default_factory=ServiceSettings)
    outputs: tuple[NamedOutput, ...] = ()

    def output(self, name: str) -> NamedOutput | None:
        return next((o for o in self.outputs if o.name == name), None)

    def okrug(self, slug: str) -> Okrug | None:
        return next((o for o in self.okrugs if o.slug == slug), None)

    def district(self, slug: str) -> District | None:
        return next((d for d in self.districts if d.slug == slug), None)

    def topic(self, slug: str) -> Topic | None:
        return next((t for t in self.topics if t.slug == slug), None)

    def area(self, slug: str) -> frozenset[str] | None:
        """The tag slugs an area feed selects: a district itself, or an okrug with its districts."""
        okrug = self.okrug(slug)
        if okrug is not None:
            return frozenset((okrug.slug, *okrug.districts))
        if self.district(slug) is not None:
            return frozenset((slug,))
        return None

    def source_areas(self, district: str) -> tuple[str, ...]:
        """The area tags a story from a source in `district` gets: the district and its okrug."""
        if district == CITY:
            return ()
        found = self.district(district)
        return (district, found.okrug) if found is not None else (district,)


# --- fetching ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedState:
    """What the fetcher needs to know about a stored feed for a conditional GET."""

    feed_id: int
    url: str
    etag: str | None = None
    last_modified: str | None = None
    title: str = ""
    district: str = CITY
    refresh: timedelta | None = None
    consecutive_errors: int = 0
    poll_interval: timedelta | None = None
    """The regular interval the polling policy chose last time (not a backoff delay)."""
    source_url: str = ""
    """The URL as configured (`url` follows permanent redirects); it finds the feed's Source."""


@dataclass(frozen=True)
class FetchResult:
    """A 200 response read in full; header names are lowercase."""

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes
    permanent_redirect: str | None = None


@dataclass(frozen=True)
class NotModified:
    """A 304 response: the stored copy is current, nothing to parse.

    `permanent_redirect` is the final URL when every hop to it was a 301 or 308, as in FetchResult.
    """

    url: str
    headers: Mapping[str, str]
    permanent_redirect: str | None = None


# --- parsing and normalizing ---------------------------------------------------------------


@dataclass(frozen=True)
class ParsedEntry:
    """One entry as the feed gave it; HTML not yet sanitized, dates already parsed if possible."""

    guid: str | None
    link: str | None
    title: str
    summary_html: str
    content_html: str
    published: datetime | None
    updated: datetime | None
    author: str | None = None
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed; `problem` describes a recoverable error (the good entries are kept)."""

    title: str
    link: str | None
    version: str
    entries: tuple[ParsedEntry, ...]
    problem: str | None = None
    ttl: str | None = None
    """RSS <ttl> in minutes, as written."""
    update_period: str | None = None
    """sy:updatePeriod (hourly, daily, weekly, monthly, yearly), as written."""
    update_frequency: str | None = None
    """sy:updateFrequency: updates per period, as written."""


@dataclass(frozen=True)
class Entry:
    """A normalized entry: safe HTML, canonical link, UTC dates, identity and fingerprints."""

    key: str
    guid: str | None
    link: str | None
    title: str
    summary: str
    content_html: str
    published: datetime
    updated: datetime
    author: str | None
    categories: tuple[str, ...]
    fingerprint: str
    content_hash: str


# --- deduplication plan --------------------------------------------------------------------


@dataclass(frozen=True)
class ExistingItem:
    """A stored item of the feed being updated, found by its entry key."""

    item_id: int
    story_id: int
    content_hash: str


@dataclass(frozen=True)
class ItemFeatures:
    """An item's near-duplicate features as stored: encoded MinHash signature and shingle hashes,
    title stems and the words with digits (see `aggregator.similarity.Features`)."""

    signature: bytes
    shingles: bytes
    title_stems: tuple[str, ...]
    numbers: tuple[str, ...]
    band_keys: tuple[int, ...] = ()
    search_terms: tuple[str, ...] | None = None
    """The stems the item is found by (`search.story_terms`), sorted, when computed with the
    features in a parse process; None when read back from storage."""


@dataclass(frozen=True)
class NearCandidate:
    """A stored item of a story that shares an LSH band key with an incoming entry."""

    story_id: int
    item_id: int
    published: datetime
    features: ItemFeatures


@dataclass(frozen=True)
class Candidates:
    """What storage knows that the decider needs.

    This feed's stored items by entry key, stories of any feed by link and by fingerprint, and
    the items of stories found through shared LSH band keys within the time window.
    """

    items: Mapping[str, ExistingItem]
    stories_by_link: Mapping[str, int]
    stories_by_fingerprint: Mapping[str, int]
    near: tuple[NearCandidate, ...] = ()


@dataclass(frozen=True)
class NewItem:
    """An entry to insert: it joins `story_id`, or else starts the story keyed `new_story_key`."""

    entry: Entry
    story_id: int | None
    new_story_key: str | None
    areas: tuple[str, ...]
    topics: tuple[str, ...]
    mentioned: tuple[str, ...] = ()
    """Areas the entry's text names (with their okrugs), stored with via 'mention'."""
    features: ItemFeatures | None = None


@dataclass(frozen=True)
class ChangedItem:
    """A stored item whose content changed upstream."""

    item_id: int
    story_id: int
    entry: Entry
    topics: tuple[str, ...]
    mentioned: tuple[str, ...] = ()
    features: ItemFeatures | None = None


@dataclass(frozen=True)
class UpdatePlan:
    """The decider's output for one feed; storage applies it and decides nothing."""

    new_items: tuple[NewItem, ...] = ()
    changed_items: tuple[ChangedItem, ...] = ()
    unchanged: int = 0


@dataclass(frozen=True)
class ApplyResult:
    new_items: int = 0
    new_stories: int = 0
    updated_items: int = 0


# --- feed outcomes -------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedOutcome:
    """The result of one attempt at one feed, recorded on the feed row."""

    feed_id: int
    attempted_at: datetime
    next_fetch_at: datetime
    ok: bool
    status: int | None = None
    error_kind: str | None = None
    message: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    new_url: str | None = None
    poll_interval: timedelta | None = None
    """The regular interval to remember; None keeps the stored one (after a failure)."""
    note: str | None = None
    """A visible remark that is not an error, such as a permanent redirect."""
    disable_reason: str | None = None
    """Set when the feed must not be fetched again (410 Gone): disables it with this reason."""


@dataclass(frozen=True)
class FeedHealth:
    """A feed's stored state as a sysadmin reads it."""

    feed_id: int
    url: str
    title: str
    district: str
    enabled: bool
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_status: int | None
    error_kind: str | None
    last_error: str | None
    consecutive_errors: int
    next_fetch_at: datetime | None
    item_count: int = 0
    recent_items: int = 0
    """Items published in the last 7 days (when the caller asked for a `since`)."""
    source_url: str = ""
    note: str | None = None
    disabled_reason: str | None = None


# --- output --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StorySource:
    """One outlet that carried a story."""

    outlet: str
    feed_url: str
    link: str | None
    district: str


@dataclass(frozen=True)
class Story:
    """A story as subscribers see it: one entry that lists every outlet that carried it."""

    id: int
    key: str
    title: str
    link: str | None
    summary: str
    content_html: str
    published: datetime
    updated: datetime
    sources: tuple[StorySource, ...]
    areas: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    first_seen: datetime | None = None


@dataclass(frozen=True)
class StoryMember:
    """One item of a story, for explaining the merge: its outlet, text and stored features."""

    item_id: int
    outlet: str
    feed_url: str
    link: str | None
    title: str
    published: datetime
    first_seen: datetime
    features: ItemFeatures | None = None


@dataclass(frozen=True)
class StoryQuery:
    """Which stories an output shows: None means no filter on that dimension."""

    areas: frozenset[str] | None = None
    topics: frozenset[str] | None = None
    limit: int = 50
    own_sources: bool = False
    """With `areas`: only stories an outlet of those areas carried, not those that mention them."""
    words: tuple[frozenset[str], ...] = ()
    """Full-text words: for each, the stems it may take; a story must contain one of each."""
    since: datetime | None = None
    """Only stories published at or after this moment."""
    before: tuple[datetime, int] | None = None
    """Keyset paging: only stories older than this (published, id), newest first."""
    after: tuple[datetime, int] | None = None
    """Keyset paging: only the `limit` stories just newer than this (published, id)."""


@dataclass(frozen=True)
class OutputFeed:
    """The metadata of one output feed; `id` is a stable URI, `self_url` the feed's own URL."""

    id: str
    title: str
    subtitle: str
    self_url: str
    html_url: str
    updated: datetime
    links: tuple[tuple[str, str], ...] = ()
    """Further (rel, href) links: RFC 5005 first/next/previous/prev-archive/current, a hub."""
    archive: bool = False
    """An RFC 5005 archive document (a page of history, not the subscription document)."""


# --- classification ------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemText:
    """The stored text of one item of a story, what classification reads (lead item first)."""

    item_id: int
    story_id: int
    outlet: str
    title: str
    summary: str
    categories: tuple[str, ...] = ()
    district: str = CITY
    """The district, okrug or CITY of the outlet's feed."""


@dataclass(frozen=True)
class AreaTag:
    """An area attached to a story and why: 'source' (an outlet of the area) or 'mention'."""

    area: str
    via: str


@dataclass(frozen=True)
class Retag:
    """A story's recomputed topics and mentioned areas; its source areas are kept as they are."""

    story_id: int
    topics: tuple[str, ...]
    mentioned: tuple[str, ...]
