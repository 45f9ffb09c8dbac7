"""Three `aggregator worker` processes share 300 loopback feeds through one PostgreSQL.

Each cycle every feed must be fetched exactly once; when one worker is killed with SIGKILL
while it holds leases, its feeds are fetched by the others once the leases expire, and every
feed ends with exactly the items the farm served. The test waits on observable events (the
server's request log, rows in the database), never on fixed sleeps.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from aggregator.devtools.farm import FarmSpec, entry_guids, feed_path, serve_round, write_config
from aggregator.devtools.feedserver import FeedServer
from aggregator.storage import Storage
from aggregator.storage.schema import feeds, items, stories

pytestmark = pytest.mark.postgres

SPEC = FarmSpec(feeds=300, items=5, change_share=0.1, new_per_change=3)
TICK = 0.3  # seconds between a worker's cycles
# Seconds: longer than any claimed feed's wait plus fetch and ingest in this test. A worker
# claims 16 feeds and ingests them one at a time; on a loaded 2-core machine running three
# workers, PostgreSQL and the farm, a claimed feed waited up to ~7 s, so 8 s let leases expire.
LEASE = 20.0
SLOW_DELAY = 4.0  # seconds a slow feed takes to answer in the crash cycle
SLOW_FEEDS = (10, 70, 130, 190, 250, 290)  # fewer than one worker's concurrency
SERVICE = {"concurrency": 8, "total_timeout": 10, "read_timeout": 10, "connect_timeout": 5}


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Poll an observable condition until it holds; fail with `what` after `timeout` seconds.

    The default is a liveness bound for a loaded machine, not a speed expectation.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def farm() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    serve_round(server, SPEC, 0)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    db = sa.create_engine(postgres_url)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def workers(tmp_path: Path, farm: FeedServer, postgres_url: str) -> Iterator[list[Worker]]:
    config = write_config(tmp_path / "config", farm.base_url, SPEC, SERVICE)
    env = {**os.environ, "AGGREGATOR_DATABASE_URL": postgres_url}
    Storage.open(postgres_url).close()  # the schema exists before the test queries it
    started: list[Worker] = []
    for index in range(3):
        name = f"worker-{index}"
        log = tmp_path / f"{name}.log"
        command = [sys.executable, "-m", "aggregator", "worker", "--config", str(config)]
        command += ["--name", name, "--tick", str(TICK), "--lease", str(LEASE)]
        with log.open("wb") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        started.append(Worker(name, process, log))
    try:
        yield started
    finally:
        for worker in started:
            if worker.process.poll() is None:
                worker.process.terminate()
        for worker in started:
            try:
                worker.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()


def path_counts(server: FeedServer) -> Counter[str]:
    return Counter(request.path for request in server.requests)


def all_paths() -> set[str]:
    return {feed_path(n, SPEC) for n in range(SPEC.feeds)}


def cycle_finished(engine: sa.Engine, since: datetime) -> Callable[[], bool]:
    """Every feed attempted at or after `since` and no lease left."""

    def finished() -> bool:
        with engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(feeds)).scalar_one()
            pending = conn.execute(
                sa.select(sa.func.count())
                .select_from(feeds)
                .where(
                    sa.or_(
                        feeds.c.last_attempt_at.is_(None),
                        feeds.c.last_attempt_at < since,
                        feeds.c.lease_owner.is_not(None),
                    )
                )
            ).scalar_one()
        return total == SPEC.feeds and pending == 0

    return finished


def make_all_due(engine: sa.Engine) -> datetime:
    """Start a new cycle: every feed is due now. Returns the moment the cycle began."""
    mark = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(sa.update(feeds).values(next_fetch_at=mark))
    return mark


def fetched_per_worker(workers: list[Worker]) -> dict[str, int]:
    """How many feeds each worker reports fetched (200) in its cycle log lines."""
    totals = {}
    for worker in workers:
        text = worker.log.read_text(encoding="utf-8", errors="replace")
        totals[worker.name] = sum(int(n) for n in re.findall(r"update cycle: fetched (\d+)", text))
    return totals


def stored_guids(engine: sa.Engine) -> dict[str, list[str]]:
    """Each feed's stored item guids, keyed by the feed's path on the farm."""
    query = sa.select(feeds.c.url, items.c.guid).join_from(items, feeds)
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for url, guid in conn.execute(query):
            found.setdefault("/" + url.split("/", 3)[3], []).append(guid)
    return found


def expected_guids(rounds: int) -> dict[str, list[str]]:
    return {
        feed_path(n, SPEC): sorted({g for r in range(rounds) for g in entry_guids(n, r, SPEC)})
        for n in range(SPEC.feeds)
    }


def test_three_workers_share_feeds_and_survive_a_crash(
    farm: FeedServer, engine: sa.Engine, workers: list[Worker]
) -> None:
    # Cycle 1: all feeds new.
    wait_until(cycle_finished(engine, datetime.min.replace(tzinfo=UTC)), "the first cycle")
    counts = path_counts(farm)
    assert set(counts) == all_paths()
    assert set(counts.values()) == {1}, "a feed was fetched twice in one cycle"
    wait_until(lambda: sum(fetched_per_worker(workers).values()) == SPEC.feeds, "cycle logs")
    shares = fetched_per_worker(workers)
    assert sum(1 for n in shares.values() if n > 0) >= 2, f"no sharing: {shares}"

    # Cycle 2: nothing changed, so every feed is one conditional request answered 304.
    farm.clear_requests()
    mark = make_all_due(engine)
    wait_until(cycle_finished(engine, mark), "the second cycle")
    counts = path_counts(farm)
    assert set(counts) == all_paths()
    assert set(counts.values()) == {1}
    assert all("if-none-match" in request.headers for request in farm.requests)

    # Cycle 3: 10 % of the feeds have new items; a few answer slowly, and the worker holding
    # most of the slow ones is killed while they are in flight.
    farm.clear_requests()
    slow = {feed_path(n, SPEC) for n in SLOW_FEEDS}
    serve_round(farm, SPEC, 1, delay=dict.fromkeys(SLOW_FEEDS, SLOW_DELAY))
    mark = make_all_due(engine)
    wait_until(lambda: slow <= set(path_counts(farm)), "the slow feeds to be requested")
    with engine.connect() as conn:
        held = conn.execute(
            sa.select(feeds.c.url, feeds.c.lease_owner, feeds.c.lease_expires_at).where(
                feeds.c.lease_owner.is_not(None)
            )
        ).all()
    slow_owners = Counter(owner for url, owner, _ in held if "/" + url.split("/", 3)[3] in slow)
    assert slow_owners, "no worker held a slow feed's lease"
    victim_name = slow_owners.most_common(1)[0][0]
    victim = next(w for w in workers if w.name == victim_name)
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(timeout=10)
    # Read after the kill: what the dead worker still holds is what it never finished.
    with engine.connect() as conn:
        orphaned = {
            "/" + url.split("/", 3)[3]: expiry
            for url, expiry in conn.execute(
                sa.select(feeds.c.url, feeds.c.lease_expires_at).where(
                    feeds.c.lease_owner == victim_name
                )
            )
        }
    assert set(orphaned) & slow
    serve_round(farm, SPEC, 1)  # the slow feeds answer at once from now on

    wait_until(cycle_finished(engine, mark), "the crash cycle", timeout=LEASE * 4)
    counts = path_counts(farm)
    assert set(counts) == all_paths()
    twice = {path for path, n in counts.items() if n > 1}
    assert twice <= set(orphaned), "a feed not held by the killed worker was fetched twice"
    assert max(counts.values()) <= 2
    assert twice & slow, "no slow feed of the killed worker was taken over"
    with engine.connect() as conn:
        attempts = dict(conn.execute(sa.select(feeds.c.url, feeds.c.last_attempt_at)).all())
    for url, attempted in attempts.items():
        path = "/" + url.split("/", 3)[3]
        if path in orphaned:
            # Taken over only once the killed worker's lease had run out.
            assert attempted >= orphaned[path], path

    # No item lost or duplicated: each feed holds exactly the entries served in rounds 0 and 1.
    stored = stored_guids(engine)
    expected = expected_guids(rounds=2)
    assert {path: sorted(guids) for path, guids in stored.items()} == expected
    assert all(len(guids) == len(set(guids)) for guids in stored.values())
    with engine.connect() as conn:
        story_count = conn.execute(sa.select(sa.func.count()).select_from(stories)).scalar_one()
    assert story_count == sum(len(guids) for guids in expected.values())
