"""The `discover` and `probe` commands: call `app`, print the reports, choose the exit status.

Kept out of `cli.py` so that module stays a list of commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aggregator import app
from aggregator.config.edit import append_source
from aggregator.htmlsource import DISTRICT_PRESS
from aggregator.probe import COMMON_PATHS, format_candidate, format_report

EXIT_OK = 0
EXIT_FAILURE = 1


def discover_command(config_path: Path, url: str, args: argparse.Namespace) -> int:
    """Print the feeds found for `url`; with --add, append the first one to feeds.yaml."""
    if args.add and not args.district:
        print("--add needs --district (a district or okrug slug, or city)", file=sys.stderr)
        return EXIT_FAILURE
    candidates, page = app.discover_site(config_path, url)
    entry: dict[str, object] = {"url": url, "title": args.title, "district": args.district}
    if candidates:
        print(f"found {len(candidates)} feed(s) for {url}:")
        for candidate in candidates:
            print(f"  {format_candidate(candidate)}")
        best = candidates[0]
        entry |= {"url": best.url, "title": args.title or best.title or best.url}
    else:
        paths = ", ".join(COMMON_PATHS)
        print(f'no feed found for {url}: no <link rel="alternate"> feed, none of {paths}')
        if page is None or not page.ok:
            problem = page.problem if page is not None else None
            print(f"  the page does not read as an html source either: {problem}")
            return EXIT_FAILURE
        print(f"  the page reads with the {DISTRICT_PRESS} preset (kind: html):")
        print(f"  {format_report(page)}")
        entry |= {"title": args.title or url, "kind": "html", "preset": DISTRICT_PRESS}
    if args.add:
        append_source(config_path, entry)
        print(f"added {entry['url']} to {config_path / 'feeds.yaml'}")
    return EXIT_OK


def probe_command(config_path: Path, which: str) -> int:
    """Print one report per source; fail when an enabled source fails."""
    reports = app.probe_configured(config_path, which)
    for report in reports:
        print(format_report(report))
    failed = [r for r in reports if not r.ok]
    failed_enabled = [r for r in failed if r.source.enabled]
    print(
        f"probed {len(reports)} source(s): {len(reports) - len(failed)} ok, {len(failed)} failed"
        f" ({len(failed_enabled)} of them enabled)"
    )
    return EXIT_FAILURE if failed_enabled else EXIT_OK
