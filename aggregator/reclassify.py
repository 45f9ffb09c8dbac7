"""Recompute stored stories' topics and mentioned areas after the topics or gazetteer change.

A story's topics and mentions are the union over its items (as at ingest, where each new item
adds its own); its source areas are facts about its outlets and are kept. Stories are read and
written in batches, each in its own short transaction, so a running service keeps ingesting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from aggregator.classify import TopicMatcher, compile_topics
from aggregator.domain import Config, ItemText, Retag
from aggregator.gazetteer import Gazetteer, build_gazetteer
from aggregator.storage import Storage

BATCH_SIZE = 500


@dataclass
class ReclassifySummary:
    """Counts over one reclassify run."""

    stories: int = 0
    topics: int = 0
    mentions: int = 0

    def __str__(self) -> str:
        return (
            f"reclassified {self.stories} stories: {self.topics} topic tags, "
            f"{self.mentions} mentioned-area tags"
        )


def retag(
    story_id: int, texts: Sequence[ItemText], matcher: TopicMatcher, gazetteer: Gazetteer
) -> Retag:
    """A story's topics and mentioned areas from its items' stored texts (pure)."""
    topics: dict[str, None] = {}
    areas: dict[str, None] = {}
    for item in texts:
        topics.update(dict.fromkeys(matcher.match(item.title, item.summary, item.categories)))
        areas.update(dict.fromkeys(gazetteer.areas(item.title, item.summary)))
    return Retag(story_id, tuple(topics), tuple(areas))


def reclassify(
    config: Config,
    storage: Storage,
    since: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ReclassifySummary:
    """Re-tag every story published since `since` (all when None); `progress` gets batch sizes."""
    matcher = compile_topics(config.topics)
    gazetteer = build_gazetteer(config)
    summary = ReclassifySummary()
    for batch in storage.story_texts(since, batch_size):
        retags = [retag(sid, texts, matcher, gazetteer) for sid, texts in batch.items()]
        storage.retag(retags)
        summary.stories += len(retags)
        summary.topics += sum(len(r.topics) for r in retags)
        summary.mentions += sum(len(r.mentioned) for r in retags)
        if progress is not None:
            progress(len(retags))
    return summary
