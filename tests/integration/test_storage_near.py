"""Near-duplicate stories in storage: features and band rows, candidates in the window, and two
workers ingesting the same story at the same moment."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from aggregator import dedupe
from aggregator.devtools.entries import text_entry
from aggregator.devtools.eval_dedupe import load_items
from aggregator.domain import (
    CITY,
    ApplyResult,
    Candidates,
    Config,
    Entry,
    ServiceSettings,
    Source,
    StoryQuery,
    UpdatePlan,
)
from aggregator.errors import StorageError
from aggregator.render import entry_id
from aggregator.scheduler import UpdateScheduler
from aggregator.search import query_words
from aggregator.similarity import Thresholds
from aggregator.storage import Storage, near, tags, writes
from aggregator.storage import engine as engine_module
from aggregator.storage.schema import (
    DERIVED_TABLES,
    VIA_MENTION,
    VIA_SOURCE,
    band_sets,
    items,
    story_areas,
    story_topics,
)
from aggregator.storage.sql import driver_rows
from aggregator.update import Updater

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SOURCES = (
    Source("https://kuzminki-segodnya.example/feed/", "Кузьминки сегодня", "kuzminki"),
    Source("https://uv-kurier.example/rss", "Юго-Восточный курьер", "uvao"),
    Source("https://www.m24.example/rss.xml", "Москва 24", CITY),
)
KUZMINKI, UVAO, M24 = 1, 2, 3

METRO = (
    "Новая станция метро «Сосновая роща» откроется на Троицкой линии в декабре",
    "Станцию «Сосновая роща» Троицкой линии метро откроют для пассажиров в декабре. "
    "Она станет пятнадцатой на линии, рассказали в Департаменте строительства.",
)
METRO_REPRINT = (
    "На Троицкой линии в декабре откроется станция «Сосновая роща»",
    "Текст: Юго-Восточный курьер. Станцию «Сосновая роща» Троицкой линии метро откроют "
    "для пассажиров в декабре. Она станет пятнадцатой на линии.",
)


def entry(key: str, title: str, lead: str, published: datetime = NOW) -> Entry:
    return text_entry(key, title, lead, published)


def ingest(
    storage: Storage,
    feed_id: int,
    entries: list[Entry],
    now: datetime = NOW,
    hook: Callable[[Candidates], None] | None = None,
) -> ApplyResult:
    """What the Updater does for one feed, with an optional hook run while planning."""
    features = {e.key: dedupe.entry_features(e) for e in entries}
    limits = Thresholds()

    def decide(candidates: Candidates) -> UpdatePlan:
        if hook is not None:
            hook(candidates)
        return dedupe.plan(entries, candidates, (), lambda _: (), features=features, limits=limits)

    keys = {k: f.band_keys for k, f in features.items()}
    return storage.ingest(feed_id, entries, decide, now, band_keys=keys, window=limits.window)


@pytest.fixture
def storage(database_url: str) -> Iterator[Storage]:
    opened = Storage.open(database_url)
    opened.sync_sources(SOURCES, NOW)
    yield opened
    opened.close()


def rows(storage: Storage, table: str) -> int:
    with storage._engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_a_reprint_in_another_feed_joins_the_story_and_keeps_its_entry_id(
    storage: Storage,
) -> None:
    first = ingest(storage, KUZMINKI, [entry("k1", *METRO, NOW - timedelta(hours=2))])
    assert first == ApplyResult(new_items=1, new_stories=1)
    [before] = storage.stories(StoryQuery())
    later = NOW + timedelta(minutes=30)
    second = ingest(storage, UVAO, [entry("u1", *METRO_REPRINT)], later)
    assert second == ApplyResult(new_items=1, new_stories=0)
    [after] = storage.stories(StoryQuery())
    assert entry_id(after) == entry_id(before) and after.id == before.id
    # The entry keeps the earliest source's title and link and lists both outlets.
    assert (after.title, after.link) == (METRO[0], "https://news.example/k1")
    assert [s.outlet for s in after.sources] == ["Кузьминки сегодня", "Юго-Восточный курьер"]
    assert after.updated == later
    assert rows(storage, "item_features") == 2
    assert rows(storage, "band_sets") == 2


def test_candidates_come_from_band_keys_within_the_window(storage: Storage) -> None:
    ingest(storage, KUZMINKI, [entry("k1", *METRO)])
    ingest(storage, M24, [entry("m1", "Парковка в центре будет бесплатной 4 ноября", "Текст.")])
    probe = entry("u1", *METRO_REPRINT, NOW + timedelta(days=6))
    keys = {probe.key: dedupe.entry_features(probe).band_keys}
    found = storage.candidates(UVAO, [probe], keys, timedelta(days=7))
    assert {c.item_id for c in found.near} == {1}
    late = entry("u1", *METRO_REPRINT, NOW + timedelta(days=8))
    assert storage.candidates(UVAO, [late], keys, timedelta(days=7)).near == ()
    assert storage.candidates(UVAO, [probe]).near == ()


def test_a_worker_catches_up_with_band_sets_stored_by_another_in_batches(
    storage: Storage, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(near, "CATCH_UP_BATCH", 2)
    other = Storage.open(database_url, upgrade=False)
    try:
        probe = entry("u1", *METRO_REPRINT)
        keys = {probe.key: dedupe.entry_features(probe).band_keys}
        assert other.candidates(UVAO, [probe], keys).near == ()
        fillers = [
            entry(f"m{n}", f"Каток №{n} откроется в парке", "Вход свободный.") for n in range(5)
        ]
        ingest(storage, M24, fillers)
        ingest(storage, KUZMINKI, [entry("k1", *METRO)])
        # Stored by the first worker after the second had read everything there was.
        assert {c.item_id for c in other.candidates(UVAO, [probe], keys).near} == {6}
    finally:
        other.close()


def test_a_mirror_skips_band_sets_another_thread_added_after_its_request(
    storage: Storage, database_url: str
) -> None:
    ingest(storage, KUZMINKI, [entry("k1", *METRO)])
    ingest(storage, M24, [entry("m1", "Каток откроется в парке", "Вход свободный.")])
    mirror, plain = near.BandMirror(), near.BandMirror()
    engine = engine_module.create(database_url)
    try:
        with engine.connect() as conn:
            rows = driver_rows(conn, *mirror.catch_up_request())
            mirror.catch_up(conn)  # another thread catches up between the request and its rows
            mirror.caught_up(conn, rows)
            plain.catch_up(conn)
    finally:
        engine.dispose()
    assert len(rows) == 2
    assert mirror.rows() == plain.rows() > 0


def test_pruning_also_forgets_the_bands_held_in_memory(storage: Storage) -> None:
    old = NOW - timedelta(days=60)
    ingest(storage, KUZMINKI, [entry("k1", *METRO, old)])
    probe = entry("u1", *METRO_REPRINT, old + timedelta(days=1))
    keys = {probe.key: dedupe.entry_features(probe).band_keys}
    assert {c.item_id for c in storage.candidates(UVAO, [probe], keys).near} == {1}
    assert storage.prune_bands(NOW - timedelta(days=28)) == 1
    assert storage.candidates(UVAO, [probe], keys).near == ()


_REFUSE_COMMIT = [
    "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql"
    " AS $$ BEGIN RAISE EXCEPTION 'the disk is full'; END $$",
    "CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON band_sets"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()",
]


@contextmanager
def _commits_refused(storage: Storage) -> Iterator[None]:
    """Every write transaction's commit fails: on PostgreSQL by a deferred trigger (the commit
    goes with the ingest's last statements), on SQLite at SQLAlchemy's commit."""

    def refuse(_conn: object) -> None:
        raise RuntimeError("the disk is full")

    if storage._engine.dialect.name != "postgresql":
        sa.event.listen(storage._engine, "commit", refuse)
        try:
            yield
        finally:
            sa.event.remove(storage._engine, "commit", refuse)
        return
    with storage._engine.begin() as conn:
        for statement in _REFUSE_COMMIT:
            conn.execute(sa.text(statement))
    try:
        yield
    finally:
        with storage._engine.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER refuse_commit ON band_sets"))
            conn.execute(sa.text("DROP FUNCTION refuse_commit()"))


def test_a_failed_commit_leaves_none_of_its_bands_in_memory(storage: Storage) -> None:
    ingest(storage, KUZMINKI, [entry("k1", *METRO)])
    held = storage.band_index_rows()
    rink = entry("m1", "Каток откроется в парке «Кузьминки»", "Вход свободный, прокат коньков.")

    # The index takes a transaction's own band sets with its commit; this one never lands.
    with _commits_refused(storage), pytest.raises((RuntimeError, StorageError), match="disk"):
        ingest(storage, M24, [rink])
    assert rows(storage, "band_sets") == 1
    keys = {rink.key: dedupe.entry_features(rink).band_keys}
    assert storage.candidates(UVAO, [rink], keys).near == ()
    assert storage.band_index_rows() == held


def test_a_changed_item_gets_new_features(storage: Storage) -> None:
    ingest(storage, KUZMINKI, [entry("k1", *METRO)])
    changed = entry("k1", METRO[0], METRO[1] + " Открытие намечено на 20 декабря.")
    changed = Entry(**{**changed.__dict__, "content_hash": "h-k1-v2"})
    assert ingest(storage, KUZMINKI, [changed]).updated_items == 1
    assert rows(storage, "item_features") == 1
    with storage._engine.connect() as conn:
        numbers = conn.execute(sa.text("SELECT numbers FROM item_features")).scalar_one()
    assert "20" in numbers.split()


def duplicate_pairs(count: int) -> list[tuple[Entry, Entry]]:
    """Pairs of republished items of distinct stories from the labelled set."""
    groups: dict[str, list[Entry]] = {}
    for item in load_items(split="heldout"):
        published = NOW + timedelta(minutes=len(groups))
        groups.setdefault(item.group, []).append(entry(item.id, item.title, item.lead, published))
    pairs = []
    for members in groups.values():
        if len(members) < 2:
            continue
        a, b = members[:2]
        fa, fb = (dedupe.decode(dedupe.entry_features(e)) for e in (a, b))
        if dedupe.similarity.is_duplicate(fa, fb):
            pairs.append((a, b))
    return pairs[:count]


def test_two_workers_ingesting_reprints_at_once_end_with_one_story_each(
    storage: Storage, database_url: str
) -> None:
    pairs = duplicate_pairs(12)
    assert len(pairs) == 12
    second = Storage.open(database_url, upgrade=False)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(worker: Storage, feed_id: int, side: int) -> None:
        try:
            for pair in pairs:
                barrier.wait()
                ingest(worker, feed_id, [pair[side]])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            barrier.abort()

    threads = [
        threading.Thread(target=work, args=(storage, KUZMINKI, 0)),
        threading.Thread(target=work, args=(second, UVAO, 1)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    second.close()
    assert errors == []
    assert storage.counts() == {"feeds": 3, "items": 24, "stories": 12}
    assert all(len(s.sources) == 2 for s in storage.stories(StoryQuery(limit=100)))


@pytest.mark.postgres
def test_a_second_worker_waits_for_the_first_and_joins_its_story(postgres_url: str) -> None:
    """Provoke the race: worker B starts ingesting the reprint while worker A has read its
    candidates (none) and is still planning a new story. Without the lock B would read no
    candidates either, and the two would create two stories."""
    first = Storage.open(postgres_url)
    first.sync_sources(SOURCES, NOW)
    second = Storage.open(postgres_url, upgrade=False)
    seen_by_b: list[Candidates] = []
    result_b: list[ApplyResult] = []

    def worker_b() -> None:
        result_b.append(ingest(second, UVAO, [entry("u1", *METRO_REPRINT)], hook=seen_by_b.append))

    thread = threading.Thread(target=worker_b)

    def while_a_plans(candidates: Candidates) -> None:
        assert candidates.near == ()
        thread.start()
        wait_for_lock_waiter(postgres_url)

    result_a = ingest(first, KUZMINKI, [entry("k1", *METRO)], hook=while_a_plans)
    thread.join()
    second.close()
    assert result_a == ApplyResult(new_items=1, new_stories=1)
    assert result_b == [ApplyResult(new_items=1, new_stories=0)]
    assert [c.item_id for c in seen_by_b[0].near] == [1]
    assert first.counts() == {"feeds": 3, "items": 2, "stories": 1}
    first.close()


def wait_for_lock_waiter(url: str, deadline_s: float = 20.0) -> None:
    """Return once another session waits for an advisory lock; fail if none does in time."""
    engine = sa.create_engine(url)
    query = sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    try:
        end = time.monotonic() + deadline_s
        with engine.connect() as conn:
            while time.monotonic() < end:
                if conn.execute(query).scalar_one():
                    return
                conn.rollback()
                time.sleep(0.01)  # polling a condition, not timing the race
        pytest.fail("the second worker never waited for the story lock")
    finally:
        engine.dispose()


def test_bulk_loaded_stories_are_candidates_like_ingested_ones(storage: Storage) -> None:
    loaded = [
        entry("b1", *METRO, NOW - timedelta(hours=1)),
        entry(
            "b2", "Парковка в центре будет бесплатной 4 ноября", "В праздник парковка бесплатна."
        ),
    ]
    pairs = [(e, dedupe.entry_features(e)) for e in loaded]
    version = storage.change_version()
    assert storage.bulk_load_stories(M24, pairs, NOW) == 2
    assert rows(storage, "band_sets") == len(pairs)
    assert storage.change_version() > version
    found = storage.stories(StoryQuery(words=query_words("парковка бесплатной"), limit=10))
    assert [story.title for story in found] == [loaded[1].title]
    result = ingest(storage, UVAO, [entry("u1", *METRO_REPRINT)])
    assert result == ApplyResult(new_items=1, new_stories=0)
    assert storage.counts() == {"feeds": 3, "items": 3, "stories": 2}


def test_tags_copy_their_story_time_and_skip_a_story_that_is_gone(storage: Storage) -> None:
    ingest(storage, KUZMINKI, [entry("k1", *METRO, NOW - timedelta(days=3))])
    [story] = storage.stories(StoryQuery())
    with storage._engine.begin() as conn:
        tags.add_topics(conn, [(story.id, "transport"), (story.id + 1, "transport")])
        tags.add_areas(
            conn, [(story.id, "kuzminki", VIA_MENTION), (story.id + 1, "arbat", VIA_SOURCE)]
        )
        tags.add_areas(conn, [(story.id, "kuzminki", VIA_SOURCE)])  # a source tag wins
    with storage._engine.connect() as conn:
        topics = conn.execute(sa.select(story_topics))
        areas = conn.execute(sa.select(story_areas))
        assert [tuple(row) for row in topics] == [(story.id, "transport", story.published)]
        assert [tuple(row) for row in areas] == [
            (story.id, "kuzminki", VIA_SOURCE, story.published)
        ]
    [tagged] = storage.stories(StoryQuery(topics=frozenset({"transport"})))
    assert tagged.id == story.id and tagged.published == NOW - timedelta(days=3)


def test_deleting_a_story_deletes_its_band_and_stem_rows(storage: Storage) -> None:
    """The band, search and tag tables have no cascading foreign key: the delete path clears
    them."""
    ingest(storage, KUZMINKI, [entry("k1", *METRO)])
    ingest(storage, M24, [entry("m1", "Парковка будет бесплатной", "В праздник бесплатно.")])
    metro, parking = sorted(s.id for s in storage.stories(StoryQuery()))
    with storage._engine.begin() as conn:
        tags.add_topics(conn, [(metro, "transport"), (parking, "transport")])
        tags.add_areas(conn, [(metro, "kuzminki", VIA_SOURCE), (parking, "tverskoy", VIA_MENTION)])
    with storage._engine.begin() as conn:
        conn.execute(sa.delete(items).where(items.c.story_id == metro))
        writes._delete_stories(conn, [metro])
    with storage._engine.connect() as conn:
        for table in DERIVED_TABLES:
            left = conn.execute(sa.select(table.c.story_id).distinct()).scalars().all()
            assert left == [parking], table.name
    assert storage.stories(StoryQuery(words=query_words("сосновая роща"))) == []


def _analyzed_items(storage: Storage) -> float | None:
    """The items count PostgreSQL's statistics hold (-1: never analyzed); None on SQLite,
    unless something analyzed it (it has a statistics table then)."""
    with storage._engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            query = "SELECT reltuples FROM pg_class WHERE relname = 'items'"
            return float(conn.exec_driver_sql(query).scalar_one())
        query = "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
        return None if conn.exec_driver_sql(query).scalar_one() == 0 else 0.0


def test_statistics_are_refreshed_each_time_the_items_table_doubles(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "ANALYZE_FIRST_ITEMS", 2)
    postgres = storage._engine.dialect.name == "postgresql"
    titles = (
        "В Кузьминках залили каток",
        "Парк у пруда благоустроят к лету",
        "Школа на Зеленодольской получила новый стадион",
        "Станцию метро закроют на выходные",
    )
    seen = []
    for n, title in enumerate(titles):
        ingest(storage, KUZMINKI, [entry(f"k{n}", title, "Подробности в городской справке.")])
        storage.settle_statistics()  # ingest analyzes on a thread of its own
        seen.append(_analyzed_items(storage))
    if postgres:
        assert seen == [-1.0, 2.0, 2.0, 4.0]
    else:
        assert seen == [None] * 4  # SQLite plans well without statistics: never analyzed


def test_analyze_leaves_out_the_columns_no_query_filters_on(storage: Storage) -> None:
    ingest(storage, KUZMINKI, [entry("k1", *METRO), entry("k2", *METRO_REPRINT)])
    storage.analyze()
    if storage._engine.dialect.name != "postgresql":
        return  # SQLite's ANALYZE has no column list
    query = sa.text("SELECT tablename, attname FROM pg_stats WHERE schemaname = 'public'")
    with storage._engine.connect() as conn:
        analyzed = {(table, column) for table, column in conn.execute(query)}
    assert {("items", "entry_key"), ("items", "story_id"), ("stories", "published_at")} <= analyzed
    assert ("feeds", "district") in analyzed and ("band_sets", "story_id") in analyzed
    assert not {("items", "content_html"), ("stories", "summary"), ("band_sets", "band_keys")} & (
        analyzed
    )


def _band_stories(storage: Storage) -> list[int]:
    with storage._engine.connect() as conn:
        query = sa.select(band_sets.c.story_id).distinct().order_by(band_sets.c.story_id)
        return list(conn.execute(query).scalars())


def test_pruning_deletes_band_rows_older_than_the_cutoff_only(storage: Storage) -> None:
    ingest(storage, KUZMINKI, [entry("k1", *METRO, NOW - timedelta(days=60))])
    ingest(storage, M24, [entry("m1", "Парковка будет бесплатной", "В праздник бесплатно.")])
    old, new = sorted(s.id for s in storage.stories(StoryQuery()))
    assert _band_stories(storage) == [old, new]
    cutoff = NOW - timedelta(days=28)
    assert storage.prune_bands(NOW - timedelta(days=70)) == 0
    assert storage.prune_bands(cutoff) == 1
    assert _band_stories(storage) == [new]
    assert storage.prune_bands(cutoff) == 0
    # The story itself stays: found by search and by its link.
    assert [s.id for s in storage.stories(StoryQuery(words=query_words("сосновая роща")))] == [old]


def test_the_daily_job_prunes_past_the_retention_also_what_arrived_late(
    storage: Storage,
) -> None:
    clock = [NOW]
    config = Config((), (), SOURCES, (), ServiceSettings())
    updater = Updater(config, storage)
    scheduler = UpdateScheduler(updater, lambda: clock[0])
    window = dedupe.thresholds(config.service.dedupe).window
    ingest(storage, KUZMINKI, [entry("k1", *METRO, NOW - 5 * window)])
    recent = ingest(storage, M24, [entry("m1", "Парковка бесплатна", "В праздник.")], NOW)
    assert recent.new_stories == 1
    assert scheduler.prune() == 1
    assert len(_band_stories(storage)) == 1
    # A back catalogue stored after the first run, older than what that run deleted.
    ingest(storage, UVAO, [entry("u1", "Архивная новость о катке", "Давно.", NOW - 9 * window)])
    clock[0] = NOW + 5 * window  # the recent story is old now
    assert scheduler.prune() == 2
    assert _band_stories(storage) == []


def test_pruning_deletes_a_batch_per_transaction_until_done(storage: Storage) -> None:
    titles = ("Каток в Кузьминках", "Парк у пруда благоустроят", "Школа получила стадион")
    for n, title in enumerate(titles):
        published = NOW - timedelta(days=60, hours=n)
        ingest(storage, KUZMINKI, [entry(f"k{n}", title, "Подробности позже.", published)])
    ingest(storage, M24, [entry("m1", "Парковка будет бесплатной", "В праздник бесплатно.")])
    [recent] = [s.id for s in storage.stories(StoryQuery()) if s.published == NOW]
    assert storage.prune_bands(NOW - timedelta(days=28), batch=1) == 3
    assert _band_stories(storage) == [recent]
