"""Why a stored story has its topics and areas: the classifier re-run on its items, as text.

Pure: the caller passes the story's stored items and tags, the compiled matcher and gazetteer.
Topics and mentions are recomputed from each item's title, lead and feed categories (the lead
item first), so after a config change the explanation shows what `aggregator reclassify` would
store, and says where the stored tags differ.
"""

from __future__ import annotations

from collections.abc import Sequence

from aggregator.classify import TopicEvidence, TopicMatcher
from aggregator.domain import CITY, AreaTag, Config, ItemText, Story
from aggregator.gazetteer import Gazetteer, Mention

__all__ = ["explain_story"]


def explain_story(
    story: Story,
    texts: Sequence[ItemText],
    tags: Sequence[AreaTag],
    config: Config,
    matcher: TopicMatcher,
    gazetteer: Gazetteer,
) -> str:
    """A plain-text report: each topic and area of the story with what gave it."""
    lines = [f"story {story.id}: {story.title}", f"items: {len(texts)}"]
    for n, item in enumerate(texts):
        role = "lead" if n == 0 else "item"
        lines.append(f"  {role} {item.item_id} from {item.outlet} ({item.district})")
    lines += ["", "topics:"]
    lines += _topic_lines(story, texts, matcher)
    lines += ["", "areas:"]
    lines += _area_lines(tags, texts, config, gazetteer)
    return "\n".join(lines)


def _topic_lines(story: Story, texts: Sequence[ItemText], matcher: TopicMatcher) -> list[str]:
    evidence: dict[str, list[tuple[ItemText, TopicEvidence]]] = {}
    for item in texts:
        for found in matcher.explain_match(item.title, item.summary, item.categories):
            evidence.setdefault(found.slug, []).append((item, found))
    assigned = {slug for slug, found in evidence.items() if any(e.assigned for _, e in found)}
    lines: list[str] = []
    for slug in sorted(set(story.topics) | assigned):
        state = _state(slug in story.topics, slug in assigned)
        lines.append(f"  {slug}{state}")
        for item, found in evidence.get(slug, []):
            lines.append(f"    item {item.item_id}: {_describe_topic(found)}")
    for slug, pairs in sorted(evidence.items()):
        if slug not in assigned and slug not in story.topics:
            why = "; ".join(_describe_topic(e) for _, e in pairs)
            lines.append(f"  ({slug} not given: {why})")
    return lines or ["  none"]


def _describe_topic(found: TopicEvidence) -> str:
    parts = []
    if found.matched:
        words = ", ".join(f"«{m}»" for m in found.matched)
        parts.append(f"keywords/phrases/patterns {words} (score {found.score:g})")
    if found.categories:
        parts.append("feed categories " + ", ".join(f"«{c}»" for c in found.categories))
    if found.excluded:
        parts.append("vetoed by exclusion " + ", ".join(f"«{e}»" for e in found.excluded))
    if not found.assigned and not found.excluded:
        parts.append("below the bar")
    return "; ".join(parts)


def _state(stored: bool, computed: bool) -> str:
    if stored and computed:
        return ""
    if stored:
        return "  [stored, but the current config no longer gives it: run aggregator reclassify]"
    return "  [not stored yet: run aggregator reclassify]"


def _area_lines(
    tags: Sequence[AreaTag], texts: Sequence[ItemText], config: Config, gazetteer: Gazetteer
) -> list[str]:
    mentions: dict[str, list[tuple[ItemText, Mention]]] = {}
    for item in texts:
        for mention in gazetteer.mentions(item.title, item.summary):
            mentions.setdefault(mention.slug, []).append((item, mention))
    lines: list[str] = []
    stored = {tag.area: tag.via for tag in tags}
    for tag in tags:
        lines.append(f"  {tag.area} ({_area_name(config, tag.area)}) via {tag.via}")
        if tag.via == "source":
            lines += [
                f"    outlet {item.outlet} ({item.district})"
                for item in texts
                if tag.area in config.source_areas(item.district)
            ]
        lines += _mention_lines(tag.area, mentions, config)
    computed = {
        area for item in texts for area in gazetteer.areas(item.title, item.summary)
    } - stored.keys()
    for area in sorted(computed):
        lines.append(f"  {area} ({_area_name(config, area)})  [not stored yet: run reclassify]")
        lines += _mention_lines(area, mentions, config)
    return lines or ["  none (a city-wide outlet, and no district named in the text)"]


def _mention_lines(
    area: str, mentions: dict[str, list[tuple[ItemText, Mention]]], config: Config
) -> list[str]:
    lines = []
    for item, mention in mentions.get(area, []):
        where = "title" if mention.in_title else "text"
        lines.append(f"    item {item.item_id} {where}: «{mention.text}» (rule {mention.rule})")
    members = [d for d in config.districts if d.okrug == area and d.slug in mentions]
    for district in members:
        lines.append(f"    okrug of the mentioned {district.name}")
    return lines


def _area_name(config: Config, slug: str) -> str:
    okrug = config.okrug(slug)
    if okrug is not None:
        return okrug.abbr
    district = config.district(slug)
    return district.name if district is not None else ("город" if slug == CITY else slug)
