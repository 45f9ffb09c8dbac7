"""Near-duplicate ingest cost per item with 10,000 and with 200,000 stories stored.

Usage: ``python bench/bench_dedupe.py [--small 10000] [--large 200000] [--items 600]
[--postgres URL]``. Stored stories arrive at a constant rate (``--per-day``) going back in
time, so a larger store is a longer history; the 7-day window holds the same number of stories
either way. Stored texts cycle through ``--texts`` distinct ones (20 days' worth), so
old copies share band keys with recent stories and the window has to skip them. Each measured
batch is ingested the way the Updater does it (features, candidates
by band keys in one locked transaction, verification, apply); a third of the incoming items
are reprints of stored stories in the window. Texts are random draws from the words of the
labelled dedupe set. The two stores are filled first (then ANALYZE) and measured alternately.
Prints per-item cost and items/s for SQLite (and PostgreSQL with --postgres, in two databases
of its own that are dropped afterwards), the band table's size, and the growth ratio.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from aggregator import dedupe
from aggregator.devtools.entries import text_entry
from aggregator.devtools.eval_dedupe import load_items
from aggregator.domain import CITY, Entry, ItemFeatures, Source
from aggregator.similarity import Thresholds
from aggregator.storage import Storage

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
GROWTH_LIMIT = 1.3
BATCH = 25
"""Entries per ingest call: a typical feed's page."""
SOURCES = tuple(Source(f"https://bench{i}.example/feed", f"Лента {i}", CITY) for i in range(8))


def _vocabulary() -> list[str]:
    return " ".join(f"{i.title} {i.lead}" for i in load_items()).split()


def make_entry(rng: random.Random, words: Sequence[str], key: str, published: datetime) -> Entry:
    title = " ".join(rng.choices(words, k=9))
    lead = " ".join(rng.choices(words, k=45))
    return entry(key, title, lead, published)


def entry(key: str, title: str, lead: str, published: datetime) -> Entry:
    return text_entry(key, title, lead, published, link=f"https://bench.example/{key}")


def reprint(original: Entry, key: str, rng: random.Random) -> Entry:
    """A light edit: the title's words reordered, the lead's last sentence-worth dropped."""
    title_words = original.title.split()
    rng.shuffle(title_words)
    lead_words = original.summary.split()
    lead = " ".join(lead_words[: len(lead_words) - 8]) + " Текст: Редакция"
    published = original.published + timedelta(hours=2)
    return entry(key, " ".join(title_words), lead, published)


def _features(batch: list[Entry]) -> list[ItemFeatures]:
    return [dedupe.entry_features(e) for e in batch]


def stored_stories(count: int, per_day: int, texts: int, seed: int) -> list[Entry]:
    """`count` stories, the newest at NOW, one every 1/per_day days, their texts cycling
    through `texts` distinct ones: a text recurs every texts/per_day days, always outside the
    window, so band keys have long histories that the window must skip."""
    rng = random.Random(seed)
    words = _vocabulary()
    step = timedelta(days=1) / per_day
    pool = [make_entry(rng, words, "t", NOW) for _ in range(min(texts, count))]
    return [
        entry(f"s{n}", pool[n % len(pool)].title, pool[n % len(pool)].summary, NOW - step * n)
        for n in range(count)
    ]


def with_features(entries: list[Entry], pool: multiprocessing.pool.Pool) -> list[ItemFeatures]:
    chunks = [entries[i : i + 2000] for i in range(0, len(entries), 2000)]
    return [f for part in pool.map(_features, chunks) for f in part]


def incoming(stored: Sequence[Entry], count: int, seed: int) -> list[Entry]:
    """New items: every third a reprint of a stored story from the last days, others new."""
    rng = random.Random(seed)
    words = _vocabulary()
    recent = [e for e in stored[:5000] if e.published >= NOW - timedelta(days=5)]
    result = []
    for n in range(count):
        key = f"in{seed}-{n}"
        if n % 3 == 0 and recent:
            result.append(reprint(rng.choice(recent), key, rng))
        else:
            result.append(make_entry(rng, words, key, NOW + timedelta(minutes=n)))
    return result


