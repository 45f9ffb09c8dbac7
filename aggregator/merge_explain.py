"""Why items were merged: each member's similarity to a story's lead item, as text and as JSON.

Pure: stories and their members in, lines and JSON-ready records out. The lead item is the
story's earliest item, the one its entry links to.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aggregator import dedupe, similarity
from aggregator.domain import Story, StoryMember
from aggregator.similarity import Thresholds

MOSCOW = ZoneInfo("Europe/Moscow")


def similarities(members: Sequence[StoryMember], limits: Thresholds) -> list[float | None]:
    """Each member's verified similarity to the first member (1.0 for the lead itself);
    None where features are missing (items stored before near-duplicate matching)."""
    if not members or members[0].features is None:
        return [None] * len(members)
    lead = dedupe.decode(members[0].features)
    scores: list[float | None] = []
    for member in members:
        if member.features is None:
            scores.append(None)
        else:
            scores.append(
                round(similarity.similarity(lead, dedupe.decode(member.features), limits), 3)
            )
    return scores


def record(
    story: Story,
    members: Sequence[StoryMember],
    scores: Sequence[float | None],
    districts: frozenset[str],
) -> dict[str, object]:
    """One JSON Lines record of a story: id, title, first seen, topics, districts, members."""
    return {
        "id": story.id,
        "title": story.title,
        "first_seen": (story.first_seen or story.published).isoformat(),
        "topics": list(story.topics),
        "districts": [area for area in story.areas if area in districts],
        "members": [
            {
                "outlet": member.outlet,
                "feed_url": member.feed_url,
                "item_url": member.link,
                "title": member.title,
                "similarity": score,
            }
            for member, score in zip(members, scores, strict=True)
        ],
    }


def describe(story: Story, members: Sequence[StoryMember], scores: Sequence[float | None]) -> str:
    """A sysadmin's view of a story: its entry, then each member with its similarity to the lead."""
    first_seen = (story.first_seen or story.published).isoformat(timespec="seconds")
    lines = [
        f"story {story.id}: {story.title}",
        f"  link: {story.link or '-'}",
        f"  published {story.published.isoformat(timespec='seconds')}, first seen {first_seen}",
        f"  areas: {', '.join(story.areas) or '-'}; topics: {', '.join(story.topics) or '-'}",
        f"  members ({len(members)}), similarity to the lead item:",
    ]
    for index, (member, score) in enumerate(zip(members, scores, strict=True)):
        shown = "lead" if index == 0 else ("n/a" if score is None else f"{score:.3f}")
        lines.append(f"  [{shown:>5}] {member.outlet}: {member.title}")
        lines.append(f"          {member.link or member.feed_url}")
    return "\n".join(lines)


def parse_since(text: str) -> datetime:
    """`--since`: a date (midnight in Moscow, where the news happens) or an ISO datetime
    (Moscow time unless it names its offset), as aware UTC."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"not a date: {text!r} (expected e.g. 2026-11-01)") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=MOSCOW)
    return parsed.astimezone(UTC)
