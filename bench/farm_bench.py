"""Fetch-cycle benchmark on a loopback farm: the service next to a floor and the `reader` peer.

Usage: ``python bench/farm_bench.py [--feeds 1000] [--items 30] [--latency 0.1]``. One farm
(aggregator.devtools.farm on a FeedServer in this process) serves every system the same three
cycles: cold (every feed new), warm (nothing changed: all 304), incremental (10 % of the feeds
with new items). Each system runs in a subprocess of its own, so its peak RSS is its own:

- floor: httpx.AsyncClient behind a semaphore plus feedparser.parse, storing nothing (it keeps
  ETags in memory so that the warm cycle is conditional for it too);
- service: `Updater.run_due` over SQLite and, when a PostgreSQL URL is given
  (--pg-url or $AGGREGATOR_BENCH_DATABASE_URL or $AGGREGATOR_TEST_DATABASE_URL), PostgreSQL;
- reader: lemon24's reader library, `update_feeds(scheduled=False, workers=W)`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aggregator.devtools.farm import FarmSpec, changes, feed_path, serve_round, write_config
from aggregator.devtools.feedserver import FeedServer

CYCLES = (("cold", 0), ("warm", 0), ("incremental", 1))


# --- the systems, each run in a child process -------------------------------------------------


def _floor(urls: list[str], workdir: Path, concurrency: int) -> Callable[[int], int]:
    import feedparser
    import httpx

    etags: dict[str, str] = {}

    async def cycle() -> int:
        limit = asyncio.Semaphore(concurrency)
        pool = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=pool, timeout=60) as client:

            async def one(url: str) -> int:
                headers = {"If-None-Match": etags[url]} if url in etags else {}
                async with limit:
                    response = await client.get(url, headers=headers)
                if response.status_code == 304:
                    return 0
                etags[url] = response.headers.get("etag", "")
                parsed = feedparser.parse(response.content, response_headers=response.headers)
                return len(parsed.entries)

            return sum(await asyncio.gather(*(one(url) for url in urls)))

    return lambda round_: asyncio.run(cycle())


def _service(
    urls: list[str], workdir: Path, db_url: str, config: Path, parse_workers: int
) -> tuple[Callable[[int], int], Callable[[], None]]:
    """A cycle of the service, and what stops its parse process and closes its storage."""
    from aggregator.config import load_config
    from aggregator.storage import Storage
    from aggregator.update import Updater, tune_gc_for_updates

    tune_gc_for_updates()  # as the service's entry points do (app._updater)
    loaded = load_config(config)
    storage = Storage.open(db_url)
    storage.sync_sources(loaded.sources, datetime.now(UTC))
    updater = Updater(loaded, storage, owner="bench", parse_workers=parse_workers)
    cycles = 0

    def cycle(round_: int) -> int:
        nonlocal cycles
        # Every feed is due in each cycle: the cycle's clock jumps past any interval.
        now = datetime.now(UTC) + timedelta(days=2 * cycles)
        cycles += 1
        summary = asyncio.run(updater.run_due(now))
        if summary.failed:
            raise RuntimeError(f"service failures: {summary.failures[:3]}")
        return summary.new_items

    def close() -> None:
        updater.close()
        storage.close()

    return cycle, close


def _reader(urls: list[str], workdir: Path, workers: int) -> Callable[[int], int]:
    from reader import make_reader

    feeds = make_reader(str(workdir / "reader.sqlite"))
    for url in urls:
        feeds.add_feed(url)

    def cycle(round_: int) -> int:
        before = feeds.get_entry_counts().total or 0
        feeds.update_feeds(scheduled=False, workers=workers)
        return (feeds.get_entry_counts().total or 0) - before

    return cycle


def _descendants(pid: str = "self") -> list[str]:
    """The pids of this process's live descendants (the parse processes), from /proc."""
    found: list[str] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child_pid in children.read_text().split():
            found += [child_pid, *_descendants(child_pid)]
    return found


