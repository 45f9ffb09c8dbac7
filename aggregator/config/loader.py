"""Config directory → validated, frozen `Config`, with every problem reported as file:line."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from aggregator.config.models import (
    DistrictsFile,
    FeedModel,
    FeedsFile,
    OkrugModel,
    ServiceFile,
    TopicModel,
    TopicsFile,
)
from aggregator.config.outputs import OutputsFile, check_outputs, named_outputs
from aggregator.config.yamlsource import YamlSource, duplicate_keys, read_yaml
from aggregator.domain import (
    CITY,
    Config,
    DedupeSettings,
    District,
    HtmlSelectors,
    Okrug,
    ServiceSettings,
    Source,
    Topic,
)
from aggregator.errors import ConfigError, ConfigIssue
from aggregator.normalize import display_url

Model = TypeVar("Model", bound=BaseModel)
Loaded = tuple[YamlSource, Model | None]


def load_config(directory: str | os.PathLike[str]) -> Config:
    """Load and validate the config directory; raise ConfigError listing every problem."""
    config, issues = check_config(directory)
    if config is None:
        raise ConfigError(issues)
    return config


def check_config(directory: str | os.PathLike[str]) -> tuple[Config | None, list[ConfigIssue]]:
    """Validate the config directory without raising: the config, or None and the issues."""
    base = Path(directory)
    issues: list[ConfigIssue] = []
    districts = _load(base / "districts.yaml", DistrictsFile, issues)
    feeds = _load(base / "feeds.yaml", FeedsFile, issues)
    topics = _load(base / "topics.yaml", TopicsFile, issues)
    service = _load(base / "service.yaml", ServiceFile, issues, required=False)
    outputs = _load(base / "outputs.yaml", OutputsFile, issues, required=False)
    # Cross-checks read the raw data, so an item that fails its own schema still takes part and
    # one bad entry does not hide the other problems of its file.
    areas = _raw_area_slugs(districts[0]) if districts is not None else []
    if districts is not None:
        issues += _check_area_slugs(districts[0], areas)
    if feeds is not None:
        if areas:  # without any known area every feed would be reported, which helps nobody
            known = {slug for _, slug in areas}
            issues += _check_feed_districts(
                feeds[0], _raw_field(feeds[0], "feeds", "district"), known
            )
        issues += _check_feed_urls(feeds[0], _raw_field(feeds[0], "feeds", "url"))
    if topics is not None:
        slugs = _raw_field(topics[0], "topics", "slug")
        paths = [("topics", i, "slug") for i, _ in slugs]
        issues += _duplicates(topics[0], paths, [slug for _, slug in slugs], "topic slug")
    if (
        issues
        or districts is None
        or districts[1] is None
        or feeds is None
        or feeds[1] is None
        or topics is None
        or topics[1] is None
    ):
        return None, sorted(issues)
    settings = service[1] if service is not None else None
    config = _build(districts[1].okrugs, feeds[1].feeds, topics[1].topics, settings)
    if outputs is not None and outputs[1] is not None:
        known_areas = {o.slug for o in config.okrugs} | {d.slug for d in config.districts}
        known_topics = {t.slug for t in config.topics}
        issues = check_outputs(outputs[0], outputs[1].outputs, known_areas, known_topics)
        if issues:
            return None, sorted(issues)
        config = replace(config, outputs=named_outputs(outputs[1].outputs))
    return config, []


def summary(config: Config) -> str:
    """One line for `check-config`: the counts of what the config defines."""
    current = sum(1 for d in config.districts if d.kind == "district")
    settlements = len(config.districts) - current
    enabled = sum(1 for s in config.sources if s.enabled)
    return (
        f"config OK: {len(config.okrugs)} okrugs, {current} districts, "
        f"{settlements} former settlements, {len(config.sources)} feeds ({enabled} enabled), "
        f"{len(config.topics)} topics"
    )


def _load(
    path: Path, model: type[Model], issues: list[ConfigIssue], *, required: bool = True
) -> Loaded[Model] | None:
    source = read_yaml(path, required=required)
    if source is None or isinstance(source, ConfigIssue):
        if source is not None:
            issues.append(source)
        return None
    issues.extend(duplicate_keys(source))
    if source.data is not None and not isinstance(source.data, dict):
        keys = ", ".join(model.model_fields)
        found = type(source.data).__name__
        issues.append(source.issue((), f"expected a mapping with the keys {keys}, found a {found}"))
        return source, None
    try:
        return source, model.model_validate(source.data if source.data is not None else {})
    except ValidationError as exc:
        issues.extend(_validation_issue(source, error) for error in exc.errors())
        return source, None


def _validation_issue(source: YamlSource, error: object) -> ConfigIssue:
    assert isinstance(error, dict)
    path = [step for step in error["loc"] if isinstance(step, int) or "[" not in str(step)]
    where = _dotted(path)
    if error["type"] == "extra_forbidden":
        message = f"unknown key '{path[-1]}'" + (f" in {_dotted(path[:-1])}" if path[:-1] else "")
    elif error["type"] == "missing":
        message = f"{where}: required key is missing"
    else:
        text = str(error["msg"]).removeprefix("Value error, ")
        message = f"{where}: {text}" if where else text
    return source.issue(path, message)


def _dotted(path: Sequence[str | int]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def _raw_area_slugs(source: YamlSource) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, slug) of every okrug, district and settlement that has a string slug."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    for i, okrug in _raw_items(source.data, "okrugs"):
        if isinstance(okrug.get("slug"), str):
            found.append((("okrugs", i, "slug"), okrug["slug"]))
        for group in ("districts", "settlements"):
            for j, area in _raw_items(okrug, group):
                if isinstance(area.get("slug"), str):
                    found.append((("okrugs", i, group, j, "slug"), area["slug"]))
    return found


def _check_area_slugs(
    source: YamlSource, areas: list[tuple[tuple[str | int, ...], str]]
) -> list[ConfigIssue]:
    issues = _duplicates(source, [p for p, _ in areas], [s for _, s in areas], "area slug")
    issues += [
        source.issue(path, f"'{CITY}' is reserved for city-wide sources")
        for path, slug in areas
        if slug == CITY
    ]
    return issues


def _raw_items(data: object, key: str) -> list[tuple[int, dict[str, Any]]]:
    """(index, item) of the mapping items of the list under `key`, whatever else is there."""
    raw = data.get(key) if isinstance(data, dict) else None
    items = raw if isinstance(raw, list) else []
    return [(index, item) for index, item in enumerate(items) if isinstance(item, dict)]


def _raw_field(source: YamlSource, key: str, field: str) -> list[tuple[int, str]]:
    """(index, value) of a string field in every item of a list, valid items or not."""
    return [
        (index, item[field])
        for index, item in _raw_items(source.data, key)
        if isinstance(item.get(field), str)
    ]


def _check_feed_districts(
    source: YamlSource, districts: list[tuple[int, str]], areas: set[str]
) -> list[ConfigIssue]:
    return [
        source.issue(
            ("feeds", i, "district"),
            f"feeds[{i}].district: unknown district or okrug slug '{district}' "
            f"(see districts.yaml; use '{CITY}' for city-wide outlets)",
        )
        for i, district in districts
        if district != CITY and district not in areas
    ]


def _check_feed_urls(source: YamlSource, urls: list[tuple[int, str]]) -> list[ConfigIssue]:
    paths = [("feeds", i, "url") for i, _ in urls]
    return _duplicates(source, paths, [_url_identity(url) for _, url in urls], "feed URL")


def _url_identity(url: str) -> str:
    """Two spellings of one feed URL compare equal: case of scheme and host, trailing slash."""
    try:
        parts = urlsplit(url.strip())
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed URL is its own identity; the fetcher will report it
        return url.strip()
    host = parts.hostname or ""
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{host.lower()}{port}{parts.path.rstrip('/')}{query}"


def _duplicates(
    source: YamlSource, paths: Sequence[Sequence[str | int]], values: Sequence[str], what: str
) -> list[ConfigIssue]:
    first_line: dict[str, int] = {}
    issues = []
    for path, value in zip(paths, values, strict=True):
        line = source.line(path)
        if value in first_line:
            issues.append(
                ConfigIssue(
                    source.file,
                    line,
                    f"duplicate {what} '{value}' (first on line {first_line[value]})",
                )
            )
        else:
            first_line[value] = line
    return issues


def _build(
    okrug_models: list[OkrugModel],
    feeds: list[FeedModel],
    topics: list[TopicModel],
    service: ServiceFile | None,
) -> Config:
    okrugs: list[Okrug] = []
    areas: list[District] = []
    for o in okrug_models:
        areas += [District(d.slug, d.name, o.slug) for d in o.districts]
        areas += [
            District(s.slug, s.name, o.slug, "settlement", s.valid_until) for s in o.settlements
        ]
        members = tuple(d.slug for d in o.districts) + tuple(s.slug for s in o.settlements)
        okrugs.append(Okrug(o.slug, o.name, o.abbr, o.short_name, members))
    sources = tuple(_source(f) for f in feeds)
    topic_list = tuple(
        Topic(
            t.slug,
            t.name,
            tuple(t.keywords),
            tuple(t.patterns),
            tuple(t.exclude),
            tuple(t.categories),
        )
        for t in topics
    )
    settings = _service_settings(service) if service else ServiceSettings()
    return Config(tuple(okrugs), tuple(areas), sources, topic_list, settings)


def _service_settings(service: ServiceFile) -> ServiceSettings:
    values = service.model_dump(exclude_none=True, exclude={"dedupe"})
    if service.dedupe is not None:
        values["dedupe"] = DedupeSettings(**service.dedupe.model_dump(exclude_none=True))
    return ServiceSettings(**values)


def _source(feed: FeedModel) -> Source:
    """A configured source; a punycode host is kept in its Unicode form, as people read it."""
    selectors = HtmlSelectors(**feed.selectors.model_dump()) if feed.selectors else None
    return Source(
        display_url(feed.url),
        feed.title,
        feed.district,
        feed.refresh,
        feed.enabled,
        kind=feed.kind,
        selectors=selectors,
        preset=feed.preset,
        full_text=feed.full_text,
    )
