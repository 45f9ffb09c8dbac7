"""Pydantic models of the config files: the shape of each file, checked key by key."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from aggregator.domain import ServiceSettings
from aggregator.htmlsource import PRESETS, selector_problem

SLUG = r"^[a-z0-9][a-z0-9-]*$"
MIN_REFRESH = timedelta(minutes=1)
MAX_REFRESH = timedelta(days=7)

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: object) -> timedelta:
    """`90s`, `15m`, `1h30m`, `2d` or a number of seconds → timedelta."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15m, 1h or 90s")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    text = str(value).strip().lower().replace(" ", "")
    match = _DURATION.match(text)
    if not text or match is None:
        raise ValueError(f"not a duration: {value!r} (expected e.g. 90s, 15m, 1h30m)")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _within_refresh_bounds(value: timedelta) -> timedelta:
    if not MIN_REFRESH <= value <= MAX_REFRESH:
        raise ValueError("the interval must be between 1 minute and 7 days")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta():
        raise ValueError("the duration must be positive")
    return value


def _slug(value: str) -> str:
    if not re.match(SLUG, value):
        raise ValueError(f"bad slug {value!r}: use a-z, 0-9 and '-', not starting with '-'")
    return value


def _css(value: str) -> str:
    problem = selector_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _preset(value: str) -> str:
    if value not in PRESETS:
        raise ValueError(f"unknown preset {value!r} (known: {', '.join(sorted(PRESETS))})")
    return value


def _url_check(schemes: str) -> Callable[[str], str]:
    pattern = re.compile(rf"^(?i:{schemes})\S+$")

    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value

    return check


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
RefreshInterval = Annotated[Duration, AfterValidator(_within_refresh_bounds)]
Slug = Annotated[str, AfterValidator(_slug)]
FeedUrl = Annotated[str, AfterValidator(_url_check("https?://"))]
Text = Annotated[str, Field(min_length=1)]
Css = Annotated[str, Field(min_length=1), AfterValidator(_css)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class DistrictModel(Strict):
    slug: Slug
    name: Text


class SettlementModel(Strict):
    slug: Slug
    name: Text
    valid_until: date


class OkrugModel(Strict):
    slug: Slug
    abbr: Text
    name: Text
    short_name: Text
    districts: list[DistrictModel]
    settlements: list[SettlementModel] = []


class DistrictsFile(Strict):
    okrugs: list[OkrugModel]


class SelectorsModel(Strict):
    item: Css
    title: Css
    link: Css | None = None
    date: Css | None = None
    summary: Css | None = None
    image: Css | None = None


class FeedModel(Strict):
    url: FeedUrl
    title: Text
    district: Slug
    refresh: RefreshInterval | None = None
    enabled: bool = True
    kind: Literal["feed", "html"] = "feed"
    selectors: SelectorsModel | None = None
    preset: Annotated[str, AfterValidator(_preset)] | None = None
    full_text: bool = False

    @model_validator(mode="after")
    def _kind_settings(self) -> FeedModel:
        if self.kind == "html" and (self.selectors is None) == (self.preset is None):
            raise ValueError("an html source needs either `selectors` or `preset` (not both)")
        if self.kind == "feed" and (self.selectors is not None or self.preset is not None):
            raise ValueError("`selectors` and `preset` need `kind: html`")
        return self


class FeedsFile(Strict):
    feeds: list[FeedModel]


def _regex(value: str) -> str:
    """A topic pattern must compile and must not match empty text (it would match every story)."""
    try:
        compiled = re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"bad regular expression {value!r}: {exc}") from None
    if compiled.search(""):
        raise ValueError(f"regular expression {value!r} matches empty text, so every story")
    return value


Pattern = Annotated[str, Field(min_length=1), AfterValidator(_regex)]


class TopicModel(Strict):
    slug: Slug
    name: Text
    keywords: Annotated[list[Text], Field(min_length=1)]
    patterns: list[Pattern] = []
    exclude: list[Text] = []
    categories: list[Text] = []


class TopicsFile(Strict):
    topics: list[TopicModel]


def _within_window_bounds(value: timedelta) -> timedelta:
    if not timedelta(hours=1) <= value <= timedelta(days=90):
        raise ValueError("the window must be between 1 hour and 90 days")
    return value


Share = Annotated[float, Field(ge=0, le=1)]
Weight = Annotated[float, Field(ge=0, le=10)]


class DedupeModel(Strict):
    """Near-duplicate thresholds; keys left out keep the tested defaults."""

    min_score: Share | None = None
    min_containment: Share | None = None
    containment_weight: Weight | None = None
    jaccard_weight: Weight | None = None
    title_weight: Weight | None = None
    number_veto: bool | None = None
    window: Annotated[Duration, AfterValidator(_within_window_bounds)] | None = None

    @model_validator(mode="after")
    def _some_weight(self) -> DedupeModel:
        weights = (self.containment_weight, self.jaccard_weight, self.title_weight)
        if all(w is not None for w in weights) and not sum(w or 0.0 for w in weights):
            raise ValueError("at least one of the three weights must be above 0")
        return self


class ServiceFile(Strict):
    contact_url: Annotated[str, AfterValidator(_url_check("https?://|mailto:"))] | None = None
    public_url: FeedUrl | None = None
    default_refresh: RefreshInterval | None = None
    max_body_bytes: Annotated[int, Field(ge=1024)] | None = None
    connect_timeout: Annotated[float, Field(gt=0)] | None = None
    read_timeout: Annotated[float, Field(gt=0)] | None = None
    total_timeout: Annotated[float, Field(gt=0)] | None = None
    max_redirects: Annotated[int, Field(ge=0, le=20)] | None = None
    concurrency: Annotated[int, Field(ge=1, le=256)] | None = None
    feed_size: Annotated[int, Field(ge=1, le=500)] | None = None
    per_host_concurrency: Annotated[int, Field(ge=1, le=64)] | None = None
    min_interval: Annotated[Duration, AfterValidator(_positive)] | None = None
    max_interval: Annotated[Duration, AfterValidator(_positive)] | None = None
    backoff_cap: Annotated[Duration, AfterValidator(_positive)] | None = None

    @model_validator(mode="after")
    def _bounds_in_order(self) -> ServiceFile:
        defaults = ServiceSettings()
        low = self.min_interval or defaults.min_interval
        high = self.max_interval or defaults.max_interval
        cap = self.backoff_cap or defaults.backoff_cap
        if low > high:
            raise ValueError(f"min_interval ({low}) is longer than max_interval ({high})")
        if cap < low:
            raise ValueError(f"backoff_cap ({cap}) is shorter than min_interval ({low})")
        return self

    websub_hub: FeedUrl | None = None
    dedupe: DedupeModel | None = None
