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


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="DIR", help="config directory (default: $AGGREGATOR_CONFIG or config/)"
    )
    common.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")

    parser = argparse.ArgumentParser(
        prog="aggregator", description="News feeds of Moscow's okrugs and districts."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, handler, help_text in (
        ("run", _run, "the service: scheduler and web server in one process"),
        ("serve", _serve, "the web server alone"),
    ):
        command = commands.add_parser(name, parents=[common], help=help_text)
        command.add_argument("--host", default="127.0.0.1")
        command.add_argument("--port", type=int, default=8080)
        command.set_defaults(handler=handler)

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

    check = commands.add_parser("check-config", parents=[common], help="validate the config")
    check.set_defaults(handler=_check_config)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser("upgrade", parents=[common], help="apply migrations")
    upgrade.set_defaults(handler=_db_upgrade)
    return parser


def _run(args: argparse.Namespace) -> int:
    app.run_service(app.config_dir(args.config), app.database_url(), args.host, args.port)
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    app.serve(app.config_dir(args.config), app.database_url(), args.host, args.port)
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


def _check_config(args: argparse.Namespace) -> int:
    from aggregator.config import check_config, summary

    config, issues = check_config(app.config_dir(args.config))
    if issues or config is None:
        raise ConfigError(issues)
    print(summary(config))
    return EXIT_OK


def _db_upgrade(args: argparse.Namespace) -> int:
    url = app.database_url()
    app.upgrade_database(url)
    print(f"database is up to date: {url}")
    return EXIT_OK