def _children_peak_mb() -> float:
    """The summed peak RSS of this process's descendants (the parse processes), from /proc."""
    total = 0.0
    for child_pid in _descendants():
        try:
            status = Path(f"/proc/{child_pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


def _cpu_seconds() -> tuple[float, float]:
    """User and system CPU seconds of this process, and of its live descendants."""
    times = os.times()
    own = times.user + times.system
    descendants = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for child_pid in _descendants():
        try:
            fields = Path(f"/proc/{child_pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        descendants += (int(fields[11]) + int(fields[12])) / ticks
    return own, descendants


def child(args: argparse.Namespace) -> None:
    """Set up one system, then run a cycle per line on stdin and answer with a JSON line."""
    urls = Path(args.urls).read_text(encoding="utf-8").split()
    workdir = Path(args.workdir)
    kind, _, option = args.child.partition(":")
    close: Callable[[], None] = lambda: None  # noqa: E731
    if kind == "floor":
        cycle = _floor(urls, workdir, args.floor_concurrency)
    elif kind == "service":
        # Closed before exit: a parse pool left to the interpreter's exit hook may write to
        # its closed wake-up pipe ("OSError: Bad file descriptor", seen at a child's exit).
        cycle, close = _service(urls, workdir, option, Path(args.config), args.parse_workers)
    else:
        cycle = _reader(urls, workdir, int(option))
    print("ready", flush=True)
    try:
        _answer_cycles(cycle)
    finally:
        close()


def _answer_cycles(cycle: Callable[[int], int]) -> None:
    """Run a cycle per line on stdin and answer each with a JSON line."""
    for line in sys.stdin:
        own, descendants = _cpu_seconds()
        start = time.perf_counter()
        items = cycle(int(line))
        wall = time.perf_counter() - start
        own_after, descendants_after = _cpu_seconds()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + _children_peak_mb()
        main_cpu = own_after - own
        cpu = main_cpu + descendants_after - descendants
        result = {"wall": wall, "items": items, "rss_mb": peak_mb, "cpu": cpu, "main_cpu": main_cpu}
        print(json.dumps(result), flush=True)


# --- the parent: farm, children, table ---------------------------------------------------------


@dataclass
class Row:
    system: str
    cycle: str
    wall: float
    feeds: int
    items: int
    rss_mb: float
    cpu: float
    main_cpu: float


def run_system(
    name: str, spec_arg: str, server: FeedServer, spec: FarmSpec, common: list[str]
) -> list[Row]:
    command = [sys.executable, __file__, "--child", spec_arg, *common]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
    )
    assert process.stdin is not None and process.stdout is not None
    rows: list[Row] = []
    try:
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{name} did not start")
        for cycle, round_ in CYCLES:
            serve_round(server, spec, round_)
            server.clear_requests()
            process.stdin.write(f"{round_}\n")
            process.stdin.flush()
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"{name} died in the {cycle} cycle")
            result = json.loads(line)
            fetched = len({r.path for r in server.requests})
            rows.append(
                Row(
                    name,
                    cycle,
                    result["wall"],
                    fetched,
                    result["items"],
                    result["rss_mb"],
                    result["cpu"],
                    result["main_cpu"],
                )
            )
            print(f"  {name:<18} {cycle:<12} {result['wall']:7.2f} s", flush=True)
    finally:
        process.stdin.close()
        process.wait(timeout=120)
    return rows


def expected_new_items(spec: FarmSpec) -> dict[str, int]:
    changed = sum(1 for n in range(spec.feeds) if changes(n, 1, spec))
    return {
        "cold": spec.feeds * spec.items,
        "warm": 0,
        "incremental": changed * spec.new_per_change,
    }


