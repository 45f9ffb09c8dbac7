"""Storage: dedupe candidates, applying plans, and reading stories with sources and tags."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from aggregator.domain import (
    CITY,
    ApplyResult,
    ChangedItem,
    Entry,
    NewItem,
    Source,
    StoryQuery,
    UpdatePlan,
)
from aggregator.errors import StorageError
from aggregator.storage import Storage

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
MSK = timezone(timedelta(hours=3))

SOURCES = (
    Source("https://uv-kurier.ru/feed/", "Юго-Восточный курьер", "uvao"),
    Source("https://gazeta-maryino.ru/feed/", "Марьино сегодня", "maryino"),
    Source("https://www.m24.ru/rss.xml", "Москва 24", CITY),
)
UVAO, MARYINO, M24 = 1, 2, 3


def entry(
    key: str,
    title: str = "В Марьине откроют новую поликлинику",
    *,
    link: str | None = None,
    fingerprint: str | None = None,
    content_hash: str = "h1",
    published: datetime = NOW,
) -> Entry:
    return Entry(
        key=key,
        guid=key,
        link=link,
        title=title,
        summary=f"{title}. Подробности в материале.",
        content_html=f"<p>{title}</p>",
        published=published,
        updated=published,
        author="Редакция",
        categories=("Новости",),
        fingerprint=fingerprint or f"fp-{key}",
        content_hash=content_hash,
    )


def new(
    e: Entry,
    story_key: str | None = None,
    *,
    story_id: int | None = None,
    areas: tuple[str, ...] = (),
    topics: tuple[str, ...] = (),
) -> NewItem:
    key = None if story_id is not None else story_key or f"story-{e.key}"
    return NewItem(e, story_id, key, areas, topics)


@pytest.fixture
def storage(database_url: str) -> Iterator[Storage]:
    opened = Storage.open(database_url)
    opened.sync_sources(SOURCES, NOW)
    assert [f.feed_id for f in opened.enabled_feeds()] == [UVAO, MARYINO, M24]
    yield opened
    opened.close()


def test_apply_creates_stories_items_and_tags(storage: Storage) -> None:
    first = entry("a1", link="https://gazeta-maryino.ru/news/1", published=NOW.astimezone(MSK))
    plan = UpdatePlan(
        new_items=(new(first, areas=("maryino", "uvao"), topics=("healthcare",)),),
    )
    assert storage.apply(MARYINO, plan, NOW) == ApplyResult(new_items=1, new_stories=1)
    [story] = storage.stories(StoryQuery())
    assert (story.key, story.title, story.link) == ("story-a1", first.title, first.link)
    assert story.published == NOW and story.published.tzinfo == UTC
    assert story.updated == NOW
    assert story.areas == ("maryino", "uvao")
    assert story.topics == ("healthcare",)
    assert [(s.outlet, s.feed_url, s.link, s.district) for s in story.sources] == [
        ("Марьино сегодня", SOURCES[1].url, first.link, "maryino")
    ]


def test_items_of_one_plan_can_share_a_new_story(storage: Storage) -> None:
    plan = UpdatePlan(
        new_items=(new(entry("a1"), "shared"), new(entry("a2"), "shared"), new(entry("a3"))),
    )
    assert storage.apply(UVAO, plan, NOW) == ApplyResult(new_items=3, new_stories=2)
    assert storage.counts() == {"feeds": 3, "items": 3, "stories": 2}


def test_same_plan_applied_twice_stores_nothing_new(storage: Storage) -> None:
    plan = UpdatePlan(new_items=(new(entry("a1"), areas=("uvao",)), new(entry("a2"))))
    storage.apply(UVAO, plan, NOW)
    before = storage.stories(StoryQuery())
    assert storage.apply(UVAO, plan, NOW + timedelta(hours=1)) == ApplyResult()
    assert storage.counts() == {"feeds": 3, "items": 2, "stories": 2}
    assert storage.stories(StoryQuery()) == before


def test_two_feeds_creating_the_same_story_key_end_with_one_story(storage: Storage) -> None:
    storage.apply(UVAO, UpdatePlan(new_items=(new(entry("u1"), "same", areas=("uvao",)),)), NOW)
    later = NOW + timedelta(minutes=5)
    result = storage.apply(
        MARYINO, UpdatePlan(new_items=(new(entry("m1"), "same", areas=("maryino",)),)), later
    )
    assert result == ApplyResult(new_items=1, new_stories=0)
    [story] = storage.stories(StoryQuery())
    assert [s.outlet for s in story.sources] == ["Юго-Восточный курьер", "Марьино сегодня"]
    assert story.areas == ("maryino", "uvao")
    assert story.updated == later


def test_concurrent_workers_creating_the_same_keys_end_with_one_story_each(
    database_url: str, storage: Storage
) -> None:
    keys = [f"k{i:03d}" for i in range(300)]
    second = Storage.open(database_url, upgrade=False)
    barrier = threading.Barrier(2)
    results: dict[int, ApplyResult] = {}

    def work(worker: Storage, feed_id: int) -> None:
        # The workers meet the keys in opposite orders, the likeliest way to deadlock.
        ordered = keys if feed_id == UVAO else keys[::-1]
        plan = UpdatePlan(new_items=tuple(new(entry(f"{feed_id}-{k}"), k) for k in ordered))
        barrier.wait()
        results[feed_id] = worker.apply(feed_id, plan, NOW)

    threads = [
        threading.Thread(target=work, args=(storage, UVAO)),
        threading.Thread(target=work, args=(second, MARYINO)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    second.close()
    assert storage.counts() == {"feeds": 3, "items": 600, "stories": 300}
    assert sum(r.new_stories for r in results.values()) == 300
    assert all(len(s.sources) == 2 for s in storage.stories(StoryQuery(limit=1000)))


def test_candidates_find_own_items_and_any_feeds_stories(storage: Storage) -> None:
    stored = entry("u1", link="https://uv-kurier.ru/news/1", fingerprint="fp-metro")
    storage.apply(UVAO, UpdatePlan(new_items=(new(stored),)), NOW)
    story_id = storage.stories(StoryQuery())[0].id

    own = storage.candidates(UVAO, [stored, entry("u2")])
    assert set(own.items) == {"u1"}
    assert own.items["u1"].story_id == story_id
    assert own.items["u1"].content_hash == "h1"

    other = storage.candidates(
        M24,
        [
            entry("u1"),  # the same key in another feed is not this feed's item
            entry("x1", link="https://uv-kurier.ru/news/1"),
            entry("x2", fingerprint="fp-metro"),
            entry("x3", link=None),
        ],
    )
    assert other.items == {}
    assert other.stories_by_link == {"https://uv-kurier.ru/news/1": story_id}
    assert other.stories_by_fingerprint == {"fp-metro": story_id}


def test_candidates_take_the_story_of_the_earliest_item_with_a_link(storage: Storage) -> None:
    link = "https://mos.ru/news/item/1/"
    later = entry("later", link=link, fingerprint="fp-shared")
    earlier = entry("earlier", link=link, fingerprint="fp-shared")
    # Stored in two stories on purpose; the later item is stored first, so ids disagree.
    storage.apply(M24, UpdatePlan(new_items=(new(later, "story:later"),)), NOW + timedelta(hours=1))
    storage.apply(UVAO, UpdatePlan(new_items=(new(earlier, "story:earlier"),)), NOW)
    same_time = entry("same-time", link="https://mos.ru/news/item/2/")
    storage.apply(M24, UpdatePlan(new_items=(new(same_time, "story:first"),)), NOW)
    storage.apply(UVAO, UpdatePlan(new_items=(new(same_time, "story:second"),)), NOW)
    ids = {story.key: story.id for story in storage.stories(StoryQuery())}

    found = storage.candidates(
        MARYINO,
        [entry("x1", link=link), entry("x2", fingerprint="fp-shared"), same_time],
    )
    assert found.stories_by_link == {
        link: ids["story:earlier"],
        "https://mos.ru/news/item/2/": ids["story:first"],  # the same time: the first stored
    }
    assert found.stories_by_fingerprint == {
        "fp-shared": ids["story:earlier"],
        "fp-same-time": ids["story:first"],
    }


def test_very_long_keys_links_and_fingerprints_are_stored_and_found(storage: Storage) -> None:
    long = "https://uv-kurier.ru/news/" + "очень-длинный-адрес-" * 300
    first = entry(long, link=long, fingerprint="fp:" + long)
    plan = UpdatePlan(new_items=(new(first, "story:" + long),))
    assert storage.apply(UVAO, plan, NOW) == ApplyResult(1, 1, 0)
    assert storage.apply(UVAO, plan, NOW) == ApplyResult()
    story_id = storage.stories(StoryQuery())[0].id
    found = storage.candidates(MARYINO, [first])
    assert found.stories_by_link == {long: story_id}
    assert found.stories_by_fingerprint == {"fp:" + long: story_id}
    assert set(storage.candidates(UVAO, [first]).items) == {long}
    [source] = storage.stories(StoryQuery())[0].sources
    assert source.link == long


def test_candidates_for_no_entries_are_empty(storage: Storage) -> None:
    found = storage.candidates(UVAO, [])
    assert (found.items, found.stories_by_link, found.stories_by_fingerprint) == ({}, {}, {})


def test_joining_an_existing_story_bumps_it_and_adds_tags(storage: Storage) -> None:
    storage.apply(M24, UpdatePlan(new_items=(new(entry("c1"), topics=("transport",)),)), NOW)
    story_id = storage.stories(StoryQuery())[0].id
    later = NOW + timedelta(hours=2)
    joined = new(entry("u1", "Другой заголовок"), story_id=story_id, areas=("uvao",))
    assert storage.apply(UVAO, UpdatePlan(new_items=(joined,)), later) == ApplyResult(1, 0, 0)
    story = storage.story(story_id)
    assert story is not None
    assert story.title == "В Марьине откроют новую поликлинику"  # the lead item's title
    assert story.updated == later
    assert (story.areas, story.topics) == (("uvao",), ("transport",))
    assert [s.outlet for s in story.sources] == ["Москва 24", "Юго-Восточный курьер"]


def _changed(storage: Storage, feed_id: int, e: Entry, topics: tuple[str, ...] = ()) -> ChangedItem:
    existing = storage.candidates(feed_id, [e]).items[e.key]
    return ChangedItem(existing.item_id, existing.story_id, e, topics)


def test_changed_lead_item_updates_its_story(storage: Storage) -> None:
    storage.apply(UVAO, UpdatePlan(new_items=(new(entry("u1"), "s"),)), NOW)
    storage.apply(MARYINO, UpdatePlan(new_items=(new(entry("m1"), "s"),)), NOW)
    edited = entry("u1", "В Марьине открыли новую поликлинику", content_hash="h2")
    later = NOW + timedelta(hours=1)
    change = _changed(storage, UVAO, edited, ("healthcare",))
    result = storage.apply(UVAO, UpdatePlan(changed_items=(change,)), later)
    assert result == ApplyResult(updated_items=1)
    [story] = storage.stories(StoryQuery())
    assert (story.title, story.updated, story.published) == (edited.title, later, NOW)
    assert story.topics == ("healthcare",)
    assert storage.candidates(UVAO, [edited]).items["u1"].content_hash == "h2"


def test_changed_later_item_leaves_the_story_alone(storage: Storage) -> None:
    storage.apply(UVAO, UpdatePlan(new_items=(new(entry("u1"), "s"),)), NOW)
    storage.apply(MARYINO, UpdatePlan(new_items=(new(entry("m1"), "s"),)), NOW)
    edited = entry("m1", "Совсем другой заголовок", content_hash="h2")
    change = _changed(storage, MARYINO, edited)
    later = NOW + timedelta(hours=1)
    assert storage.apply(MARYINO, UpdatePlan(changed_items=(change,)), later).updated_items == 1
    [story] = storage.stories(StoryQuery())
    assert (story.title, story.updated) == ("В Марьине откроют новую поликлинику", NOW)
    assert storage.candidates(MARYINO, [edited]).items["m1"].content_hash == "h2"


def test_changed_item_of_another_feed_is_ignored(storage: Storage) -> None:
    storage.apply(UVAO, UpdatePlan(new_items=(new(entry("u1")),)), NOW)
    change = _changed(storage, UVAO, entry("u1", "Чужая правка", content_hash="h9"))
    assert storage.apply(M24, UpdatePlan(changed_items=(change,)), NOW) == ApplyResult()
    assert storage.candidates(UVAO, [entry("u1")]).items["u1"].content_hash == "h1"


# --- stories() ------------------------------------------------------------------------------

STORIES = (
    # key, published hour, areas, topics
    ("metro", 9, ("maryino", "uvao"), ("transport",)),
    ("school", 8, ("kuzminki", "uvao"), ("education",)),
    ("park", 7, ("sokol", "sao"), ("ecology", "improvement")),
    ("budget", 6, (), ("economy",)),
    ("city-metro", 6, (), ("transport",)),
)


@pytest.fixture
def filled(storage: Storage) -> Storage:
    plan = UpdatePlan(
        new_items=tuple(
            new(entry(key, published=NOW.replace(hour=hour)), key, areas=areas, topics=topics)
            for key, hour, areas, topics in STORIES
        )
    )
    storage.apply(M24, plan, NOW)
    return storage


@pytest.mark.parametrize(
    ("areas", "topics", "limit", "expected"),
    [
        (None, None, 50, ["metro", "school", "park", "city-metro", "budget"]),
        (None, None, 2, ["metro", "school"]),
        (frozenset({"uvao"}), None, 50, ["metro", "school"]),
        (frozenset({"maryino", "sao"}), None, 50, ["metro", "park"]),
        (frozenset({"nowhere"}), None, 50, []),
        (frozenset(), None, 50, []),
        (None, frozenset({"transport"}), 50, ["metro", "city-metro"]),
        (None, frozenset({"ecology", "economy"}), 50, ["park", "budget"]),
        (frozenset({"uvao"}), frozenset({"transport"}), 50, ["metro"]),
        (frozenset({"sao"}), frozenset({"transport"}), 50, []),
        (None, None, 0, []),
    ],
)
def test_stories_filter_by_area_and_topic(
    filled: Storage,
    areas: frozenset[str] | None,
    topics: frozenset[str] | None,
    limit: int,
    expected: list[str],
) -> None:
    found = filled.stories(StoryQuery(areas=areas, topics=topics, limit=limit))
    assert [s.key for s in found] == expected


def test_same_published_time_orders_by_newest_id(filled: Storage) -> None:
    found = filled.stories(StoryQuery(topics=frozenset({"economy", "transport"})))
    assert [s.key for s in found][-2:] == ["city-metro", "budget"]


def test_story_by_id(filled: Storage) -> None:
    first = filled.stories(StoryQuery(limit=1))[0]
    assert filled.story(first.id) == first
    assert filled.story(10_000) is None


@contextmanager
def _statements(storage: Storage) -> Iterator[list[str]]:
    """Collect the SQL statements `storage` sends while the block runs."""
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    engine = storage._engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_stories_load_in_a_constant_number_of_queries(filled: Storage) -> None:
    with _statements(filled) as one:
        filled.stories(StoryQuery(limit=1))
    with _statements(filled) as many:
        filled.stories(StoryQuery(limit=50))
    assert len(many) == len(one)


def test_candidates_and_apply_do_not_query_per_entry(storage: Storage) -> None:
    def plan(prefix: str, n: int) -> tuple[list[Entry], UpdatePlan]:
        entries = [entry(f"{prefix}{i}", link=f"https://a.ru/{prefix}{i}") for i in range(n)]
        return entries, UpdatePlan(new_items=tuple(new(e, areas=("uvao",)) for e in entries))

    few_entries, few_plan = plan("a", 1)
    many_entries, many_plan = plan("b", 40)
    with _statements(storage) as few:
        storage.candidates(UVAO, few_entries)
        storage.apply(UVAO, few_plan, NOW)
    with _statements(storage) as many:
        storage.candidates(UVAO, many_entries)
        storage.apply(UVAO, many_plan, NOW)
    assert len(many) == len(few)


def test_apply_is_atomic(storage: Storage) -> None:
    plan = UpdatePlan(new_items=(new(entry("z1")), new(entry("z2"))))
    with pytest.raises(StorageError):
        storage.apply(999, plan, NOW)  # no such feed: the foreign key fails
    assert storage.counts() == {"feeds": 3, "items": 0, "stories": 0}


def test_feed_health_counts_items(filled: Storage) -> None:
    counts = {h.feed_id: h.item_count for h in filled.feed_health()}
    assert counts == {UVAO: 0, MARYINO: 0, M24: len(STORIES)}


@pytest.mark.parametrize(
    ("since_hour", "expected"),
    [(None, 0), (5, 5), (7, 3), (8, 2), (10, 0)],
)
def test_feed_health_counts_items_published_since(
    filled: Storage, since_hour: int | None, expected: int
) -> None:
    since = None if since_hour is None else NOW.replace(hour=since_hour)
    recent = {h.feed_id: h.recent_items for h in filled.feed_health(since)}
    assert recent == {UVAO: 0, MARYINO: 0, M24: expected}
