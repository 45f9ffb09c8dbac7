"""Uncached district and topic feeds over a million stories in PostgreSQL, through the real app.

Usage: ``python bench/bench_million.py [--stories 1000000] [--requests 200] [--server URL]``.
Creates a fresh database (``bench_million`` on the server of ``--server``, default
``$AGGREGATOR_TEST_DATABASE_URL``) through the normal migrations, bulk-loads the stories with
their items, district and topic tags by COPY (secondary indexes and constraints dropped during
the load and rebuilt after), runs VACUUM ANALYZE as autovacuum would, starts `aggregator serve`
on it and requests distinct district, okrug and topic feeds one after another on one
connection. Each URL is asked once, so every answer is a cache miss: query and render. Prints
the latency percentiles and drops the database (``--keep`` keeps it for ``--reuse``).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from bench_outputs import bench_config, start_service, stop, wait_for
from sqlalchemy import make_url

from aggregator.config import load_config
from aggregator.domain import Config, Source
from aggregator.storage import Storage

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
YEARS = 4
"""The stories span the last four years, so `since`-free feeds see the whole range."""
BATCH = 20_000
BULK_TABLES = ("stories", "items", "story_areas", "story_topics")
WORDS = [
    "метро",
    "электробус",
    "школа",
    "поликлиника",
    "парк",
    "двор",
    "реновация",
    "турнир",
    "библиотека",
    "выставка",
    "субботник",
    "капремонт",
]
SENTENCES = [
    f"Жители района обсудили {w}: по словам главы управы, работы завершат до конца года, "
    f"а предложения горожан учтут при благоустройстве территории."
    for w in WORDS
]
CITY_FEEDS = 6


def bench_sources(config: Config) -> list[Source]:
    """One outlet per district and a few city-wide outlets, as `fill` stores them."""
    districts = [d for d in config.districts if d.kind == "district"]
    own = [
        Source(f"https://{d.slug}.example/feed", f"Вестник: {d.name}", d.slug) for d in districts
    ]
    city = [Source(f"https://city{n}.example/rss", f"Город {n}", "city") for n in range(CITY_FEEDS)]
    return own + city


def weights(count: int, rng: random.Random) -> list[float]:
    """Skewed popularity (a few busy districts and topics, a long tail), in random order."""
    found = [1 / (rank + 1) ** 0.7 for rank in range(count)]
    rng.shuffle(found)
    return found


class Rows:
    """COPY text for the four tables, generated batch by batch from one seeded generator."""

    def __init__(self, config: Config, feed_ids: dict[str, int], count: int) -> None:
        self.rng = random.Random(6)
        self.count = count
        self.districts = [d for d in config.districts if d.kind == "district"]
        self.district_weights = weights(len(self.districts), self.rng)
        self.topics = [t.slug for t in config.topics]
        self.topic_weights = weights(len(self.topics), self.rng)
        self.feed_of = {d.slug: feed_ids[f"https://{d.slug}.example/feed"] for d in self.districts}
        self.city_feeds = [feed_ids[f"https://city{n}.example/rss"] for n in range(CITY_FEEDS)]
        self.start = NOW.timestamp() - YEARS * 365 * 86_400
        self.step = (NOW.timestamp() - self.start) / count
        self.item_id = 0

    def batches(self) -> Iterator[tuple[str, str, str, str]]:
        for first in range(1, self.count + 1, BATCH):
            yield self._batch(first, min(first + BATCH, self.count + 1))

    def _batch(self, first: int, end: int) -> tuple[str, str, str, str]:
        rng = self.rng
        homes = rng.choices(self.districts, self.district_weights, k=end - first)
        stories, item_rows, areas, topics = [], [], [], []
        for sid, home in zip(range(first, end), homes, strict=True):
            # Mostly in id order, some hours late or backdated, as real feeds deliver them.
            moment = self.start + sid * self.step - rng.random() * 6 * 3600
            published = datetime.fromtimestamp(moment, UTC).isoformat()
            seen = datetime.fromtimestamp(moment + 600, UTC).isoformat()
            word = WORDS[sid % len(WORDS)]
            lead = SENTENCES[sid % len(SENTENCES)]
            city = rng.random() < 0.2
            place = rng.choice(self.districts) if city else home
            title = f"{place.name}: {word} — новость № {sid}"
            link = f"https://{place.slug}.example/news/{sid}"
            html = f"<p>{lead}</p><p>{SENTENCES[(sid * 7) % len(SENTENCES)]}</p>"
            text = f"{title}\t{link}\t{lead}\t{html}\t{published}\t{seen}\t{seen}"
            stories.append(f"{sid}\tbench-{sid}\t{text}\n")
            feeds = [rng.choice(self.city_feeds)] if city else [self.feed_of[home.slug]]
            if not city and rng.random() < 0.1:
                feeds.append(rng.choice(self.city_feeds))  # a city outlet republished it
            for feed_id in feeds:
                self.item_id += 1
                n = self.item_id
                item_rows.append(
                    f"{n}\t{feed_id}\t{sid}\te-{n}\t{link}\t{link}\t{link}\tfp-{n}\t{title}\t"
                    f"{lead}\t{html}\t\\N\t{published}\t{seen}\t{seen}\th-{n}\t\\N\n"
                )
            tags: dict[str, str] = {}
            if not city:
                tags = {home.slug: "source", home.okrug: "source"}
            if rng.random() < (0.7 if city else 0.15):
                mentioned = place if city else rng.choice(self.districts)
                for area in (mentioned.slug, mentioned.okrug):
                    tags.setdefault(area, "mention")
            areas.extend(f"{sid}\t{area}\t{via}\t{published}\n" for area, via in tags.items())
            draw = rng.random()
            picked = set(rng.choices(self.topics, self.topic_weights, k=1 if draw < 0.8 else 2))
            if draw >= 0.25:
                topics.extend(f"{sid}\t{topic}\t{published}\n" for topic in sorted(picked))
        return "".join(stories), "".join(item_rows), "".join(areas), "".join(topics)


COLUMNS = {
    "stories": "id, key, title, link, summary, content_html, published_at, first_seen_at, "
    "updated_at",
    "items": "id, feed_id, story_id, entry_key, guid, link, link_key, fingerprint, title, "
    "summary, content_html, author, published_at, first_seen_at, updated_at, content_hash, "
    "categories",
    "story_areas": "story_id, area, via, published_at",
    "story_topics": "story_id, topic, published_at",
}


def conninfo(url: str) -> str:
    """A libpq connection string for a SQLAlchemy URL."""
    parsed = make_url(url)
    parts = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
    }
    return " ".join(f"{k}={v}" for k, v in parts.items() if v is not None)


def secondary_ddl(conn: psycopg.Connection) -> tuple[list[str], list[str], list[str]]:
    """(drop, create indexes, add constraints) for everything but primary keys of the tables."""
    drops, indexes, constraints = [], [], []
    tables = list(BULK_TABLES)
    for table, name, definition in conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('f', 'u')",
        (tables,),
    ):
        drops.append(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        constraints.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND indexname NOT IN"
        " (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u', 'f'))",
        (tables,),
    ):
        drops.append(f'DROP INDEX "{name}"')
        indexes.append(definition)
    return drops, indexes, constraints


def load(url: str, config: Config, count: int) -> None:
    """Bulk-load `count` stories by COPY into the migrated, empty database at `url`."""
    started = time.perf_counter()
    with psycopg.connect(conninfo(url), autocommit=True) as admin:
        feed_ids = {u: i for u, i in admin.execute("SELECT source_url, id FROM feeds")}
        drops, indexes, constraints = secondary_ddl(admin)
        for statement in drops:
            admin.execute(statement)
    rows = Rows(config, feed_ids, count)
    with ExitStack() as stack:
        conns = [stack.enter_context(psycopg.connect(conninfo(url))) for _ in BULK_TABLES]
        # One COPY per table, open side by side, fed batch by batch from one generator.
        copies = [
            stack.enter_context(conn.cursor().copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN"))
            for conn, table in zip(conns, BULK_TABLES, strict=True)
        ]
        for done, texts in enumerate(rows.batches(), start=1):
            for copy, text in zip(copies, texts, strict=True):
                copy.write(text)
            if done % 10 == 0:
                stored = min(done * BATCH, count)
                rate = stored / (time.perf_counter() - started)
                print(f"  copied {stored:,} stories ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    # Leaving the stack ended each COPY, then committed and closed its connection.
    print(f"  copied in {time.perf_counter() - started:.0f} s; indexing", file=sys.stderr)
    with psycopg.connect(conninfo(url), autocommit=True) as admin:
        admin.execute("SET maintenance_work_mem = '256MB'")
        for statement in indexes + constraints:
            admin.execute(statement)  # type: ignore[arg-type]
        for table in ("stories", "items"):
            admin.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )  # type: ignore[arg-type]
        admin.execute("VACUUM ANALYZE")
    print(f"  loaded in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def create_database(server: str, name: str) -> str:
    """A fresh, empty database `name` on `server`'s PostgreSQL; its SQLAlchemy URL."""
    with psycopg.connect(conninfo(server), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(conninfo(server), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def feed_paths(config: Config, count: int, rng: random.Random) -> list[str]:
    """`count` distinct district, okrug and topic feed URLs in all three formats, shuffled."""
    slugs = [f"/feeds/district/{d.slug}" for d in config.districts if d.kind == "district"]
    slugs += [f"/feeds/district/{o.slug}" for o in config.okrugs]
    slugs += [f"/feeds/topic/{t.slug}" for t in config.topics]
    paths = [f"{slug}.{fmt}" for slug in slugs for fmt in ("atom", "rss", "json")]
    topics = [p for p in paths if p.startswith("/feeds/topic/")]
    areas = [p for p in paths if not p.startswith("/feeds/topic/")]
    # Every topic URL, and areas for the rest, so both kinds weigh in.
    picked = topics[:count] + rng.sample(areas, max(0, min(len(areas), count - len(topics))))
    rng.shuffle(picked)
    return picked


def measure(port: int, paths: Sequence[str]) -> dict[str, list[float]]:
    """Milliseconds per request, by kind (district, okrug or topic feed), on one connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    timings: dict[str, list[float]] = {}
    for path in paths:
        started = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200 or len(body) < 1000:
            raise RuntimeError(f"{path}: HTTP {response.status}, {len(body)} bytes")
        kind = "topic" if "/topic/" in path else "area"
        timings.setdefault(kind, []).append(elapsed)
    conn.close()
    return timings


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--server",
        default=os.environ.get("AGGREGATOR_TEST_DATABASE_URL")
        or "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="a PostgreSQL URL whose server gets the bench database",
    )
    parser.add_argument("--name", default="bench_million", help="the bench database's name")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="use the kept database as it is")
    parser.add_argument("--workers", type=int, default=None, help="service workers")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port, config_dir = bench_config(work)
        config = load_config(config_dir)
        if args.reuse:
            url = make_url(args.server).set(database=args.name).render_as_string(False)
        else:
            url = create_database(args.server, args.name)
            storage = Storage.open(url, upgrade=True)
            storage.sync_sources(bench_sources(config), NOW)
            storage.close()
            load(url, config, args.stories)
        service = start_service(config_dir, url, port, args.workers or os.cpu_count() or 1)
        try:
            wait_for(f"http://127.0.0.1:{port}/healthz")
            wait_for(f"http://127.0.0.1:{port}/feeds/all.atom")  # warm: imports, connections
            paths = feed_paths(config, args.requests, random.Random(5))
            # First the same feeds with 49 stories (other cache keys): a fresh process on a
            # cold database; then the subscription documents, as a running service serves them.
            passes = {
                "fresh service, `?limit=49`": measure(port, [f"{p}?limit=49" for p in paths]),
                "then the feeds themselves": measure(port, paths),
            }
        finally:
            stop(service)
            if not args.keep:
                drop_database(args.server, args.name)
    print(f"\n{args.stories:,} stories, PostgreSQL, `aggregator serve`, one connection, ")
    print("each URL requested once (a cache miss: query and render)\n")
    print("| pass | feeds | requests | p50 ms | p95 ms | p99 ms | max ms | mean ms |")
    print("|---|---|---|---|---|---|---|---|")
    for name, timings in passes.items():
        every = [t for values in timings.values() for t in values]
        for kind, values in (*sorted(timings.items()), ("all", every)):
            print(
                f"| {name} | {kind} | {len(values)} | {percentile(values, 50):.1f} | "
                f"{percentile(values, 95):.1f} | {percentile(values, 99):.1f} | "
                f"{max(values):.1f} | {statistics.mean(values):.1f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
