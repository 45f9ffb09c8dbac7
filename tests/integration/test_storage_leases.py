"""Storage: leasing due feeds to workers, releasing on the outcome, expiry, concurrent claims."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.domain import CITY, FeedOutcome, Source
from aggregator.storage import Storage

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
LEASE = timedelta(minutes=4)


def _sources(count: int) -> list[Source]:
    return [
        Source(f"https://gazeta-{n}.example.ru/feed/", f"Районная газета № {n}", CITY)
        for n in range(count)
    ]


@pytest.fixture
def storage(database_url: str) -> Iterator[Storage]:
    store = Storage.open(database_url)
    store.sync_sources(_sources(10), NOW)
    try:
        yield store
    finally:
        store.close()


def _done(feed_id: int, at: datetime = NOW) -> FeedOutcome:
    return FeedOutcome(feed_id, at, at + timedelta(minutes=15), ok=True, status=200)


def test_claims_are_disjoint_and_bounded_by_limit(storage: Storage) -> None:
    first = storage.claim_due_feeds("worker-a", NOW, LEASE, 4)
    second = storage.claim_due_feeds("worker-b", NOW, LEASE, 4)
    third = storage.claim_due_feeds("worker-c", NOW, LEASE, 4)
    ids = [f.feed_id for f in first + second + third]
    assert [len(first), len(second), len(third)] == [4, 4, 2]
    assert sorted(ids) == sorted(set(ids))
    assert len(ids) == 10
    assert storage.claim_due_feeds("worker-d", NOW, LEASE, 4) == []


def test_recording_the_outcome_releases_the_lease(storage: Storage) -> None:
    long_lease = timedelta(hours=1)
    claimed = storage.claim_due_feeds("worker-a", NOW, long_lease, 10)
    storage.record_outcome(_done(claimed[0].feed_id))
    # Released but scheduled in 15 minutes: not claimable now, claimable when due, while the
    # other nine stay leased.
    assert storage.claim_due_feeds("worker-b", NOW, LEASE, 10) == []
    later = NOW + timedelta(minutes=15)
    again = storage.claim_due_feeds("worker-b", later, LEASE, 10)
    assert [f.feed_id for f in again] == [claimed[0].feed_id]


def test_an_expired_lease_can_be_taken_over(storage: Storage) -> None:
    storage.claim_due_feeds("crashed", NOW, LEASE, 3)
    before_expiry = NOW + LEASE - timedelta(seconds=1)
    assert len(storage.claim_due_feeds("worker-b", before_expiry, LEASE, 10)) == 7
    taken = storage.claim_due_feeds("worker-c", NOW + LEASE, LEASE, 10)
    assert len(taken) == 3


def test_disabled_feeds_are_never_claimed(storage: Storage) -> None:
    storage.sync_sources(_sources(10)[:6], NOW)  # feeds no longer configured are disabled
    claimed = storage.claim_due_feeds("worker-a", NOW, LEASE, 100)
    assert len(claimed) == 6


def test_release_leases_frees_only_that_workers_feeds(storage: Storage) -> None:
    storage.claim_due_feeds("worker-a", NOW, LEASE, 3)
    storage.claim_due_feeds("worker-b", NOW, LEASE, 3)
    assert storage.release_leases("worker-a") == 3
    taken = storage.claim_due_feeds("worker-c", NOW, LEASE, 100)
    assert len(taken) == 7


def test_claims_longest_waiting_first(storage: Storage) -> None:
    claimed = storage.claim_due_feeds("worker-a", NOW, LEASE, 10)
    for feed in claimed[:9]:
        storage.record_outcome(_done(feed.feed_id, NOW))
    storage.record_outcome(_done(claimed[9].feed_id, NOW - timedelta(minutes=5)))
    later = NOW + timedelta(hours=1)
    order = [f.feed_id for f in storage.claim_due_feeds("worker-b", later, LEASE, 10)]
    assert order[0] == claimed[9].feed_id
    assert sorted(order[1:]) == order[1:]


def test_an_invalid_owner_is_refused(storage: Storage) -> None:
    with pytest.raises(ValueError):
        storage.claim_due_feeds("", NOW, LEASE, 1)


@pytest.mark.postgres
def test_concurrent_claimers_never_share_a_feed(postgres_url: str) -> None:
    setup = Storage.open(postgres_url)
    setup.sync_sources(_sources(400), NOW)
    setup.close()
    stores = [Storage.open(postgres_url, upgrade=False) for _ in range(4)]
    start = threading.Barrier(len(stores))
    taken: list[list[int]] = [[] for _ in stores]

    def claim_all(index: int) -> None:
        start.wait()
        while batch := stores[index].claim_due_feeds(f"worker-{index}", NOW, LEASE, 7):
            taken[index].extend(f.feed_id for f in batch)

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    every = [feed_id for ids in taken for feed_id in ids]
    assert len(every) == 400
    assert len(set(every)) == 400
    assert sum(1 for ids in taken if ids) > 1  # the claims really interleaved


def test_workers_starting_at_once_sync_the_same_sources(database_url: str) -> None:
    stores = [Storage.open(database_url) for _ in range(3)]
    start = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def sync(store: Storage) -> None:
        start.wait()
        try:
            store.sync_sources(_sources(50), NOW)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sync, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert stores[0].counts()["feeds"] == 50
    for store in stores:
        store.close()


def test_renewing_extends_only_the_owners_running_leases(storage: Storage) -> None:
    storage.claim_due_feeds("worker-a", NOW, LEASE, 3)
    storage.claim_due_feeds("worker-b", NOW, LEASE, 3)
    assert storage.renew_leases("worker-a", NOW + 3 * LEASE) == 3
    # After the first expiry worker-b's feeds are free again, worker-a's still held.
    taken = storage.claim_due_feeds("worker-c", NOW + LEASE, LEASE, 100)
    assert len(taken) == 7
    assert storage.renew_leases("worker-b", NOW + 3 * LEASE) == 0  # taken over: not its own
    # Past worker-c's expiry its seven are free; worker-a's three run until 3 leases.
    later = storage.claim_due_feeds("worker-d", NOW + 2 * LEASE, LEASE, 100)
    assert {f.feed_id for f in later} == {f.feed_id for f in taken}
