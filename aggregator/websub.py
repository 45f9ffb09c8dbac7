"""WebSub (W3C) publishing, pure: which output URLs changed when these stories changed.

A story changes the whole-city feed, the feeds of its districts and okrugs, of its topics, of
each district-or-okrug × topic pair, and the named outputs whose filter it passes. Each output
is a separate WebSub topic in each format. Named outputs with a full-text query are included
whenever their other filters pass: a spare ping costs a hub one fetch that answers 304.
"""

from __future__ import annotations

from collections.abc import Iterable

from aggregator.domain import Config

FORMATS = ("atom", "rss", "json")

Tags = tuple[frozenset[str], frozenset[str]]
"""A changed story's (areas, topics)."""


def changed_paths(config: Config, changed: Iterable[Tags]) -> list[str]:
    """The output paths (without extension) whose content the changed stories touch."""
    paths: set[str] = set()
    for story_areas, topics in changed:
        areas = _with_okrugs(config, story_areas)
        paths.add("/feeds/all")
        paths.update(f"/feeds/district/{area}" for area in areas)
        paths.update(f"/feeds/topic/{topic}" for topic in topics if config.topic(topic))
        paths.update(
            f"/feeds/district/{area}/topic/{topic}"
            for area in areas
            for topic in topics
            if config.topic(topic)
        )
        for output in config.outputs:
            wanted_areas = set().union(*(config.area(a) or () for a in output.areas))
            if output.areas and not wanted_areas & story_areas:
                continue
            if output.topics and not set(output.topics) & topics:
                continue
            paths.add(f"/feeds/{output.name}")
    return sorted(paths)


def topic_urls(config: Config, changed: Iterable[Tags]) -> list[str]:
    """The WebSub topic URLs to announce: every changed output in every format."""
    base = config.service.public_url.rstrip("/")
    return [f"{base}{path}.{fmt}" for path in changed_paths(config, changed) for fmt in FORMATS]


def _with_okrugs(config: Config, areas: frozenset[str]) -> set[str]:
    """Known area slugs of a story plus the okrugs of its districts (okrug feeds include them)."""
    found = {area for area in areas if config.area(area) is not None}
    for area in list(found):
        district = config.district(area)
        if district is not None and config.okrug(district.okrug) is not None:
            found.add(district.okrug)
    return found
