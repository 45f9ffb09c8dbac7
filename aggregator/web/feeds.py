"""Which output feed a URL names and what it is called: pure functions of the config."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from aggregator.domain import Config, District, NamedOutput, OutputFeed, StoryQuery
from aggregator.search import query_words

FORMATS = ("atom", "rss", "json")


@dataclass(frozen=True)
class FeedSpec:
    """An output feed before rendering: its path without extension, names and story filter."""

    path: str
    title: str
    subtitle: str
    anchor: str
    areas: frozenset[str] | None = None
    topics: frozenset[str] | None = None
    own_sources: bool = False
    """With `areas`: only stories an outlet of those areas carried (`?source=own`)."""
    words: tuple[frozenset[str], ...] = ()
    filter_query: str = ""
    """The canonical query string of ad-hoc filters, part of the feed's id and self link."""

    def query(self, limit: int) -> StoryQuery:
        return StoryQuery(
            areas=self.areas,
            topics=self.topics,
            limit=limit,
            words=self.words,
            own_sources=self.own_sources,
        )

    def url(self, public_url: str, fmt: str, paging: str = "") -> str:
        """The feed's URL in `fmt`, with its filters and an optional paging query."""
        query = "&".join(part for part in (self.filter_query, paging) if part)
        return f"{public_url.rstrip('/')}{self.path}.{fmt}" + (f"?{query}" if query else "")

    def meta(
        self,
        public_url: str,
        fmt: str,
        updated: datetime,
        *,
        paging: str = "",
        links: tuple[tuple[str, str], ...] = (),
        archive: bool = False,
    ) -> OutputFeed:
        """The feed's metadata; the id has no extension so Atom, RSS and JSON share it."""
        base = public_url.rstrip("/")
        ident = f"{base}{self.path}" + (f"?{self.filter_query}" if self.filter_query else "")
        return OutputFeed(
            id=ident,
            title=self.title,
            subtitle=self.subtitle,
            self_url=self.url(public_url, fmt, paging),
            html_url=f"{base}/{self.anchor}",
            updated=updated,
            links=links,
            archive=archive,
        )

    def narrowed(
        self,
        areas: frozenset[str] | None,
        topics: frozenset[str] | None,
        words: tuple[frozenset[str], ...],
        filter_query: str,
        own_sources: bool = False,
    ) -> FeedSpec:
        """This feed with ad-hoc filters on top: each dimension must match both."""
        return replace(
            self,
            areas=_both(self.areas, areas),
            topics=_both(self.topics, topics),
            words=self.words + words,
            own_sources=self.own_sources or own_sources,
            filter_query=filter_query,
            subtitle=f"{self.subtitle} (отбор: {filter_query})" if filter_query else self.subtitle,
        )


def _both(first: frozenset[str] | None, second: frozenset[str] | None) -> frozenset[str] | None:
    if first is None:
        return second
    if second is None:
        return first
    return first & second


def split_name(name: str) -> tuple[str, str | None]:
    """`kuzminki.atom` -> ("kuzminki", "atom"); the format is None when unknown or missing."""
    slug, dot, ext = name.rpartition(".")
    if not dot or ext not in FORMATS:
        return name, None
    return slug, ext


def all_spec() -> FeedSpec:
    return FeedSpec(
        path="/feeds/all",
        title="Москва: новости всех районов",
        subtitle="Новости районов и округов Москвы из районных, окружных и городских изданий",
        anchor="",
    )


def area_spec(config: Config, slug: str) -> FeedSpec | None:
    """A district's feed, or an okrug's feed with all its districts; None for an unknown slug."""
    areas = config.area(slug)
    if areas is None:
        return None
    path = f"/feeds/district/{slug}"
    okrug = config.okrug(slug)
    if okrug is not None:
        return FeedSpec(
            path=path,
            title=f"{okrug.abbr}: новости округа",
            subtitle=f"{okrug.name} и его районы: новости местных изданий",
            anchor=f"#{slug}",
            areas=areas,
        )
    district = config.district(slug)
    assert district is not None  # config.area found it
    return FeedSpec(
        path=path,
        title=f"{district.name}: {_district_kind(district)}",
        subtitle=_district_subtitle(config, district),
        anchor=f"#{slug}",
        areas=areas,
    )


def topic_spec(config: Config, slug: str) -> FeedSpec | None:
    topic = config.topic(slug)
    if topic is None:
        return None
    return FeedSpec(
        path=f"/feeds/topic/{slug}",
        title=f"Москва: {topic.name}",
        subtitle=f"Новости районов Москвы по теме «{topic.name}»",
        anchor="#topics",
        topics=frozenset((slug,)),
    )


def combined_spec(config: Config, area: str, topic: str) -> FeedSpec | None:
    """One district's or okrug's stories on one topic; None when either slug is unknown."""
    place, subject = area_spec(config, area), topic_spec(config, topic)
    found = config.topic(topic)
    if place is None or subject is None or found is None:
        return None
    return FeedSpec(
        path=f"/feeds/district/{area}/topic/{topic}",
        title=f"{place.title.split(':')[0]}: {found.name}",
        subtitle=f"{place.subtitle} — тема «{found.name}»",
        anchor=place.anchor,
        areas=place.areas,
        topics=subject.topics,
    )


def named_spec(config: Config, output: NamedOutput) -> FeedSpec:
    """A sysadmin's saved search from outputs.yaml (validated by the config loader)."""
    areas: set[str] = set()
    for slug in output.areas:
        areas |= config.area(slug) or frozenset()
    return FeedSpec(
        path=f"/feeds/{output.name}",
        title=output.title,
        subtitle=output.description or output.title,
        anchor="",
        areas=frozenset(areas) if output.areas else None,
        topics=frozenset(output.topics) if output.topics else None,
        words=query_words(output.query),
    )


def labels(config: Config) -> dict[str, str]:
    """Russian names of area and topic slugs, for feed categories."""
    names = {d.slug: d.name for d in config.districts}
    names.update({o.slug: o.abbr for o in config.okrugs})
    names.update({t.slug: t.name for t in config.topics})
    return names


def _district_kind(district: District) -> str:
    if district.kind == "settlement":
        return "новости бывшего поселения"
    return "новости района"


def _district_subtitle(config: Config, district: District) -> str:
    okrug = config.okrug(district.okrug)
    where = f" ({okrug.abbr})" if okrug is not None else ""
    if district.kind == "settlement":
        until = f" до {district.valid_until:%d.%m.%Y}" if district.valid_until else ""
        return f"Поселение {district.name}{where}, существовало{until}: новости местных изданий"
    return f"Район {district.name}{where}: новости районных и окружных изданий"
