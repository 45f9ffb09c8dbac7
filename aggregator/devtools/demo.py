"""The offline demo: fixture feeds served on loopback, and the whole service reading them.

    python -m aggregator.devtools.demo --host 127.0.0.1 --port 8080 [--feed-port N] [--reset]

It serves `demo/` (so `demo/feeds/x.xml` is `/feeds/x.xml`), writes a config directory under
`data/demo/config` that points at that server, and runs the service on `data/demo/aggregator.db`.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from aggregator.app import run_service
from aggregator.devtools.feedserver import FeedServer

REPO = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO / "demo"
DATA_DIR = REPO / "data" / "demo"
COPIED = ("districts.yaml", "topics.yaml")
PORT_PLACEHOLDER = "{port}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m aggregator.devtools.demo",
        description="Run the aggregator offline against the fixture feeds in demo/.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="web server address")
    parser.add_argument("--port", type=int, default=8080, help="web server port")
    parser.add_argument(
        "--feed-port", type=int, default=0, help="fixture feed server port (0: any free port)"
    )
    parser.add_argument("--reset", action="store_true", help="start from an empty database")
    return parser.parse_args(argv)


def demo_dir(root: Path = DEMO_DIR) -> Path:
    """The demo fixtures directory, or a clear error when the checkout lacks it."""
    if not (root / "feeds.yaml").is_file() or not (root / "feeds").is_dir():
        raise SystemExit(
            f"demo fixtures not found: expected {root}/feeds.yaml and {root}/feeds/ "
            "(run the demo from a source checkout of the repository)"
        )
    return root


def public_url(host: str, port: int) -> str:
    """The URL a browser on this machine opens; a wildcard bind is reached via loopback."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def write_config(out: Path, demo: Path, source_config: Path, feed_port: int, site_url: str) -> Path:
    """Write the demo config directory: the real districts and topics, the demo feeds."""
    out.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (source_config / name).is_file():
            shutil.copyfile(source_config / name, out / name)
    feeds = (demo / "feeds.yaml").read_text(encoding="utf-8")
    (out / "feeds.yaml").write_text(
        feeds.replace(PORT_PLACEHOLDER, str(feed_port)), encoding="utf-8"
    )
    service: dict[str, object] = {}
    if (source_config / "service.yaml").is_file():
        loaded = yaml.safe_load((source_config / "service.yaml").read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            service = loaded
    # Feed ids and self links must point at this demo server, not the production host.
    service["public_url"] = site_url
    (out / "service.yaml").write_text(
        yaml.safe_dump(service, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    demo = demo_dir()
    database = DATA_DIR / "aggregator.db"
    if args.reset:
        database.unlink(missing_ok=True)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    site = public_url(args.host, args.port)
    with FeedServer(root=demo, host="127.0.0.1", port=args.feed_port) as server:
        feed_port = urlsplit(server.base_url).port
        assert feed_port is not None
        config = write_config(DATA_DIR / "config", demo, REPO / "config", feed_port, site)
        print(f"Fixture feeds:  {server.base_url}/feeds/")
        print(f"Demo config:    {config}")
        print(f"Database:       {database}")
        print(f"Open:           {site}/")
        print(f"  all Moscow:   {site}/feeds/all.atom")
        print(f"  an okrug:     {site}/feeds/district/uvao.atom")
        print(f"  a district:   {site}/feeds/district/kuzminki.rss")
        print(f"  a mention:    {site}/feeds/district/nekrasovka.atom (own outlets: ?source=own)")
        print("Press Ctrl+C to stop.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            run_service(config, f"sqlite:///{database}", args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
