"""Feed health rows: Russian and English reasons a sysadmin understands, order, the table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.domain import FeedHealth
from aggregator.health import note_ru, reason_ru, status_rows, table

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)

OK = FeedHealth(
    feed_id=1,
    url="https://uv-kurier.ru/feed/",
    title="Юго-Восточный курьер",
    district="uvao",
    enabled=True,
    last_attempt_at=NOW,
    last_success_at=NOW,
    last_status=200,
    error_kind=None,
    last_error=None,
    consecutive_errors=0,
    next_fetch_at=NOW + timedelta(minutes=15),
    recent_items=12,
)


def failing(kind: str, message: str, status: int | None = None, errors: int = 1) -> FeedHealth:
    return replace(
        OK,
        error_kind=kind,
        last_error=message,
        last_status=status,
        consecutive_errors=errors,
        last_success_at=None,
    )


@pytest.mark.parametrize(
    ("health", "expected"),
    [
        (
            failing("http_status", "HTTP 503 Service Unavailable, retry after 120 s", 503),
            "HTTP 503, повтор через 120 с",
        ),
        (failing("http_status", "HTTP 404 Not Found", 404), "HTTP 404"),
        (failing("timeout", "timeout after 30 s (read)"), "нет ответа за 30 с"),
        (failing("timeout", "timeout after 2.5 s (connect)"), "нет ответа за 2.5 с"),
        (failing("not_a_feed", "not a feed: HTML page"), "не лента: HTML-страница"),
        (failing("not_a_feed", "not a feed: empty body"), "не лента: пустой ответ"),
        (
            failing("connection", "DNS lookup failed: Name or service not known"),
            "сервер не найден (DNS)",
        ),
        (failing("connection", "connection refused"), "сервер отказал в соединении"),
        (
            failing("too_large", "body exceeds the limit of 1024 bytes (declares 5000 bytes)"),
            "ответ больше допустимого размера (body exceeds the limit of 1024 bytes "
            "(declares 5000 bytes))",
        ),
        (
            replace(OK, last_error="XML error at line 16: mismatched tag"),
            "лента с ошибкой, исправные записи сохранены: XML error at line 16: mismatched tag",
        ),
        (OK, None),
    ],
)
def test_reason_in_russian(health: FeedHealth, expected: str | None) -> None:
    assert reason_ru(health) == expected


def test_gone_reads_as_removed_and_disabled() -> None:
    gone = replace(
        failing("http_status", "HTTP 410 Gone", 410),
        enabled=False,
        disabled_reason="HTTP 410 Gone: the feed was removed, fetching disabled",
    )
    assert reason_ru(gone) == "HTTP 410: лента удалена с сайта, опрос отключён"
    (row,) = status_rows([gone])
    assert row.state == "failing"
    assert row.error == "HTTP 410 Gone: the feed was removed, fetching disabled"
    assert row.next_fetch_at is None


def test_moved_note() -> None:
    assert note_ru("moved permanently to https://uv-kurier.ru/rss/") == (
        "лента переехала навсегда (301/308), новый адрес: https://uv-kurier.ru/rss/"
    )
    assert note_ru(None) is None


def test_failing_feeds_come_first_longest_streak_first() -> None:
    feeds = [
        replace(OK, feed_id=1, title="А"),
        replace(failing("timeout", "timeout after 30 s", errors=2), feed_id=2, title="Б"),
        replace(OK, feed_id=3, title="В", enabled=False),
        replace(failing("timeout", "timeout after 30 s", errors=5), feed_id=4, title="Г"),
        replace(OK, feed_id=5, title="Д", last_attempt_at=None, last_success_at=None),
    ]
    rows = status_rows(feeds)
    assert [(r.feed_id, r.state) for r in rows] == [
        (4, "failing"),
        (2, "failing"),
        (3, "disabled"),
        (5, "pending"),
        (1, "ok"),
    ]


def test_json_row_has_every_field_the_issue_asks_for() -> None:
    row = status_rows([failing("http_status", "HTTP 503 Service Unavailable", 503)])[0]
    data = row.as_json()
    for key in (
        "last_attempt_at",
        "last_success_at",
        "http_status",
        "error",
        "consecutive_errors",
        "next_fetch_at",
        "items_last_7_days",
    ):
        assert key in data
    assert data["last_attempt_at"] == "2026-11-28T06:00:00+00:00"
    assert (data["http_status"], data["items_last_7_days"]) == (503, 12)


def test_table_shows_times_in_moscow_and_the_reason_under_the_feed() -> None:
    text = table(status_rows([OK, failing("timeout", "timeout after 30 s (read)", errors=3)]))
    lines = text.splitlines()
    assert lines[0].split() == [
        "state", "feed", "last", "attempt", "last", "success", "HTTP", "errors", "next", "fetch",
        "7", "d",
    ]  # fmt: skip
    assert lines[1].startswith("failing") and "28.11 09:00" in lines[1]
    assert "  timeout after 30 s (read)" in lines
    assert any(line.startswith("ok") and line.rstrip().endswith("12") for line in lines)
