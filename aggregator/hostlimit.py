"""Politeness: at most N requests at once to one host, however many of its feeds are due.

asyncio has no keyed semaphore, and a dozen lines are simpler than a dependency for one.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
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

    def hold(self, url: str) -> HostSlot:
        """A slot of `url`'s host: `async with limiter.hold(url) as slot: ... slot.release()`."""
        return HostSlot(self.slot(url))

    def slot(self, url: str) -> asyncio.Semaphore:
        """The semaphore of `url`'s host."""
        host = host_of(url)
        found = self._slots.get(host)
        if found is None:
            found = self._slots[host] = asyncio.Semaphore(self._per_host)
        return found


class HostSlot:
    """One held slot of a host, released on exit or earlier by `release` (once either way).

    The update holds it for the request only: a feed waiting for the ingest thread must not
    keep its host's slot from the next request.
    """

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore = semaphore
        self._held = False

    async def __aenter__(self) -> HostSlot:
        await self._semaphore.acquire()
        self._held = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        if self._held:
            self._held = False
            self._semaphore.release()
