"""When to fetch a feed next: a pure function of the clock, the feed's settings and the outcome."""

from __future__ import annotations

from datetime import datetime, timedelta

MIN_INTERVAL = timedelta(minutes=1)
MAX_INTERVAL = timedelta(days=1)


def next_fetch(now: datetime, interval: timedelta) -> datetime:
    """The next attempt after `now`: the feed's interval, kept within global bounds."""
    bounded = min(max(interval, MIN_INTERVAL), MAX_INTERVAL)
    return now + bounded
