"""Storage: migrations, engine settings, error wrapping and the feed table API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from aggregator.domain import CITY, Entry, FeedOutcome, Source, StoryQuery
from aggregator.errors import StorageError
from aggregator.search import query_words
from aggregator.storage import Storage, outputs
from aggregator.storage.engine import MIGRATIONS_DIR, alembic_config
from aggregator.storage.schema import (
    EpochSeconds,
    UTCDateTime,
    managed_name,
    metadata,
    unmanaged,
)

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

SOURCES = (
    Source("https://uv-kurier.ru/feed/", "Юго-Восточный курьер", "uvao"),
    Source("https://gazeta-maryino.ru/feed/", "Марьино сегодня", "maryino"),
    Source("https://www.m24.ru/rss.xml", "Москва 24", CITY, refresh=timedelta(minutes=5)),
)


@pytest.fixture
def storage(database_url: str) -> Iterator[Storage]:
    opened = Storage.open(database_url)
    yield opened
    opened.close()


def _table_names(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


# --- migrations ---------------------------------------------------------------------------


def test_open_without_upgrade_leaves_the_database_empty(database_url: str) -> None:
    Storage.open(database_url, upgrade=False).close()
    assert _table_names(database_url) == set()


def test_upgrade_from_empty_creates_every_table(database_url: str) -> None:
    Storage.open(database_url).close()
    tables = _table_names(database_url)
    sqlite = database_url.startswith("sqlite")
    assert ("search_terms" in tables) == sqlite  # the FTS5 index: SQLite's only
    assert {name for name in tables if not unmanaged(name)} == {
        "alembic_version",
        "feeds",
        "stories",
        "items",
        "story_areas",
        "story_topics",
        "search_docs",
        "change_counter",
        "item_features",
        "band_sets",
    }


def test_upgrade_twice_is_harmless(storage: Storage) -> None:
    storage.upgrade()
    storage.upgrade()
    assert storage.counts() == {"feeds": 0, "items": 0, "stories": 0}


def test_models_match_the_migrations(storage: Storage, database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "include_name": managed_name}
            context = MigrationContext.configure(conn, opts=opts)
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def _migrate(url: str, revision: str, *, down: bool = False) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            config = alembic_config(conn)
            if down:
                command.downgrade(config, revision)
            else:
                command.upgrade(config, revision)
    finally:
        engine.dispose()


def test_downgrade_to_base_and_up_again(storage: Storage, database_url: str) -> None:
    storage.sync_sources(SOURCES, NOW)
    _migrate(database_url, "base", down=True)
    assert _table_names(database_url) == {"alembic_version"}
    storage.upgrade()
    assert storage.counts() == {"feeds": 0, "items": 0, "stories": 0}


def test_link_key_migration_fills_existing_items(database_url: str) -> None:
    _migrate(database_url, "0001")
    long_link = "https://uv-kurier.ru/news/?" + "utm=1&" * 200
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO feeds (id, source_url, url, district, created_at)"
                " VALUES (1, 'https://a.ru/feed', 'https://a.ru/feed', 'uvao', :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            sa.text(
                "INSERT INTO stories (id, key, title, summary, content_html, published_at,"
                " first_seen_at, updated_at) VALUES (1, 's', 'Т', '', '', :now, :now, :now)"
            ),
            {"now": NOW},
        )
        for item_id, link in ((1, "https://a.ru/1"), (2, long_link), (3, None)):
            conn.execute(
                sa.text(
                    "INSERT INTO items (id, feed_id, story_id, entry_key, link, fingerprint,"
                    " title, summary, content_html, published_at, first_seen_at, updated_at,"
                    " content_hash) VALUES (:id, 1, 1, :key, :link, 'fp', 'Т', '', '', :now,"
                    " :now, :now, 'h')"
                ),
                {"id": item_id, "key": f"k{item_id}", "link": link, "now": NOW},
            )
    engine.dispose()
    storage = Storage.open(database_url)
    try:
        entries_links = ["https://a.ru/1", long_link]
        found = storage.candidates(1, [_probe(link) for link in entries_links])
        assert found.stories_by_link == {"https://a.ru/1": 1, long_link: 1}
    finally:
        storage.close()


def _probe(link: str) -> Entry:
    return Entry(
        key=f"probe:{link}",
        guid=None,
        link=link,
        title="Проба",
        summary="",
        content_html="",
        published=NOW,
        updated=NOW,
        author=None,
        categories=(),
        fingerprint="probe",
        content_hash="probe",
    )


def test_migrations_form_one_chain_ending_in_the_tag_key_drop() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert scripts.get_heads() == ["0010"]
    assert scripts.get_revision("0010").down_revision == "0009"
    assert scripts.get_revision("0009").down_revision == "0008"
    assert scripts.get_revision("0008").down_revision == "0007"
    assert scripts.get_revision("0007").down_revision == "0006"
    assert scripts.get_revision("0006").down_revision == "0005"
    assert scripts.get_revision("0005").down_revision == "0004"
    assert scripts.get_revision("0004").down_revision == "0003e"


def test_migration_scripts_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (MIGRATIONS_DIR / "versions" / "__init__.py").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("0001_*.py"))


# --- engine settings and errors -------------------------------------------------------------


def test_sqlite_file_parent_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "data" / "aggregator.db"
    Storage.open(f"sqlite:///{path}").close()
    assert path.is_file()


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    storage = Storage.open(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        with storage._engine.connect() as conn:  # the pragmas are per connection
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert (conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 1000
    finally:
        storage.close()


def test_in_memory_sqlite_keeps_one_database() -> None:
    storage = Storage.open("sqlite://")
    try:
        storage.sync_sources(SOURCES, NOW)
        assert storage.counts()["feeds"] == 3
    finally:
        storage.close()


@pytest.mark.parametrize(
    "url",
    [
        "not a database url",
        "nosuchdialect://host/db",
        "postgresql+psycopg://postgres@127.0.0.1:1/nothing",
    ],
)
def test_broken_url_raises_storage_error(url: str) -> None:
    with pytest.raises(StorageError) as caught:
        Storage.open(url)
    assert caught.value.__cause__ is not None


def test_url_property_hides_the_password() -> None:
    storage = Storage.open("postgresql+psycopg://user:secret@127.0.0.1:1/db", upgrade=False)
    try:
        assert "secret" not in storage.url
        assert storage.url.startswith("postgresql+psycopg://user:")
    finally:
        storage.close()


def test_driver_error_after_open_is_wrapped(storage: Storage, database_url: str) -> None:
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE story_topics")
    engine.dispose()
    with pytest.raises(StorageError) as caught:
        storage.story(1)
    assert isinstance(caught.value.__cause__, sa.exc.DBAPIError)


def test_database_from_a_newer_release_raises_storage_error(
    storage: Storage, database_url: str
) -> None:
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    with pytest.raises(StorageError, match="9999"):
        storage.upgrade()


def test_naive_datetime_is_refused(storage: Storage) -> None:
    with pytest.raises(StorageError):
        storage.sync_sources(SOURCES, datetime(2026, 3, 2, 9, 30))


# --- sync_sources ---------------------------------------------------------------------------


def test_sync_adds_new_feeds_due_now(storage: Storage) -> None:
    storage.sync_sources(SOURCES, NOW)
    due = storage.due_feeds(NOW)
    assert [f.url for f in due] == [s.url for s in SOURCES]
    assert due[2].refresh == timedelta(minutes=5)
    assert due[2].district == CITY
    assert due[0].title == "Юго-Восточный курьер"
    assert storage.due_feeds(NOW - timedelta(seconds=1)) == []


def test_sync_updates_settings_and_disables_removed_feeds(storage: Storage) -> None:
    storage.sync_sources(SOURCES, NOW)
    changed = (
        Source(SOURCES[0].url, "Юго-Восточный курьер (ЮВАО)", "uvao", refresh=timedelta(hours=1)),
        Source(SOURCES[1].url, SOURCES[1].title, "maryino", enabled=False),
    )
    storage.sync_sources(changed, NOW + timedelta(hours=1))
    enabled = storage.enabled_feeds()
    assert [(f.url, f.title, f.refresh) for f in enabled] == [
        (SOURCES[0].url, "Юго-Восточный курьер (ЮВАО)", timedelta(hours=1))
    ]
    health = {h.url: h for h in storage.feed_health()}
    assert not health[SOURCES[1].url].enabled
    assert not health[SOURCES[2].url].enabled  # no longer configured: kept, disabled
    assert storage.counts()["feeds"] == 3


def test_sync_reenables_and_keeps_schedule(storage: Storage) -> None:
    storage.sync_sources(SOURCES, NOW)
    storage.sync_sources(SOURCES[:1], NOW)
    storage.sync_sources(SOURCES, NOW + timedelta(days=1))
    assert len(storage.enabled_feeds()) == 3
    assert storage.counts()["feeds"] == 3


# --- due_feeds ------------------------------------------------------------------------------


def _outcome(
    feed_id: int,
    next_at: datetime,
    *,
    ok: bool = True,
    status: int | None = 200,
    error_kind: str | None = None,
    message: str | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
    new_url: str | None = None,
) -> FeedOutcome:
    return FeedOutcome(
        feed_id, NOW, next_at, ok, status, error_kind, message, etag, last_modified, new_url
    )


def _failure(feed_id: int) -> FeedOutcome:
    return _outcome(feed_id, NOW, ok=False, status=None, error_kind="timeout", message="timeout")


def test_due_feeds_oldest_first_with_limit(storage: Storage) -> None:
    storage.sync_sources(SOURCES, NOW)
    ids = {f.url: f.feed_id for f in storage.enabled_feeds()}
    storage.record_outcome(_outcome(ids[SOURCES[0].url], NOW + timedelta(minutes=10)))
    storage.record_outcome(_outcome(ids[SOURCES[1].url], NOW + timedelta(minutes=3)))
    storage.record_outcome(_outcome(ids[SOURCES[2].url], NOW + timedelta(minutes=7)))
    later = NOW + timedelta(minutes=8)
    assert [f.url for f in storage.due_feeds(later)] == [SOURCES[1].url, SOURCES[2].url]
    assert [f.url for f in storage.due_feeds(later, limit=1)] == [SOURCES[1].url]
    assert len(storage.due_feeds(NOW + timedelta(hours=1))) == 3


def test_due_feeds_skips_disabled(storage: Storage) -> None:
    storage.sync_sources(
        (*SOURCES[:2], Source(SOURCES[2].url, "Москва 24", CITY, enabled=False)), NOW
    )
    assert [f.url for f in storage.due_feeds(NOW)] == [s.url for s in SOURCES[:2]]


# --- record_outcome and feed_health ---------------------------------------------------------


def test_failures_count_up_and_success_resets(storage: Storage) -> None:
    storage.sync_sources(SOURCES[:1], NOW)
    feed_id = storage.enabled_feeds()[0].feed_id
    ok = _outcome(feed_id, NOW, etag='"v1"', last_modified="Mon, 02 Mar 2026 09:00:00 GMT")
    storage.record_outcome(ok)
    for _ in range(3):
        storage.record_outcome(
            _outcome(feed_id, NOW, ok=False, status=503, error_kind="http_status", message="503")
        )
    health = storage.feed_health()[0]
    assert (health.consecutive_errors, health.error_kind, health.last_status) == (
        3,
        "http_status",
        503,
    )
    assert health.last_success_at == NOW
    state = storage.enabled_feeds()[0]
    assert (state.etag, state.last_modified) == ('"v1"', "Mon, 02 Mar 2026 09:00:00 GMT")

    storage.record_outcome(_outcome(feed_id, NOW + timedelta(minutes=15), status=304))
    health = storage.feed_health()[0]
    assert (health.consecutive_errors, health.error_kind, health.last_error) == (0, None, None)
    assert health.next_fetch_at == NOW + timedelta(minutes=15)
    assert health.last_attempt_at == NOW
    state = storage.enabled_feeds()[0]
    assert state.etag == '"v1"'  # not overwritten by None


def test_permanent_redirect_replaces_url_but_keeps_the_config_match(storage: Storage) -> None:
    storage.sync_sources(SOURCES[:1], NOW)
    feed_id = storage.enabled_feeds()[0].feed_id
    storage.record_outcome(_outcome(feed_id, NOW, new_url="https://uv-kurier.ru/rss/"))
    assert storage.enabled_feeds()[0].url == "https://uv-kurier.ru/rss/"
    storage.sync_sources(SOURCES[:1], NOW)
    assert [(f.feed_id, f.url) for f in storage.enabled_feeds()] == [
        (feed_id, "https://uv-kurier.ru/rss/")
    ]


def test_feed_health_lists_failing_feeds_first(storage: Storage) -> None:
    storage.sync_sources(SOURCES, NOW)
    ids = [f.feed_id for f in storage.enabled_feeds()]
    for feed_id in (ids[2], ids[1], ids[1]):
        storage.record_outcome(_failure(feed_id))
    assert [(h.feed_id, h.consecutive_errors) for h in storage.feed_health()] == [
        (ids[1], 2),
        (ids[2], 1),
        (ids[0], 0),
    ]
    assert all(h.item_count == 0 for h in storage.feed_health())


# --- polling policy columns (migration 0003a) -------------------------------------------------


def test_poll_interval_is_remembered_and_kept_after_a_failure(storage: Storage) -> None:
    storage.sync_sources(SOURCES[:1], NOW)
    feed_id = storage.enabled_feeds()[0].feed_id
    assert storage.enabled_feeds()[0].poll_interval is None
    storage.record_outcome(replace(_outcome(feed_id, NOW), poll_interval=timedelta(hours=6)))
    storage.record_outcome(_failure(feed_id))
    state = storage.enabled_feeds()[0]
    assert (state.poll_interval, state.consecutive_errors) == (timedelta(hours=6), 1)


def test_a_note_is_visible_and_stays(storage: Storage) -> None:
    storage.sync_sources(SOURCES[:1], NOW)
    feed_id = storage.enabled_feeds()[0].feed_id
    note = "moved permanently to https://uv-kurier.ru/rss/"
    storage.record_outcome(
        replace(_outcome(feed_id, NOW, new_url="https://uv-kurier.ru/rss/"), note=note)
    )
    storage.record_outcome(_outcome(feed_id, NOW, status=304))
    health = storage.feed_health()[0]
    assert (health.note, health.url, health.source_url) == (
        note,
        "https://uv-kurier.ru/rss/",
        SOURCES[0].url,
    )


def test_gone_disables_the_feed_and_a_restart_does_not_enable_it(storage: Storage) -> None:
    storage.sync_sources(SOURCES, NOW)
    gone_id = storage.enabled_feeds()[1].feed_id
    reason = "HTTP 410 Gone: the feed was removed, fetching disabled"
    storage.record_outcome(
        replace(_outcome(gone_id, NOW, ok=False, status=410), disable_reason=reason)
    )
    storage.sync_sources(SOURCES, NOW + timedelta(hours=1))
    assert gone_id not in {f.feed_id for f in storage.enabled_feeds()}
    assert gone_id not in {f.feed_id for f in storage.due_feeds(NOW + timedelta(days=9))}
    health = {h.feed_id: h for h in storage.feed_health()}
    assert (health[gone_id].enabled, health[gone_id].disabled_reason) == (False, reason)
    assert storage.feed_health()[0].feed_id == gone_id  # the failing feed comes first


def test_overdue_feeds(storage: Storage) -> None:
    storage.sync_sources(SOURCES, NOW)
    ids = [f.feed_id for f in storage.enabled_feeds()]
    storage.record_outcome(_outcome(ids[0], NOW + timedelta(minutes=10)))
    assert storage.overdue_feeds(NOW) == 0  # the new ones are due exactly now, not late
    assert storage.overdue_feeds(NOW + timedelta(minutes=1)) == 2
    assert storage.overdue_feeds(NOW + timedelta(minutes=11)) == 3


def test_outputs_migration_indexes_existing_stories(database_url: str) -> None:
    _migrate(database_url, "0002")
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO feeds (id, source_url, url, district, created_at)"
                " VALUES (1, 'https://a.ru/feed', 'https://a.ru/feed', 'uvao', :now)"
            ),
            {"now": NOW},
        )
        for story_id in (1, 2):
            conn.execute(
                sa.text(
                    "INSERT INTO stories (id, key, title, summary, content_html, published_at,"
                    " first_seen_at, updated_at) VALUES (:id, :key, 'Т', '', '', :now, :now,"
                    " :now)"
                ),
                {"id": story_id, "key": f"s{story_id}", "now": NOW},
            )
        texts = (
            (1, 1, "В Кузьминках открыли каток", "Каток работает до марта"),
            (2, 1, "Кузьминки: новый каток", "Повтор той же новости"),
            (3, 2, "Электробусы на Волгоградском проспекте", ""),
        )
        for item_id, story_id, title, summary in texts:
            conn.execute(
                sa.text(
                    "INSERT INTO items (id, feed_id, story_id, entry_key, fingerprint,"
                    " title, summary, content_html, published_at, first_seen_at, updated_at,"
                    " content_hash) VALUES (:id, 1, :story, :key, 'fp', :title, :summary, '',"
                    " :now, :now, :now, 'h')"
                ),
                {
                    "id": item_id,
                    "story": story_id,
                    "key": f"k{item_id}",
                    "title": title,
                    "summary": summary,
                    "now": NOW,
                },
            )
    engine.dispose()
    storage = Storage.open(database_url)
    try:
        assert storage.change_version() == 0
        for words, expected in (("каток кузьминки", [1]), ("электробус", [2]), ("повтор", [1])):
            query = StoryQuery(words=query_words(words), limit=10)
            assert [s.id for s in storage.stories(query)] == expected
    finally:
        storage.close()


def test_analyze_runs_on_every_backend(storage: Storage) -> None:
    storage.sync_sources(SOURCES, NOW)
    storage.analyze()
    assert storage.counts()["feeds"] == len(SOURCES)


def test_near_duplicates_migration_follows_main_head(database_url: str) -> None:
    _migrate(database_url, "0003e")
    assert "story_bands" not in _table_names(database_url)
    storage = Storage.open(database_url)
    try:
        storage.sync_sources(SOURCES[:1], NOW)
        assert {"item_features", "band_sets"} <= _table_names(database_url)
    finally:
        storage.close()
    _migrate(database_url, "0003e", down=True)
    tables = _table_names(database_url)
    assert "story_bands" not in tables and "item_features" not in tables
    assert "story_terms" in tables


def _band_times(url: str, column_type: sa.types.TypeEngine[datetime]) -> list[datetime]:
    bands = sa.table("story_bands", sa.column("published_at", column_type))
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(bands.c.published_at)).scalars())
    finally:
        engine.dispose()


def test_lean_index_tables_migration_converts_rows_both_ways(database_url: str) -> None:
    _migrate(database_url, "0005")
    published = datetime(2026, 3, 1, 7, 15, 42, 654321, tzinfo=UTC)
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO stories (id, key, title, summary, content_html, published_at,"
                " first_seen_at, updated_at) VALUES (1, 's1', 'Т', '', '', :at, :at, :at)"
            ).bindparams(sa.bindparam("at", type_=sa.DateTime(timezone=True))),
            {"at": published},
        )
        conn.execute(
            sa.text(
                "INSERT INTO story_bands (band_key, published_at, story_id) VALUES (7, :at, 1)"
            ).bindparams(sa.bindparam("at", type_=sa.DateTime(timezone=True))),
            {"at": published},
        )
        conn.execute(sa.text("INSERT INTO story_terms (term, story_id) VALUES ('метр', 1)"))
    engine.dispose()
    _migrate(database_url, "0006")
    assert _band_times(database_url, EpochSeconds()) == [published.replace(microsecond=0)]
    assert _story_keys(database_url) == {"story_bands": [], "story_terms": []}
    _migrate(database_url, "0005", down=True)
    (restored,) = _band_times(database_url, UTCDateTime())
    assert restored == published.replace(microsecond=0)
    assert _story_keys(database_url) == {"story_bands": ["stories"], "story_terms": ["stories"]}
    _migrate(database_url, "0006")
    assert _band_times(database_url, EpochSeconds()) == [published.replace(microsecond=0)]
    assert _stems(database_url) == [("метр", 1)]


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(query))]
    finally:
        engine.dispose()


def test_band_sets_migration_packs_band_rows_by_story_and_time_and_back(
    database_url: str,
) -> None:
    _migrate(database_url, "0006")
    bands = [(7, 1_700_000_000, 1), (2**55 + 3, 1_700_000_000, 1), (7, 1_700_003_600, 1)]
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO story_bands (band_key, published_at, story_id) VALUES (:k, :t, :s)"
            ),
            [{"k": k, "t": t, "s": s} for k, t, s in bands],
        )
    engine.dispose()
    _migrate(database_url, "0007")
    packed = _rows(
        database_url, "SELECT story_id, published_at, band_keys FROM band_sets ORDER BY id"
    )
    assert [(s, t, bytes(keys)) for s, t, keys in packed] == [
        (1, 1_700_000_000, (7).to_bytes(8, "little") + (2**55 + 3).to_bytes(8, "little")),
        (1, 1_700_003_600, (7).to_bytes(8, "little")),
    ]
    _migrate(database_url, "0006", down=True)
    query = "SELECT band_key, published_at, story_id FROM story_bands"
    assert sorted(_rows(database_url, query)) == sorted(bands)


def test_search_docs_migration_makes_a_document_per_story_and_back(database_url: str) -> None:
    _migrate(database_url, "0007")
    stems = [("метр", 1), ("станц", 1), ("парк", 2)]
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO story_terms (term, story_id) VALUES (:t, :s)"),
            [{"t": t, "s": s} for t, s in stems],
        )
    _migrate(database_url, "0008")
    query = "SELECT story_id, terms FROM search_docs ORDER BY story_id"
    assert _rows(database_url, query) == [(1, "метр станц"), (2, "парк")]
    with engine.connect() as conn:
        found = conn.execute(outputs.stories_with_any(conn.dialect.name, {"станц", "лес"}))
        assert found.scalars().all() == [1]
    engine.dispose()
    _migrate(database_url, "0007", down=True)
    assert sorted(_rows(database_url, "SELECT term, story_id FROM story_terms")) == sorted(stems)


def _story_keys(url: str) -> dict[str, list[str]]:
    """The tables each derived table's foreign keys refer to."""
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        return {
            table: [key["referred_table"] for key in inspector.get_foreign_keys(table)]
            for table in ("story_bands", "story_terms")
        }
    finally:
        engine.dispose()


def _stems(url: str) -> list[tuple[str, int]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(sa.text("SELECT term, story_id FROM story_terms"))
            return [(term, story_id) for term, story_id in found]
    finally:
        engine.dispose()
