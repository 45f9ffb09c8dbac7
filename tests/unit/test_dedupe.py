"""The exact-duplicate decider: new, changed, unchanged entries; stories by link or fingerprint."""

from __future__ import annotations

from datetime import UTC, datetime

from aggregator.dedupe import plan
from aggregator.domain import Candidates, Entry, ExistingItem

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
AREAS = ("maryino", "yuvao")


def entry(
    key: str, *, link: str | None = None, fingerprint: str | None = None, content_hash: str = "h"
) -> Entry:
    return Entry(
        key=key,
        guid=key,
        link=link,
        title=f"Заголовок {key}",
        summary="Текст новости",
        content_html="<p>Текст новости</p>",
        published=NOW,
        updated=NOW,
        author=None,
        categories=(),
        fingerprint=fingerprint or f"fp-{key}",
        content_hash=content_hash,
    )


def candidates(
    items: dict[str, ExistingItem] | None = None,
    by_link: dict[str, int] | None = None,
    by_fingerprint: dict[str, int] | None = None,
) -> Candidates:
    return Candidates(items or {}, by_link or {}, by_fingerprint or {})


def no_topics(_: Entry) -> tuple[str, ...]:
    return ()


def test_new_entries_start_their_own_stories() -> None:
    result = plan([entry("a"), entry("b")], candidates(), AREAS, no_topics)
    assert [item.story_id for item in result.new_items] == [None, None]
    keys = [item.new_story_key for item in result.new_items]
    assert None not in keys and len(set(keys)) == 2
    assert all(item.areas == AREAS for item in result.new_items)


def test_known_entry_with_same_hash_is_unchanged() -> None:
    stored = {"a": ExistingItem(item_id=7, story_id=3, content_hash="h")}
    result = plan([entry("a")], candidates(stored), AREAS, no_topics)
    assert result.unchanged == 1 and not result.new_items and not result.changed_items


def test_known_entry_with_other_hash_is_changed() -> None:
    stored = {"a": ExistingItem(item_id=7, story_id=3, content_hash="old")}
    result = plan([entry("a", content_hash="new")], candidates(stored), AREAS, no_topics)
    (changed,) = result.changed_items
    assert (changed.item_id, changed.story_id) == (7, 3)


def test_new_entry_joins_story_with_same_canonical_link() -> None:
    found = candidates(by_link={"https://example.ru/news/1": 42})
    result = plan([entry("a", link="https://example.ru/news/1")], found, AREAS, no_topics)
    (new,) = result.new_items
    assert (new.story_id, new.new_story_key) == (42, None)


def test_new_entry_joins_story_with_same_fingerprint() -> None:
    found = candidates(by_fingerprint={"same": 9})
    result = plan([entry("a", fingerprint="same")], found, AREAS, no_topics)
    assert result.new_items[0].story_id == 9


def test_link_match_wins_over_fingerprint_match() -> None:
    found = candidates(by_link={"https://a.ru/1": 1}, by_fingerprint={"fp": 2})
    result = plan([entry("a", link="https://a.ru/1", fingerprint="fp")], found, AREAS, no_topics)
    assert result.new_items[0].story_id == 1


def test_matching_entries_in_one_batch_share_one_new_story() -> None:
    batch = [
        entry("a", fingerprint="same"),
        entry("b", fingerprint="same"),
        entry("c", link="https://a.ru/x"),
        entry("d", link="https://a.ru/x"),
    ]
    keys = [item.new_story_key for item in plan(batch, candidates(), AREAS, no_topics).new_items]
    assert keys[0] == keys[1] and keys[2] == keys[3] and keys[0] != keys[2]


def test_topics_come_from_the_callback() -> None:
    result = plan([entry("a")], candidates(), AREAS, lambda e: ("transport",))
    assert result.new_items[0].topics == ("transport",)
