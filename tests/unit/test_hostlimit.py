"""The per-host limiter: one semaphore per host name, shared by every URL on that host."""

from __future__ import annotations

import asyncio

import pytest

from aggregator.hostlimit import HostLimiter, host_of


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://UV-Kurier.ru/feed/", "uv-kurier.ru"),
        ("http://uv-kurier.ru:8080/rss", "uv-kurier.ru"),
        ("https://xn--80aaf1a.xn--p1ai/feed/", "xn--80aaf1a.xn--p1ai"),
        ("not a url", "not a url"),
    ],
)
def test_host_of(url: str, host: str) -> None:
    assert host_of(url) == host


def test_urls_of_one_host_share_a_slot() -> None:
    limiter = HostLimiter(2)
    assert limiter.slot("https://zbulvar.ru/feed/") is limiter.slot("https://ZBULVAR.ru/rss/")
    assert limiter.slot("https://zbulvar.ru/feed/") is not limiter.slot("https://m24.ru/rss.xml")


def test_no_more_than_the_limit_enter_at_once() -> None:
    async def scenario() -> tuple[int, int]:
        limiter = HostLimiter(2)
        release = asyncio.Event()
        inside = 0
        most = 0

        async def fetch(url: str) -> None:
            nonlocal inside, most
            async with limiter.slot(url):
                inside += 1
                most = max(most, inside)
                await release.wait()
                inside -= 1

        tasks = [asyncio.create_task(fetch(f"https://uv-kurier.ru/{i}")) for i in range(5)]
        other = asyncio.create_task(fetch("https://zbulvar.ru/feed/"))
        for _ in range(10):
            await asyncio.sleep(0)  # let every task run up to its semaphore
        entered = inside
        release.set()
        await asyncio.gather(*tasks, other)
        return entered, most

    entered, most = asyncio.run(scenario())
    assert entered == 3  # two of uv-kurier.ru and the one of zbulvar.ru
    assert most == 3


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        HostLimiter(0)


def test_a_slot_released_early_is_not_released_twice() -> None:
    async def scenario() -> int:
        limiter = HostLimiter(1)
        async with limiter.hold("https://zbulvar.ru/feed/") as slot:
            slot.release()
            async with limiter.hold("https://zbulvar.ru/rss/"):
                pass  # the early release let the next request in at once
            slot.release()
        # Exiting did not release a second time: the one slot is free exactly once.
        semaphore = limiter.slot("https://zbulvar.ru/")
        await semaphore.acquire()
        return int(semaphore.locked())

    assert asyncio.run(scenario()) == 1
