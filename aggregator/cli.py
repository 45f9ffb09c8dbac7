"""The `aggregator` command line: parse arguments, call `app`, map errors to exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta

from aggregator import app
from aggregator.errors import AggregatorError, ConfigError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Handler = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"{len(exc.issues)} error(s) in the configuration", file=sys.stderr)
        return EXIT_CONFIG
    except AggregatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_FAILURE


def _add_common(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--config",
        metavar="DIR",
        default=default,
        help="config directory (default: $AGGREGATOR_CONFIG or config/)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="log warnings and errors only"
    )


def _parser() -> argparse.ArgumentParser:
    # The common options are accepted before and after the command; SUPPRESS keeps a
    # subcommand's unset option from overwriting the one given before it.
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, argparse.SUPPRESS)

    parser = argparse.ArgumentParser(
        prog="aggregator", description="News feeds of Moscow's okrugs and districts."
    )
    _add_common(parser, None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, handler, help_text in (
        ("run", _run, "the service: scheduler and web server in one process"),
        ("serve", _serve, "the web server alone"),
    ):
        command = commands.add_parser(name, parents=[common], help=help_text)
        command.add_argument("--host", default="127.0.0.1")
        command.add_argument("--port", type=int, default=8080)
        command.set_defaults(handler=handler)
        if name == "serve":
            command.add_argument(
                "--workers",
                type=int,
                default=1,
                metavar="N",
                help="web server processes; in production as many as CPU cores",
            )

    worker = commands.add_parser(
        "worker", parents=[common], help="the scheduler alone, sharing feeds with other workers"
    )
    worker.add_argument("--name", help="this worker's name in feed leases (default: host:pid)")
    worker.add_argument(
        "--tick", type=float, default=30.0, metavar="S", help="seconds between cycles"
    )
    worker.add_argument(
        "--lease", type=float, metavar="S", help="seconds a claimed feed stays leased"
    )
    worker.add_argument(
        "--parse-workers", type=int, default=0, metavar="N", help="parse in N processes"
    )
    worker.set_defaults(handler=_worker)

    fetch = commands.add_parser("fetch", parents=[common], help="fetch feeds")
    fetch.add_argument("--once", action="store_true", help="fetch every enabled feed once, exit")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    fetch.set_defaults(handler=_fetch)

    status = commands.add_parser("status", parents=[common], help="feed health as a table")
    status.add_argument("--json", action="store_true", help="print JSON like /status.json")
    status.set_defaults(handler=_status)

    check = commands.add_parser("check-config", parents=[common], help="validate the config")
    check.set_defaults(handler=_check_config)

    explain = commands.add_parser(
        "explain", parents=[common], help="why a story has its topics and districts"
    )
    explain.add_argument("story_id", type=int, metavar="STORY_ID")
    explain.set_defaults(handler=_explain)

    reclassify = commands.add_parser(
        "reclassify", parents=[common], help="recompute stored stories' topics and districts"
    )
    reclassify.add_argument(
        "--since", metavar="AGE", help="only stories published within AGE (e.g. 30d, 12h)"
    )
    reclassify.add_argument("--no-progress", action="store_true", help="no progress bar")
    reclassify.set_defaults(handler=_reclassify)
    story = commands.add_parser(
        "story", parents=[common], help="show a story, its members and why they were merged"
    )
    story.add_argument("story_id", type=int, metavar="ID")
    story.set_defaults(handler=_story)

    export = commands.add_parser("export", help="export data")
    export_commands = export.add_subparsers(dest="export_command", required=True, metavar="WHAT")
    export_stories = export_commands.add_parser(
        "stories", parents=[common], help="stories with their members as JSON Lines"
    )
    export_stories.add_argument(
        "--since", metavar="DATE", help="first seen on or after DATE (Moscow time), e.g. 2026-11-01"
    )
    export_stories.add_argument("--output", metavar="FILE", help="write here, not to stdout")
    export_stories.set_defaults(handler=_export_stories)

    discover = commands.add_parser("discover", parents=[common], help="find a site's feeds")
    discover.add_argument("url", help="a page of the site, or a feed URL")
    discover.add_argument("--add", action="store_true", help="append the first find to feeds.yaml")
    discover.add_argument("--district", help="with --add: district or okrug slug, or city")
    discover.add_argument("--title", help="with --add: the outlet's name (default: feed title)")
    discover.set_defaults(handler=_discover)

    probe = commands.add_parser("probe", parents=[common], help="fetch configured sources once")
    which = probe.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="enabled and disabled sources")
    which.add_argument("--disabled", action="store_true", help="only the disabled sources")
    probe.set_defaults(handler=_probe)
    opml = commands.add_parser(
        "export-opml", parents=[common], help="write the OPML list of every output feed"
    )
    opml.add_argument("-o", "--output", metavar="FILE", help="file to write (default: stdout)")
    opml.add_argument("--format", choices=("atom", "rss", "json"), default="atom")
    opml.set_defaults(handler=_export_opml)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser("upgrade", parents=[common], help="apply migrations")
    upgrade.set_defaults(handler=_db_upgrade)
    return parser


def _run(args: argparse.Namespace) -> int:
    app.run_service(
        app.config_dir(args.config), app.database_url(), args.host, args.port, quiet=args.quiet
    )
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    app.serve(
        app.config_dir(args.config),
        app.database_url(),
        args.host,
        args.port,
        workers=args.workers,
        quiet=args.quiet,
    )
    return EXIT_OK


def _worker(args: argparse.Namespace) -> int:
    lease = None if args.lease is None else timedelta(seconds=args.lease)
    app.run_worker(
        app.config_dir(args.config),
        app.database_url(),
        args.name,
        timedelta(seconds=args.tick),
        lease,
        args.parse_workers,
    )
    return EXIT_OK


def _fetch(args: argparse.Namespace) -> int:
    if not args.once:
        print("use `aggregator fetch --once`, or `aggregator run` for the service", file=sys.stderr)
        return EXIT_FAILURE
    config_path = app.config_dir(args.config)
    show_bar = sys.stderr.isatty() and not args.no_progress
    if not show_bar:
        summary = app.fetch_once(config_path, app.database_url())
    else:
        from tqdm import tqdm

        with tqdm(total=app.count_enabled_feeds(config_path), unit="feed") as bar:
            summary = app.fetch_once(config_path, app.database_url(), lambda _: bar.update())
    print(summary)
    for failure in summary.failures:
        print(f"  failed: {failure}")
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    from aggregator.health import table

    rows = app.feed_status(app.config_dir(args.config), app.database_url())
    if args.json:
        import json

        print(json.dumps([row.as_json() for row in rows], ensure_ascii=False, indent=2))
    else:
        print(table(rows), end="")
    return EXIT_OK


def _check_config(args: argparse.Namespace) -> int:
    from aggregator.config import check_config, summary

    config, issues = check_config(app.config_dir(args.config))
    if issues or config is None:
        raise ConfigError(issues)
    print(summary(config))
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    report = app.explain(app.config_dir(args.config), app.database_url(), args.story_id)
    return _print_story_report(report, args.story_id)


def _print_story_report(report: str | None, story_id: int) -> int:
    """Print a report about one story, or say that no such story exists."""
    if report is None:
        print(f"no story with id {story_id}", file=sys.stderr)
        return EXIT_FAILURE
    print(report)
    return EXIT_OK


def _reclassify(args: argparse.Namespace) -> int:
    from aggregator.config.models import parse_duration

    try:
        within = None if args.since is None else parse_duration(args.since)
    except ValueError as exc:
        print(f"--since: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    config_path, url = app.config_dir(args.config), app.database_url()
    if not sys.stderr.isatty() or args.no_progress:
        summary = app.reclassify_stories(config_path, url, within)
    else:
        from tqdm import tqdm

        total = app.count_stories(config_path, url, within)
        with tqdm(total=total, unit="story") as bar:
            summary = app.reclassify_stories(config_path, url, within, bar.update)
    print(summary)
    return EXIT_OK


def _discover(args: argparse.Namespace) -> int:
    from aggregator.sitecommands import discover_command

    return discover_command(app.config_dir(args.config), args.url, args)


def _probe(args: argparse.Namespace) -> int:
    from aggregator.sitecommands import probe_command

    which = "all" if args.all else "disabled" if args.disabled else "enabled"
    return probe_command(app.config_dir(args.config), which)


def _export_opml(args: argparse.Namespace) -> int:
    document = app.export_opml(app.config_dir(args.config), args.format)
    if args.output:
        with open(args.output, "wb") as out:
            out.write(document)
    else:
        sys.stdout.buffer.write(document)
        sys.stdout.flush()
    return EXIT_OK


def _db_upgrade(args: argparse.Namespace) -> int:
    url = app.database_url()
    app.upgrade_database(url)
    print(f"database is up to date: {url}")
    return EXIT_OK


def _story(args: argparse.Namespace) -> int:
    text = app.show_story(app.config_dir(args.config), app.database_url(), args.story_id)
    return _print_story_report(text, args.story_id)


def _export_stories(args: argparse.Namespace) -> int:
    from aggregator.merge_explain import parse_since

    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    config_path, url = app.config_dir(args.config), app.database_url()
    if args.output is None:
        count = app.export_stories(config_path, url, since, sys.stdout)
    else:
        with open(args.output, "w", encoding="utf-8") as out:
            count = app.export_stories(config_path, url, since, out)
    print(f"exported {count} stories", file=sys.stderr)
    return EXIT_OK
