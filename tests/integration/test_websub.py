"""WebSub: outputs advertise the hub, and an update cycle that stores stories pings it for
exactly the outputs those stories changed; the hub is a real loopback receiver."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import yaml

from aggregator import app
from aggregator.devtools.feedserver import FeedServer, RecordedRequest, Route

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = "http://feeds.example.test"
FEEDS = [
    ("/e2e/maryino.xml", "Марьинский вестник", "marino"),
    ("/e2e/uvao.atom", "Юго-Восточный курьер", "uvao"),
]


@pytest.fixture
def config_dir(tmp_path: Path, feed_server: FeedServer) -> Path:
    feed_server.set_route("/hub", Route(b"", "text/plain", status=204, etag=""))
    directory = tmp_path / "config"
    directory.mkdir()
    for name in ("districts.yaml", "topics.yaml"):
        shutil.copy(ROOT / "config" / name, directory / name)
    feeds = [{"url": feed_server.url(p), "title": t, "district": d} for p, t, d in FEEDS]
    (directory / "feeds.yaml").write_text(
        yaml.safe_dump({"feeds": feeds}, allow_unicode=True), encoding="utf-8"
    )
    service = {"public_url": PUBLIC, "websub_hub": feed_server.url("/hub")}
    (directory / "service.yaml").write_text(yaml.safe_dump(service), encoding="utf-8")
    outputs = {
        "outputs": [
            {"name": "yuzhnyy", "title": "Юг", "filter": {"districts": ["uao"]}},
            {"name": "uvao-all", "title": "ЮВАО целиком", "filter": {"districts": ["uvao"]}},
        ]
    }
    (directory / "outputs.yaml").write_text(
        yaml.safe_dump(outputs, allow_unicode=True), encoding="utf-8"
    )
    return directory


def pings(server: FeedServer) -> list[str]:
    found: list[RecordedRequest] = [r for r in server.requests if r.method == "POST"]
    urls = []
    for request in found:
        assert request.path == "/hub"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = parse_qs(request.body.decode())
        assert form["hub.mode"] == ["publish"]
        urls += form["hub.url"]
    return urls


def test_cycle_pings_the_hub_for_changed_outputs(
    config_dir: Path, database_url: str, feed_server: FeedServer
) -> None:
    summary = app.fetch_once(config_dir, database_url)
    assert summary.new_stories > 0
    urls = pings(feed_server)
    assert len(urls) == len(set(urls))
    for path in ("/feeds/all", "/feeds/district/marino", "/feeds/district/uvao", "/feeds/uvao-all"):
        for fmt in ("atom", "rss", "json"):
            assert f"{PUBLIC}{path}.{fmt}" in urls
    # Nothing changed south of ЮВАО or in Кузьминки's own district feed.
    assert not [u for u in urls if "/feeds/yuzhnyy." in u or "/district/kuzminki." in u]
    # A cycle that stores nothing new pings nobody.
    feed_server.clear_requests()
    again = app.fetch_once(config_dir, database_url)
    assert again.new_items == 0 and again.updated_items == 0
    assert pings(feed_server) == []


def test_a_hub_that_is_down_does_not_fail_the_cycle(
    config_dir: Path, database_url: str, feed_server: FeedServer
) -> None:
    feed_server.set_route("/hub", Route(b"busy", "text/plain", status=503, etag=""))
    summary = app.fetch_once(config_dir, database_url)
    assert summary.failed == 0 and summary.new_stories > 0
    assert pings(feed_server)  # it tried