def print_table(rows: list[Row], spec: FarmSpec, args: argparse.Namespace) -> None:
    floor = {row.cycle: row.wall for row in rows if row.system == "floor"}
    expected = expected_new_items(spec)
    print()
    print(
        f"{spec.feeds} feeds x {spec.items} items, {spec.latency * 1000:.0f} ms latency, "
        f"{spec.change_share:.0%} of feeds change in the incremental cycle, "
        f"{spec.reprint_share:.0%} of entries are reprints; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"service: concurrency {args.concurrency}, "
        f"per host {args.per_host or min(args.concurrency, 64)}, "
        f"parse workers {args.parse_workers}; "
        f"floor: concurrency {args.floor_concurrency}; reader: workers {args.reader_workers}"
    )
    header = (
        "system",
        "cycle",
        "wall s",
        "x floor",
        "feeds/s",
        "items/s",
        "new items",
        "RSS MB",
        "CPU s",
        "main CPU s",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        ratio = row.wall / floor[row.cycle] if row.cycle in floor else float("nan")
        cells = (
            row.system,
            row.cycle,
            f"{row.wall:.2f}",
            f"{ratio:.2f}",
            f"{row.feeds / row.wall:.0f}",
            f"{expected[row.cycle] / row.wall:.0f}",
            f"{row.items}",
            f"{row.rss_mb:.0f}",
            f"{row.cpu:.1f}",
            f"{row.main_cpu:.1f}",
        )
        print("| " + " | ".join(cells) + " |")
    print(f"(items/s counts the farm's new items: {expected}; floor counts entries parsed)")
    print(
        f"(CPU s: user and system seconds of the system's own processes, the service's main and "
        f"parse processes, not PostgreSQL's server; {os.cpu_count()} CPUs give "
        f"{os.cpu_count()}x the wall time; main CPU s: the service's main process alone, "
        f"whose threads share one interpreter lock)"
    )


def _postgres_database(base: str) -> tuple[str, Callable[[], None]]:
    """A fresh database next to `base` for one run, and a function that drops it."""
    import sqlalchemy as sa

    admin_url = sa.make_url(base)
    name = f"agg_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


def parent(args: argparse.Namespace) -> None:
    spec = FarmSpec(
        feeds=args.feeds,
        items=args.items,
        latency=args.latency,
        change_share=args.change,
        reprint_share=args.reprints,
    )
    pg_base = (
        args.pg_url
        or os.environ.get("AGGREGATOR_BENCH_DATABASE_URL")
        or os.environ.get("AGGREGATOR_TEST_DATABASE_URL")
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="farm-bench-") as tmp, FeedServer() as server:
        base = Path(tmp)
        urls = base / "urls.txt"
        urls.write_text("\n".join(server.base_url + feed_path(n, spec) for n in range(spec.feeds)))
        # The farm stands for 1,000 outlets on as many hosts; served from one loopback host, the
        # default politeness limit (2 requests per host) would cap the whole cycle at 20 feeds/s.
        service_settings = {
            "concurrency": args.concurrency,
            "per_host_concurrency": args.per_host or min(args.concurrency, 64),
        }
        config = write_config(base / "config", server.base_url, spec, service_settings)
        systems: list[tuple[str, str]] = [("floor", "floor")]
        systems.append(("service sqlite", f"service:sqlite:///{base / 'service.db'}"))
        drop: Callable[[], None] | None = None
        if pg_base:
            pg_url, drop = _postgres_database(pg_base)
            systems.append(("service postgres", f"service:{pg_url}"))
        else:
            print("no PostgreSQL URL: the service runs on SQLite only")
        systems += [(f"reader w={w}", f"reader:{w}") for w in args.reader_workers]
        try:
            for name, spec_arg in systems:
                if args.only and not any(part in name for part in args.only):
                    continue
                workdir = base / name.replace(" ", "-").replace("=", "")
                workdir.mkdir()
                common = ["--urls", str(urls), "--workdir", str(workdir)]
                common += ["--config", str(config), "--concurrency", str(args.concurrency)]
                common += ["--parse-workers", str(args.parse_workers)]
                common += ["--floor-concurrency", str(args.floor_concurrency)]
                rows += run_system(name, spec_arg, server, spec, common)
        finally:
            if drop is not None:
                drop()
    print_table(rows, spec, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per response")
    parser.add_argument("--change", type=float, default=0.1, help="share of changed feeds")
    parser.add_argument(
        "--reprints", type=float, default=0.03, help="share of entries reprinting another feed's"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="service: feeds at once")
    parser.add_argument(
        "--per-host", type=int, help="service: per-host limit (default: --concurrency)"
    )
    parser.add_argument(
        "--floor-concurrency", type=int, default=16, help="floor: one client, its best pool size"
    )
    parser.add_argument(
        "--parse-workers", type=int, default=0, help="service: parse processes (0: none)"
    )
    parser.add_argument("--reader-workers", type=int, nargs="*", default=[8, 32])
    parser.add_argument("--pg-url", help="a PostgreSQL server URL to create a bench database on")
    parser.add_argument("--only", nargs="*", help="run only systems whose name contains these")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
