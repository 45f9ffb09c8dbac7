"""The join-or-new-story decider for exact duplicates: entries and stored candidates in, a plan out.

An entry already stored under its key in this feed is unchanged or changed; a new entry joins
the story of an item with the same canonical link or the same content fingerprint, from any
feed; otherwise it starts a story of its own. Entries of one batch that match each other share
one new story. Near-duplicate matching (MinHash) is a later layer on the same plan shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aggregator.domain import Candidates, ChangedItem, Entry, NewItem, UpdatePlan
from aggregator.identity import story_key

TopicsOf = Callable[[Entry], tuple[str, ...]]
AreasOf = Callable[[Entry], tuple[str, ...]]


def _no_mentions(entry: Entry) -> tuple[str, ...]:
    return ()


def plan(
    entries: Sequence[Entry],
    candidates: Candidates,
    areas: tuple[str, ...],
    topics_of: TopicsOf,
    mentions_of: AreasOf = _no_mentions,
) -> UpdatePlan:
    """Decide, for each normalized entry of one feed, whether it is new, changed or unchanged.

    `areas` are the source's own areas; `mentions_of` gives the areas an entry's text names.
    """
    new_items: list[NewItem] = []
    changed: list[ChangedItem] = []
    unchanged = 0
    batch_keys: dict[str, str] = {}
    for entry in entries:
        existing = candidates.items.get(entry.key)
        if existing is not None:
            if existing.content_hash == entry.content_hash:
                unchanged += 1
            else:
                changed.append(
                    ChangedItem(
                        existing.item_id,
                        existing.story_id,
                        entry,
                        topics_of(entry),
                        mentions_of(entry),
                    )
                )
            continue
        story_id = _stored_story(entry, candidates)
        new_key = None if story_id is not None else _batch_story_key(entry, batch_keys)
        new_items.append(
            NewItem(entry, story_id, new_key, areas, topics_of(entry), mentions_of(entry))
        )
    return UpdatePlan(tuple(new_items), tuple(changed), unchanged)


def _stored_story(entry: Entry, candidates: Candidates) -> int | None:
    if entry.link is not None and entry.link in candidates.stories_by_link:
        return candidates.stories_by_link[entry.link]
    return candidates.stories_by_fingerprint.get(entry.fingerprint)


def _batch_story_key(entry: Entry, batch_keys: dict[str, str]) -> str:
    """The key of the new story this entry starts, or shares with an earlier entry of the batch."""
    markers = [f"fp:{entry.fingerprint}"]
    if entry.link is not None:
        markers.append(f"link:{entry.link}")
    for marker in markers:
        if marker in batch_keys:
            key = batch_keys[marker]
            break
    else:
        key = story_key(entry)
    for marker in markers:
        batch_keys.setdefault(marker, key)
    return key
