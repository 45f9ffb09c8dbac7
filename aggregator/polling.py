"""When to fetch a feed next: a pure function of the clock, the feed's history and the response.

`decide` combines, in this order:

- the configured interval, stretched for feeds that publish rarely (adaptive interval);
- the server's own hints, which may only lengthen it: Cache-Control max-age, Expires, RSS
  <ttl> and sy:updatePeriod/sy:updateFrequency;
- on failure, Retry-After (429, 503) or exponential backoff with jitter, capped;
- 410 Gone disables the feed with a reason;

and keeps the result within the global bounds. No clock, no I/O: `now` and the jitter are
parameters, so every branch is table-tested.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

MIN_INTERVAL = timedelta(minutes=1)
MAX_INTERVAL = timedelta(days=1)
BACKOFF_CAP = timedelta(hours=24)

ADAPTIVE_WINDOW = timedelta(days=30)
"""Publications older than this say nothing about the current rate."""
ADAPTIVE_SHARE = 4
"""Poll about four times per average gap between publications: a new story waits an eighth
of the gap on average, and a feed that publishes weekly is not asked every 15 minutes."""
JITTER_SHARE = 0.25
"""Backoff delays are spread over the last quarter below the exponential value, so feeds
that failed together (one host down) do not come back together."""
RETRY_STATUSES = frozenset({429, 503})

_SY_PERIODS = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
    "monthly": timedelta(days=30),
    "yearly": timedelta(days=365),
}
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d+)\"?", re.I)


@dataclass(frozen=True)
class Bounds:
    """The global limits from service.yaml: every interval lies in [minimum, maximum]."""

    minimum: timedelta = MIN_INTERVAL
    maximum: timedelta = MAX_INTERVAL
    backoff_cap: timedelta = BACKOFF_CAP


@dataclass(frozen=True)
class History:
    """What we know about the feed before this attempt."""

    interval: timedelta
    consecutive_errors: int = 0
    previous_interval: timedelta | None = None
    publications: tuple[datetime, ...] | None = None
    """Publication times of the entries just fetched; None when the body was not read (304)."""


@dataclass(frozen=True)
class Response:
    """The parts of the last response the policy reads; header names are lowercase."""

    status: int | None
    ok: bool
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_after: timedelta | None = None
    ttl: timedelta | None = None
    """The feed's own hint: RSS <ttl>, or sy:updatePeriod / sy:updateFrequency."""
    moved_to: str | None = None


@dataclass(frozen=True)
class Decision:
    """The next attempt; `interval` is the regular interval to remember (None after a failure)."""

    next_fetch_at: datetime
    interval: timedelta | None
    reason: str
    note: str | None = None
    disable_reason: str | None = None


def next_fetch(now: datetime, interval: timedelta) -> datetime:
    """The next attempt after `now`: the feed's interval, kept within the default bounds."""
    return now + clamp(interval, Bounds())


def clamp(interval: timedelta, bounds: Bounds) -> timedelta:
    return min(max(interval, bounds.minimum), bounds.maximum)


def decide(
    now: datetime, history: History, response: Response, bounds: Bounds, jitter: float
) -> Decision:
    """The next fetch of a feed after `response`; `jitter` in [0, 1) spreads backoff delays."""
    if response.status == 410:
        reason = "HTTP 410 Gone: the feed was removed, fetching disabled"
        return Decision(now + bounds.maximum, None, "gone", disable_reason=reason)
    if not response.ok:
        return _after_failure(now, history, response, bounds, jitter)
    interval, reason = _regular_interval(now, history, bounds)
    hint, hint_reason = _server_hint(now, response)
    if hint is not None and hint > interval:
        interval, reason = hint, hint_reason
    interval = clamp(interval, bounds)
    note = f"moved permanently to {response.moved_to}" if response.moved_to else None
    return Decision(now + interval, interval, reason, note=note)


