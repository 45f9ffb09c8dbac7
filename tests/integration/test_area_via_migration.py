"""Migration 0003d: area tags stored before it came from sources, and items keep categories."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from aggregator.domain import AreaTag, Retag
from aggregator.storage import Storage
from aggregator.storage.engine import alembic_config

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _upgrade_to(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


def test_existing_area_tags_become_source_tags(database_url: str) -> None:
    _upgrade_to(database_url, "0002")
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO stories (id, key, title, summary, content_html, published_at,"
                " first_seen_at, updated_at) VALUES (1, 's', 'Т', '', '', :now, :now, :now)"
            ),
            {"now": NOW},
        )
        conn.execute(sa.text("INSERT INTO story_areas (story_id, area) VALUES (1, 'marino')"))
    engine.dispose()

    storage = Storage.open(database_url)
    try:
        assert storage.area_tags(1) == [AreaTag("marino", "source")]
        # reclassifying replaces mentions only and never demotes a source tag
        storage.retag([Retag(1, ("transport",), ("marino", "kuzminki", "uvao"))])
        assert storage.area_tags(1) == [
            AreaTag("marino", "source"),
            AreaTag("kuzminki", "mention"),
            AreaTag("uvao", "mention"),
        ]
        storage.retag([Retag(1, (), ("lyublino",)), Retag(404, ("sport",), ("arbat",))])
        assert storage.area_tags(1) == [AreaTag("marino", "source"), AreaTag("lyublino", "mention")]
        assert storage.count_stories() == 1
        assert storage.area_tags_of([1, 404]) == {
            1: [AreaTag("marino", "source"), AreaTag("lyublino", "mention")],
            404: [],
        }
    finally:
        storage.close()
