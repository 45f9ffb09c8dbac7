"""Which output feed a URL names and what it is called: pure functions of the config."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from aggregator.domain import Config, District, OutputFeed, StoryQuery

FORMATS = ("atom", "rss")
OWN_QUERY = "source=own"


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

    def query(self, limit: int) -> StoryQuery:
        return StoryQuery(
            areas=self.areas, topics=self.topics, limit=limit, own_sources=self.own_sources
        )

    def own_only(self) -> FeedSpec:
        """The same area feed restricted to the area's own outlets (`?source=own`)."""
        return replace(
            self,
            subtitle=f"{self.subtitle} (только собственные издания)",
            own_sources=True,
        )

    def meta(self, public_url: str, fmt: str, updated: datetime) -> OutputFeed:
        """The feed's metadata; the id has no extension so Atom and RSS share it."""
        base = public_url.rstrip("/")
        query = f"?{OWN_QUERY}" if self.own_sources else ""
        return OutputFeed(
            id=f"{base}{self.path}{query}",
            title=self.title,
            subtitle=self.subtitle,
            self_url=f"{base}{self.path}.{fmt}{query}",
            html_url=f"{base}/{self.anchor}",
            updated=updated,
        )


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