def ingest_rate(storage: Storage, entries: Sequence[Entry]) -> tuple[float, int]:
    """Seconds per item over `entries` ingested in feed-sized batches, and stories joined."""
    limits = Thresholds()
    joined = 0
    start = time.perf_counter()
    for n in range(0, len(entries), BATCH):
        batch = list(entries[n : n + BATCH])
        features = {e.key: dedupe.entry_features(e) for e in batch}
        result = storage.ingest(
            1 + (n // BATCH) % len(SOURCES),
            batch,
            lambda c, b=batch, f=features: dedupe.plan(
                b, c, (), lambda _: (), features=f, limits=limits
            ),
            NOW,
            band_keys={k: f.band_keys for k, f in features.items()},
            window=limits.window,
        )
        joined += result.new_items - result.new_stories
    return (time.perf_counter() - start) / len(entries), joined


def load(storage: Storage, entries: list[Entry], features: list[ItemFeatures]) -> float:
    start = time.perf_counter()
    for n in range(0, len(entries), 5000):
        part = list(zip(entries[n : n + 5000], features[n : n + 5000], strict=True))
        storage.bulk_load_stories(1, part, NOW - timedelta(days=1))
    return time.perf_counter() - start


def filled(name: str, url: str, pairs: list[tuple[Entry, ItemFeatures]]) -> Storage:
    """A store holding `pairs` as one-item stories, with fresh planner statistics (a production
    database is autovacuumed; right after a bulk load it would not have them yet)."""
    storage = Storage.open(url)
    storage.sync_sources(SOURCES, NOW)
    took = load(storage, [e for e, _ in pairs], [f for _, f in pairs])
    storage.analyze()
    print(f"{name}: loaded {len(pairs):,} stories in {took:.1f} s; {band_table_size(url)}")
    return storage


def band_table_size(url: str) -> str:
    """The size of band_sets and of its indexes, on PostgreSQL."""
    if not url.startswith("postgresql"):
        return "band_sets size not measured on SQLite"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            table, indexes = conn.execute(
                sa.text("SELECT pg_relation_size('band_sets'), pg_indexes_size('band_sets')")
            ).one()
    finally:
        engine.dispose()
    return f"band_sets {table / 2**20:,.0f} MB, its indexes {indexes / 2**20:,.0f} MB"


def run_backend(
    name: str,
    urls: tuple[str, str],
    small: list[tuple[Entry, ItemFeatures]],
    extra: list[tuple[Entry, ItemFeatures]],
    items: int,
    repeat: int,
) -> tuple[float, float]:
    """Per-item cost on a small and a large store, measured alternately (small, large, small,
    …) so that load from other jobs on the machine falls on both alike."""
    stored = [e for e, _ in small]
    sizes = (len(small), len(small) + len(extra))
    stores = [filled(name, urls[0], small), filled(name, urls[1], small + extra)]
    runs: tuple[list[tuple[float, int]], list[tuple[float, int]]] = ([], [])
    try:
        for seed in range(repeat):
            for n, storage in enumerate(stores):
                runs[n].append(ingest_rate(storage, incoming(stored, items, 100 * n + seed)))
    finally:
        for storage in stores:
            storage.close()
    costs = []
    for count, measured in zip(sizes, runs, strict=True):
        cost = statistics.median(c for c, _ in measured)
        joined = statistics.median(j for _, j in measured)
        costs.append(cost)
        print(
            f"{name}: {count:>9,} stored  {cost * 1000:7.2f} ms/item  {1 / cost:8,.0f} items/s"
            f"  (reprints joined per run: {joined:.0f} of {len(range(0, items, 3))})"
        )
    return costs[0], costs[1]


@contextmanager
def postgres_database(url: str) -> Iterator[str]:
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"bench_dedupe_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=600, help="incoming items per run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--per-day", type=int, default=1_000, help="stored stories per day")
    parser.add_argument("--texts", type=int, default=20_000, help="distinct stored texts")
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL server")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--workers", type=int, default=None, help="processes for features")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    if args.texts < args.per_day * 10:
        parser.error("--texts must cover more than the window: at least 10 days of stories")
    stored = stored_stories(args.large, args.per_day, args.texts, seed=1)
    distinct = stored[: args.texts]
    with multiprocessing.Pool(args.workers) as pool:
        computed = with_features(distinct, pool)
    features = [computed[n % len(computed)] for n in range(len(stored))]
    print(f"features of {len(distinct):,} texts in {time.perf_counter() - start:.1f} s")
    pairs = list(zip(stored, features, strict=True))
    small, extra = pairs[: args.small], pairs[args.small :]
    results = {}
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            urls = (f"sqlite:///{Path(tmp) / 'small.db'}", f"sqlite:///{Path(tmp) / 'large.db'}")
            results["sqlite"] = run_backend("sqlite", urls, small, extra, args.items, args.repeat)
    if args.postgres:
        with postgres_database(args.postgres) as first, postgres_database(args.postgres) as second:
            results["postgresql"] = run_backend(
                "postgresql", (first, second), small, extra, args.items, args.repeat
            )
    print(f"\ngrowth of the per-item cost from {args.small:,} to {args.large:,} stored stories")
    for name, (cost_small, cost_large) in results.items():
        ratio = cost_large / cost_small
        verdict = "ok" if ratio <= GROWTH_LIMIT else "OVER"
        print(f"  {name:<10} {ratio:5.2f}x  (limit {GROWTH_LIMIT}x: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
