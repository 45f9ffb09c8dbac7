"""HTML sources on one core: pages/s of the district-press preset, boilerplate stripping and
trafilatura's full-text extraction, each as a ratio to feedparser on an RSS feed in the same run.

Usage: ``python bench/bench_html.py [--pages 300] [--repeat 5]``. Uses the fixture pages in
tests/data/html; prints medians of the repeats and the cold import time of each library.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from aggregator.extract import article_html
from aggregator.htmlsource import parse_html, strip_boilerplate
from aggregator.parse import parse_feed

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 28, tzinfo=UTC)


def _rate(work: Callable[[], object], pages: int, repeat: int) -> float:
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(pages):
            work()
        rates.append(pages / (time.perf_counter() - start))
    return statistics.median(rates)


def _import_seconds(module: str, repeat: int) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout)
        for _ in range(repeat)
    ]  # fmt: skip
    return statistics.median(runs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    html = ROOT / "tests" / "data" / "html"
    listing = (html / "uv-kurier-news.html").read_bytes()
    article = (html / "maryino-article.html").read_bytes()
    feed = (ROOT / "tests" / "data" / "feeds" / "rss20.xml").read_bytes()
    url = "https://uv-kurier.ru/news/"

    baseline = _rate(lambda: parse_feed(feed, {}, url), args.pages, args.repeat)
    rows = {
        "preset, list page (3 items)": _rate(
            lambda: parse_html(listing, {}, url, None, NOW), args.pages, args.repeat
        ),
        "preset, article page": _rate(
            lambda: parse_html(article, {}, url, None, NOW), args.pages, args.repeat
        ),
        "strip_boilerplate, article": _rate(
            lambda: strip_boilerplate(article, {}), args.pages, args.repeat
        ),
        "full text (strip + trafilatura)": _rate(
            lambda: article_html(article, {}, url), args.pages, args.repeat
        ),
    }
    print(f"baseline feedparser, rss20.xml (5 items): {baseline:,.0f} docs/s")
    for name, rate in rows.items():
        print(f"{name:<34} {rate:>9,.0f} pages/s  {rate / baseline:5.2f}x baseline")
    imports = {m: _import_seconds(m, 3) for m in ("feedparser", "selectolax.lexbor", "trafilatura")}
    base_import = imports["feedparser"]
    for module, seconds in imports.items():
        ratio = seconds / base_import
        print(f"import {module:<18} {seconds * 1000:6.0f} ms  {ratio:5.2f}x feedparser")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