def _regular_interval(now: datetime, history: History, bounds: Bounds) -> tuple[timedelta, str]:
    """The configured interval, stretched for rarely publishing feeds, or the one remembered."""
    configured = history.interval
    if history.publications is None:
        previous = history.previous_interval
        if previous is not None and previous > configured:
            return previous, "previous interval"
        return configured, "configured interval"
    gap = publication_gap(now, history.publications)
    adaptive = gap / ADAPTIVE_SHARE
    if adaptive > configured:
        return adaptive, f"adaptive: one publication per {_human(gap)}"
    return configured, "configured interval"


def publication_gap(now: datetime, publications: Iterable[datetime]) -> timedelta:
    """The average time between publications over the recent window (the whole window if none)."""
    recent = [t for t in publications if now - ADAPTIVE_WINDOW <= t <= now]
    if not recent:
        return ADAPTIVE_WINDOW
    return (now - min(recent)) / len(recent)


def _after_failure(
    now: datetime, history: History, response: Response, bounds: Bounds, jitter: float
) -> Decision:
    if response.status in RETRY_STATUSES and response.retry_after is not None:
        wait = min(max(response.retry_after, bounds.minimum), bounds.backoff_cap)
        return Decision(now + wait, None, f"Retry-After {wait.total_seconds():g} s")
    delay = backoff(history, bounds, jitter)
    errors = history.consecutive_errors + 1
    return Decision(now + delay, None, f"backoff after {errors} consecutive error(s)")


def backoff(history: History, bounds: Bounds, jitter: float) -> timedelta:
    """The regular interval doubled per consecutive error (this one included), capped, jittered."""
    base = clamp(max(history.interval, history.previous_interval or timedelta()), bounds)
    errors = history.consecutive_errors + 1
    # 2**exponent overflows timedelta long before the cap matters, so stop doubling early.
    exponent = min(errors - 1, 32)
    delay = min(base * 2**exponent, bounds.backoff_cap)
    spread = 1.0 - JITTER_SHARE * min(max(jitter, 0.0), 1.0)
    jittered: timedelta = delay * spread
    return max(jittered, bounds.minimum)


def jitter_for(feed_id: int, consecutive_errors: int) -> float:
    """A stable pseudo-random number in [0, 1) for this feed and error count."""
    digest = hashlib.sha256(f"{feed_id}:{consecutive_errors}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


# --- hints from the response -----------------------------------------------------------------


def _server_hint(now: datetime, response: Response) -> tuple[timedelta | None, str]:
    """The longest of the server's caching hints, with its name."""
    hints = [
        (cache_lifetime(response.headers, now), "HTTP caching headers"),
        (response.ttl, "the feed's ttl"),
    ]
    found = [(value, name) for value, name in hints if value is not None]
    if not found:
        return None, ""
    return max(found, key=lambda pair: pair[0])


def cache_lifetime(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """Cache-Control max-age, else Expires (against Date, else `now`); None when absent or zero."""
    control = headers.get("cache-control", "")
    if re.search(r"no-cache|no-store", control, re.I):
        return None
    match = _MAX_AGE.search(control)
    if match is not None:
        seconds = int(match.group(1))
        return timedelta(seconds=seconds) if seconds > 0 else None
    expires = _http_date(headers.get("expires", ""))
    if expires is None:
        return None
    lifetime = expires - (_http_date(headers.get("date", "")) or now)
    return lifetime if lifetime > timedelta() else None


def feed_hint(
    ttl: str | None, update_period: str | None, update_frequency: str | None
) -> timedelta | None:
    """RSS <ttl> (minutes), else sy:updatePeriod divided by sy:updateFrequency."""
    if ttl and ttl.strip().isdigit() and int(ttl) > 0:
        return timedelta(minutes=int(ttl))
    period = _SY_PERIODS.get((update_period or "").strip().lower())
    if period is None:
        return None
    frequency = (update_frequency or "1").strip()
    count = int(frequency) if frequency.isdigit() and int(frequency) > 0 else 1
    return period / count


def _http_date(value: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else None


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds // 60} min"
