"""Politeness: at most N requests at once to one host, however many of its feeds are due.

asyncio has no keyed semaphore, and a dozen lines are simpler than a dependency for one.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


def host_of(url: str) -> str:
    """The lowercase host name of `url` (the whole URL when it has none, so it still limits)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    return host or url.lower()


class HostLimiter:
    """One semaphore per host, created on first use; use within one event loop."""

    def __init__(self, per_host: int) -> None:
        if per_host < 1:
            raise ValueError("per_host must be at least 1")
        self._per_host = per_host
        self._slots: dict[str, asyncio.Semaphore] = {}

    def slot(self, url: str) -> asyncio.Semaphore:
        """The semaphore of `url`'s host: `async with limiter.slot(url): ...`."""
        host = host_of(url)
        found = self._slots.get(host)
        if found is None:
            found = self._slots[host] = asyncio.Semaphore(self._per_host)
        return found
