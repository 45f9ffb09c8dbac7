"""Output serving on loopback: wrk against `aggregator serve` and against nginx with the same bytes.

Usage: ``python bench/bench_outputs.py [--stories 100000] [--database URL] [--duration 10]
[--workers N] [--rounds 3]``.
Fills a fresh database through `Storage.apply` (stories spread over every district and topic of
the shipped config), starts the service as the README says production runs it (`aggregator
serve --workers N`, uvicorn; N = CPU cores by default), starts nginx (Debian's package) with as
many workers serving the same feed bytes as a static file, and measures with wrk (Debian's
package): a cached feed, a 304, and uncached filtered queries
(every request a new `since`, so the in-process cache never holds the answer). Prints a
Markdown table with requests/s, latency percentiles and the ratios to nginx.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from aggregator.config import load_config
from aggregator.domain import Entry, NewItem, Source, UpdatePlan
from aggregator.storage import Storage

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
WORDS = ["метро", "электробус", "школа", "поликлиника", "парк", "двор", "реновация", "турнир"]
UNCACHED_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local m = math.floor(counter / 60) % 60
  local s = counter % 60
  local path = string.format("%s?since=2020-01-01T%02d:%02d:%02d", PATH, counter % 24, m, s)
  return wrk.format("GET", path)
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fill(url: str, count: int, config_dir: Path) -> None:
    config = load_config(config_dir)
    districts = [d for d in config.districts if d.kind == "district"]
    storage = Storage.open(url)
    sources = [Source(f"https://{d.slug}.example/feed", d.name, d.slug) for d in districts]
    storage.sync_sources(sources, NOW)
    feed_ids = {f.district: f.feed_id for f in storage.enabled_feeds()}
    batch: dict[str, list[NewItem]] = {}
    started = time.perf_counter()
    for n in range(count):
        district = districts[n % len(districts)]
        topic = config.topics[n % len(config.topics)].slug
        word = WORDS[n % len(WORDS)]
        published = NOW - timedelta(minutes=n)
        key = f"bench-{n}"
        entry = Entry(
            key,
            key,
            f"https://{district.slug}.example/{n}",
            f"{district.name}: {word} — новость № {n}",
            f"Подробности: {word}, {n}.",
            f"<p>{word} {n}</p>",
            published,
            published,
            None,
            (),
            f"fp-{n}",
            f"h-{n}",
        )
        areas = (district.slug, district.okrug)
        batch.setdefault(district.slug, []).append(NewItem(entry, None, key, areas, (topic,)))
        if (n + 1) % 20_000 == 0 or n + 1 == count:
            for slug, items in batch.items():
                storage.apply(feed_ids[slug], UpdatePlan(new_items=tuple(items)), NOW)
            batch = {}
            rate = (n + 1) / (time.perf_counter() - started)
            print(f"  stored {n + 1} stories ({rate:.0f}/s)", file=sys.stderr, flush=True)
    storage.analyze()  # as autovacuum would in time; the bench must not wait for it
    storage.close()


def bench_config(work: Path) -> tuple[int, Path]:
    """A free port and a copy of the shipped config whose public URL is that port."""
    port = free_port()
    config_dir = work / "config"
    shutil.copytree(ROOT / "config", config_dir)
    (config_dir / "service.yaml").write_text(
        yaml.safe_dump({"public_url": f"http://127.0.0.1:{port}"}), encoding="utf-8"
    )
    return port, config_dir


def start_service(config_dir: Path, url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    """`aggregator serve` as the README tells production to run it (default workers)."""
    env = {"AGGREGATOR_DATABASE_URL": url, "PATH": str(Path(sys.executable).parent)}
    cmd = [sys.executable, "-m", "aggregator", "serve", "--config", str(config_dir)]
    cmd += ["--port", str(port), "--workers", str(workers), "-q"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # polling a starting server, not synchronising a test


def wrk(
    url: str,
    duration: int,
    connections: int,
    headers: Sequence[str] = (),
    script: Path | None = None,
) -> dict[str, float]:
    cmd = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s", "--latency"]
    for header in headers:
        cmd += ["-H", header]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    result = {"rps": rps}
    for pct in ("50", "90", "99"):
        found = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        if found:
            value, unit = float(found.group(1)), found.group(2)
            result[f"p{pct}"] = (
                value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
            )
    if "Non-2xx" in out and not headers:
        raise RuntimeError(out)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=100_000)
    parser.add_argument("--database", default=None, help="empty database URL (default SQLite)")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="turns of the wrk cases")
    parser.add_argument(
        "--workers", type=int, default=None, help="service and nginx workers (default: cores)"
    )
    args = parser.parse_args(argv)
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            print(f"{tool} is missing: apt-get install wrk nginx-light", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx's workers run as another user and must read the file
        port, config_dir = bench_config(work)
        nginx_port = free_port()
        url = args.database or f"sqlite:///{work / 'bench.db'}"
        fill(url, args.stories, config_dir)
        workers = args.workers or os.cpu_count() or 1
        service = start_service(config_dir, url, port, workers)
        nginx = None
        try:
            base = f"http://127.0.0.1:{port}"
            feed = "/feeds/district/kuzminki.atom"
            wait_for(base + "/healthz")
            with urllib.request.urlopen(base + feed) as response:
                body, etag = response.read(), response.headers["ETag"]
            static = work / "static" / "feeds" / "district"
            static.mkdir(parents=True)
            (static / "kuzminki.atom").write_bytes(body)
            conf = work / "nginx.conf"
            # As many nginx workers as service workers: the same share of the cores.
            conf.write_text(
                f"daemon off; worker_processes {workers}; pid {work}/nginx.pid;"
                f" error_log {work}/err.log;"
                f" events {{}} http {{ access_log off; types {{ application/atom+xml atom; }}"
                f" server {{ listen 127.0.0.1:{nginx_port}; root {work}/static; }} }}",
                encoding="utf-8",
            )
            nginx = subprocess.Popen(["/usr/sbin/nginx", "-c", str(conf), "-p", str(work)])
            wait_for(f"http://127.0.0.1:{nginx_port}{feed}")
            c, d = args.connections, args.duration
            cases = {
                "nginx, static file (ceiling)": (f"http://127.0.0.1:{nginx_port}{feed}", []),
                "cached feed (200)": (base + feed, []),
                "conditional GET (304)": (base + feed, [f"If-None-Match: {etag}"]),
            }
            # Other jobs share the machine: the cases take turns for several rounds, and each
            # row is its median round, so nginx and the service meet the same conditions.
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
            for _ in range(args.rounds):
                for name, (target, headers) in cases.items():
                    runs[name].append(wrk(target, d, c, headers))
            rows = {
                name: sorted(found, key=lambda r: r["rps"])[len(found) // 2]
                for name, found in runs.items()
            }
            for name, path in (("district", feed), ("topic", "/feeds/topic/transport.atom")):
                script = work / f"{name}.lua"
                script.write_text(f'PATH = "{path}"\n' + UNCACHED_LUA, encoding="utf-8")
                rows[f"uncached {name} feed, 1 connection"] = wrk(base, d, 1, script=script)
            ceiling = rows["nginx, static file (ceiling)"]["rps"]
            print(
                f"\n{args.stories:,} stories, {url.split(':')[0]}, {len(body):,} bytes, "
                f"wrk -t2 -c{c} -d{d}s, {workers} workers, median of {args.rounds} rounds\n"
            )
            print("| case | requests/s | p50 ms | p90 ms | p99 ms | of nginx |")
            print("|---|---|---|---|---|---|")
            for name, r in rows.items():
                print(
                    f"| {name} | {r['rps']:,.0f} | {r.get('p50', 0):.2f} | {r.get('p90', 0):.2f}"
                    f" | {r.get('p99', 0):.2f} | {r['rps'] / ceiling:.1%} |"
                )
        finally:
            stop(service)
            if nginx is not None:
                stop(nginx)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
