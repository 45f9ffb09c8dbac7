"""The polling policy: bounds, server hints, Retry-After, backoff, adaptive interval, 301, 410."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aggregator import polling
from aggregator.polling import Bounds, History, Response, decide

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
BOUNDS = Bounds(minimum=timedelta(minutes=5), maximum=DAY, backoff_cap=timedelta(hours=24))
OK = Response(200, ok=True)


def interval_of(
    response: Response = OK,
    history: History | None = None,
    bounds: Bounds = BOUNDS,
    jitter: float = 0.0,
) -> timedelta:
    decision = decide(NOW, history or History(timedelta(minutes=15)), response, bounds, jitter)
    return decision.next_fetch_at - NOW


# --- bounds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (timedelta(seconds=30), timedelta(minutes=5)),  # below the minimum
        (timedelta(minutes=15), timedelta(minutes=15)),
        (timedelta(days=7), DAY),  # above the maximum
    ],
)
def test_the_configured_interval_is_kept_within_the_bounds(
    configured: timedelta, expected: timedelta
) -> None:
    decision = decide(NOW, History(configured), OK, BOUNDS, 0.0)
    assert decision.next_fetch_at - NOW == expected
    assert decision.interval == expected


def test_next_fetch_keeps_its_old_meaning() -> None:
    assert polling.next_fetch(NOW, timedelta(seconds=5)) == NOW + polling.MIN_INTERVAL
    assert polling.next_fetch(NOW, timedelta(days=9)) == NOW + polling.MAX_INTERVAL


# --- hints: Cache-Control, Expires, ttl, sy ---------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"cache-control": "public, max-age=3600"}, HOUR),
        ({"cache-control": "max-age=7200, s-maxage=600"}, timedelta(hours=2)),
        ({"cache-control": "max-age=60"}, timedelta(minutes=15)),  # never shortens
        ({"cache-control": "no-cache, max-age=3600"}, timedelta(minutes=15)),
        ({"cache-control": "max-age=0"}, timedelta(minutes=15)),
        ({"cache-control": "max-age=604800"}, DAY),  # the maximum still holds
        (
            {"expires": "Mon, 02 Mar 2026 11:30:00 GMT", "date": "Mon, 02 Mar 2026 09:30:00 GMT"},
            timedelta(hours=2),
        ),
        ({"expires": "Mon, 02 Mar 2026 10:30:00 GMT"}, HOUR),  # measured from now without Date
        ({"expires": "0"}, timedelta(minutes=15)),  # an invalid date means already expired
        ({"expires": "Mon, 02 Mar 2026 08:30:00 GMT"}, timedelta(minutes=15)),
    ],
)
def test_http_caching_headers_lengthen_the_interval_within_bounds(
    headers: dict[str, str], expected: timedelta
) -> None:
    assert interval_of(Response(200, ok=True, headers=headers)) == expected


def test_max_age_wins_over_expires() -> None:
    headers = {"cache-control": "max-age=7200", "expires": "Mon, 02 Mar 2026 09:40:00 GMT"}
    assert polling.cache_lifetime(headers, NOW) == timedelta(hours=2)


@pytest.mark.parametrize(
    ("ttl", "period", "frequency", "expected"),
    [
        ("60", None, None, HOUR),
        ("0", None, None, None),
        ("soon", None, None, None),
        (None, "daily", "2", timedelta(hours=12)),
        (None, "hourly", None, HOUR),
        (None, "Weekly", "7", DAY),
        (None, "daily", "0", DAY),
        (None, "fortnightly", "1", None),
        ("30", "daily", "1", timedelta(minutes=30)),  # ttl first
    ],
)
def test_feed_hint(
    ttl: str | None, period: str | None, frequency: str | None, expected: timedelta | None
) -> None:
    assert polling.feed_hint(ttl, period, frequency) == expected


def test_the_feeds_ttl_lengthens_the_interval_and_is_bounded() -> None:
    assert interval_of(Response(200, ok=True, ttl=timedelta(hours=3))) == timedelta(hours=3)
    assert interval_of(Response(200, ok=True, ttl=timedelta(minutes=2))) == timedelta(minutes=15)
    assert interval_of(Response(200, ok=True, ttl=timedelta(days=30))) == DAY


def test_the_longest_hint_wins() -> None:
    response = Response(
        200, ok=True, headers={"cache-control": "max-age=1800"}, ttl=timedelta(hours=2)
    )
    assert interval_of(response) == timedelta(hours=2)


# --- Retry-After -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_on_429_and_503(status: int) -> None:
    response = Response(status, ok=False, retry_after=timedelta(seconds=7200))
    decision = decide(NOW, History(timedelta(minutes=15)), response, BOUNDS, 0.9)
    assert decision.next_fetch_at == NOW + timedelta(seconds=7200)  # no jitter, no backoff
    assert decision.interval is None


def test_retry_after_is_bounded_by_the_minimum_and_the_backoff_cap() -> None:
    short = Response(503, ok=False, retry_after=timedelta(seconds=10))
    long = Response(429, ok=False, retry_after=timedelta(days=30))
    assert interval_of(short) == BOUNDS.minimum
    assert interval_of(long) == BOUNDS.backoff_cap


def test_retry_after_on_other_statuses_is_ignored() -> None:
    response = Response(500, ok=False, retry_after=timedelta(hours=5))
    assert interval_of(response) == timedelta(minutes=15)


# --- backoff ------------------------------------------------------------------------------------


def failures(errors_before: int, jitter: float = 0.0, cap: timedelta = DAY) -> timedelta:
    bounds = Bounds(BOUNDS.minimum, BOUNDS.maximum, cap)
    history = History(timedelta(minutes=15), consecutive_errors=errors_before)
    return interval_of(Response(500, ok=False), history, bounds, jitter)


def test_backoff_doubles_with_each_consecutive_error() -> None:
    delays = [failures(n) for n in range(5)]
    assert delays == [timedelta(minutes=15 * 2**n) for n in range(5)]


def test_backoff_stops_at_the_cap() -> None:
    assert failures(6) == timedelta(hours=16)  # 15 min × 2**6
    assert failures(7) == DAY
    assert failures(500) == DAY
    assert failures(500, cap=timedelta(hours=6)) == timedelta(hours=6)


def test_backoff_may_exceed_the_regular_maximum_up_to_its_own_cap() -> None:
    assert failures(10, cap=timedelta(days=3)) == timedelta(days=3)


def test_jitter_shortens_the_delay_by_at_most_a_quarter() -> None:
    plain = failures(3)
    jittered = failures(3, jitter=0.999)
    assert plain * 0.75 < jittered < plain
    assert failures(3, jitter=0.5) == plain * 0.875


def test_jitter_is_stable_per_feed_and_spread_across_feeds() -> None:
    assert polling.jitter_for(7, 3) == polling.jitter_for(7, 3)
    values = {polling.jitter_for(feed_id, 3) for feed_id in range(100)}
    assert all(0.0 <= value < 1.0 for value in values)
    assert len(values) == 100
    assert min(values) < 0.2 and max(values) > 0.8


def test_success_after_errors_returns_to_the_regular_interval() -> None:
    history = History(timedelta(minutes=15), consecutive_errors=6)
    assert interval_of(OK, history) == timedelta(minutes=15)


# --- adaptive interval ---------------------------------------------------------------------------


def every(step: timedelta, count: int) -> tuple[datetime, ...]:
    """`count` publications `step` apart, the latest one `step` ago."""
    return tuple(NOW - step * (i + 1) for i in range(count))


def test_a_feed_that_publishes_weekly_is_polled_less_often_than_an_hourly_one() -> None:
    hourly = History(timedelta(minutes=15), publications=every(HOUR, 30))
    daily = History(timedelta(minutes=15), publications=every(DAY, 20))
    weekly = History(timedelta(minutes=15), publications=every(timedelta(weeks=1), 10))
    assert interval_of(OK, hourly) == timedelta(minutes=15)
    assert interval_of(OK, daily) == timedelta(hours=6)
    assert interval_of(OK, weekly) == DAY
    assert interval_of(OK, hourly) < interval_of(OK, daily) < interval_of(OK, weekly)


def test_old_publications_mean_a_slow_feed() -> None:
    stale = History(
        timedelta(minutes=15), publications=tuple(t - timedelta(days=90) for t in every(DAY, 5))
    )
    assert interval_of(OK, stale) == DAY


def test_the_adaptive_interval_never_polls_faster_than_configured() -> None:
    busy = History(timedelta(hours=1), publications=every(timedelta(minutes=5), 50))
    assert interval_of(OK, busy) == HOUR


def test_publication_gap() -> None:
    assert polling.publication_gap(NOW, every(HOUR, 10)) == HOUR
    # Only the last 30 days count: four weekly posts, the oldest four weeks ago.
    assert polling.publication_gap(NOW, every(timedelta(weeks=1), 10)) == timedelta(weeks=1)
    assert polling.publication_gap(NOW, ()) == polling.ADAPTIVE_WINDOW
    future = (NOW + DAY,)
    assert polling.publication_gap(NOW, future) == polling.ADAPTIVE_WINDOW


def test_not_modified_keeps_the_previous_interval() -> None:
    history = History(timedelta(minutes=15), previous_interval=timedelta(hours=6))
    assert interval_of(Response(304, ok=True), history) == timedelta(hours=6)
    shorter = History(timedelta(hours=1), previous_interval=timedelta(minutes=15))
    assert interval_of(Response(304, ok=True), shorter) == HOUR


# --- 301 and 410 -------------------------------------------------------------------------------


def test_a_permanent_redirect_leaves_a_visible_note() -> None:
    moved = Response(200, ok=True, moved_to="https://uv-kurier.ru/rss/")
    decision = decide(NOW, History(timedelta(minutes=15)), moved, BOUNDS, 0.0)
    assert decision.note == "moved permanently to https://uv-kurier.ru/rss/"
    assert decision.disable_reason is None
    assert decide(NOW, History(timedelta(minutes=15)), OK, BOUNDS, 0.0).note is None


def test_gone_disables_the_feed_with_a_reason() -> None:
    decision = decide(NOW, History(timedelta(minutes=15)), Response(410, ok=False), BOUNDS, 0.3)
    assert decision.disable_reason is not None
    assert "410" in decision.disable_reason and "disabled" in decision.disable_reason


def test_other_errors_do_not_disable() -> None:
    for status in (None, 404, 500, 503):
        decision = decide(NOW, History(HOUR), Response(status, ok=False), BOUNDS, 0.0)
        assert decision.disable_reason is None
