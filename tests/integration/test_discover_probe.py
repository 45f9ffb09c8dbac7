"""`aggregator discover` and `aggregator probe` against the loopback server, and IDN hosts.

IDN hosts resolve to 127.0.0.1 through an injected transport: the request keeps the
punycode Host header that httpx derives from the Unicode URL, so the server sees what a real
.рф site would see, without DNS or internet.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from aggregator import cli
from aggregator.devtools.feedserver import FeedServer, Route
from aggregator.domain import CITY, ServiceSettings, Source
from aggregator.fetch import Fetcher
from aggregator.probe import discover, probe_source

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)

PAGE_WITH_LINK = """<!DOCTYPE html><html><head><meta charset="utf-8">
<title>Районная газета «Бибирево»</title>
<link rel="alternate" type="application/rss+xml" title="Бибирево: новости" href="/feeds/rss20.xml">
</head><body><p>Главная</p></body></html>""".encode()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(list(args))
    return code, capsys.readouterr().out


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    for name in ("districts.yaml", "topics.yaml"):
        shutil.copy(ROOT / "config" / name, directory / name)
    shutil.copy(ROOT / "config" / "feeds.yaml", directory / "feeds.yaml")
    return directory


def write_feeds(directory: Path, feeds: list[dict[str, object]]) -> None:
    text = yaml.safe_dump({"feeds": feeds}, allow_unicode=True, sort_keys=False)
    (directory / "feeds.yaml").write_text(text, encoding="utf-8")


# --- discover ------------------------------------------------------------------------------


def test_discover_finds_linked_and_common_path_feeds(
    capsys: pytest.CaptureFixture[str], config_dir: Path, feed_server: FeedServer
) -> None:
    feed_server.set_route("/bibirevo/", Route(body=PAGE_WITH_LINK, content_type="text/html"))
    feed_server.set_route("/rss.xml", Route(body=(DATA / "feeds" / "atom10.xml").read_bytes()))

    code, out = run(capsys, "discover", "--config", str(config_dir), feed_server.url("/bibirevo/"))

    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"found 2 feed(s) for {feed_server.url('/bibirevo/')}:"
    assert lines[1].strip() == feed_server.url("/feeds/rss20.xml")
    assert "«Юго-Восточный курьер», 5 items, last item 20" in lines[2]
    assert lines[2].endswith("(link rel=alternate)")
    assert lines[3].strip() == feed_server.url("/rss.xml")
    assert lines[4].endswith("(common path)")


def test_discover_add_appends_a_validated_entry_keeping_comments(
    capsys: pytest.CaptureFixture[str], config_dir: Path, feed_server: FeedServer
) -> None:
    feed_server.set_route("/bibirevo/", Route(body=PAGE_WITH_LINK, content_type="text/html"))
    before = (config_dir / "feeds.yaml").read_text(encoding="utf-8")
    url = feed_server.url("/bibirevo/")

    code, out = run(
        capsys, "discover", "--config", str(config_dir), url, "--add", "--district", "bibirevo"
    )

    assert code == 0, out
    after = (config_dir / "feeds.yaml").read_text(encoding="utf-8")
    assert after.startswith(before)  # every comment and entry as it was, the new one last
    assert after[len(before) :] == (
        f"  - url: {feed_server.url('/feeds/rss20.xml')}\n"
        "    title: Юго-Восточный курьер\n"
        "    district: bibirevo\n"
    )
    assert cli.main(["check-config", "--config", str(config_dir)]) == 0

    # the same feed again is a duplicate: reported with its line, the file is unchanged
    assert (
        run(
            capsys, "discover", "--config", str(config_dir), url, "--add", "--district", "bibirevo"
        )[0]
        == 2
    )
    assert (config_dir / "feeds.yaml").read_text(encoding="utf-8") == after


def test_discover_without_a_feed_offers_the_preset(
    capsys: pytest.CaptureFixture[str], config_dir: Path, feed_server: FeedServer
) -> None:
    url = feed_server.url("/html/uv-kurier-news.html")
    code, out = run(
        capsys, "discover", "--config", str(config_dir), url, "--add", "--district", "uvao"
    )

    assert code == 0, out
    assert out.startswith(f'no feed found for {url}: no <link rel="alternate"> feed')
    assert "reads with the district-press preset" in out
    assert "ok   HTTP 200    html    3 items  newest 2024-04-22 09:05 МСК" in out
    tail = (config_dir / "feeds.yaml").read_text(encoding="utf-8").splitlines()[-5:]
    assert tail == [
        f"  - url: {url}",
        f"    title: {url}",
        "    district: uvao",
        "    kind: html",
        "    preset: district-press",
    ]


def test_discover_reports_a_site_with_nothing(
    capsys: pytest.CaptureFixture[str], config_dir: Path, feed_server: FeedServer
) -> None:
    url = feed_server.url("/html/bibirevo-home.html")
    code, out = run(capsys, "discover", "--config", str(config_dir), url)
    assert code == 1
    assert "no feed found" in out
    assert "does not read as an html source either" in out


# --- probe ---------------------------------------------------------------------------------


def probe_config(directory: Path, server: FeedServer) -> None:
    server.set_route("/geo/feed/", Route(body=b"Forbidden", status=403, content_type="text/html"))
    html = {"kind": "html", "preset": "district-press"}
    write_feeds(
        directory,
        [
            {"url": server.url("/feeds/rss20.xml"), "title": "ЮВ курьер", "district": "uvao"},
            {"url": server.url("/html/zbulvar-news.html"), "title": "ЗБ", "district": "svao"}
            | html,
            {"url": server.url("/geo/feed/"), "title": "Гео", "district": CITY, "enabled": False},
            {"url": server.url("/html/maryino-article.html"), "title": "Марьино"}
            | {"district": "marino", "enabled": False},
            {"url": server.url("/html/zbulvar-news.html?feed"), "title": "ЗБ лента"}
            | {"district": "svao", "enabled": False},
            {"url": server.url("/feeds/broken.xml"), "title": "Сломанная"}
            | {"district": "severnoe-izmaylovo", "enabled": False},
        ],
    )


def test_probe_reports_each_source(
    capsys: pytest.CaptureFixture[str], config_dir: Path, feed_server: FeedServer
) -> None:
    probe_config(config_dir, feed_server)

    code, out = run(capsys, "probe", "--config", str(config_dir))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("ok   HTTP 200    feed    5 items  newest ")
    assert lines[1].startswith("ok   HTTP 200    html    2 items  newest 2023-05-19 11:40 МСК")
    assert lines[2] == f"     note: the page announces a feed: {feed_server.url('/feed/')}"
    assert lines[-1] == "probed 2 source(s): 2 ok, 0 failed (0 of them enabled)"

    code, out = run(capsys, "probe", "--config", str(config_dir), "--disabled")
    assert code == 0  # disabled sources may fail: that is why they are disabled
    assert "FAIL HTTP 403" in out and "problem: HTTP 403 Forbidden — geo-blocked?" in out
    assert "problem: HTML page, no feed link" in out
    assert f"problem: HTML page; it announces: {feed_server.url('/feed/')}" in out
    assert "XML error at line 16: mismatched tag" in out
    assert out.splitlines()[-1] == "probed 4 source(s): 1 ok, 3 failed (0 of them enabled)"

    code, out = run(capsys, "probe", "--config", str(config_dir), "--all")
    assert code == 0
    assert out.splitlines()[-1] == "probed 6 source(s): 3 ok, 3 failed (0 of them enabled)"


def test_probe_fails_when_an_enabled_source_fails(
    capsys: pytest.CaptureFixture[str], config_dir: Path, feed_server: FeedServer
) -> None:
    probe_config(config_dir, feed_server)
    text = (config_dir / "feeds.yaml").read_text(encoding="utf-8")
    (config_dir / "feeds.yaml").write_text(text.replace("enabled: false", "enabled: true", 1))

    code, out = run(capsys, "probe", "--config", str(config_dir))
    assert code == 1
    assert out.splitlines()[-1] == "probed 3 source(s): 2 ok, 1 failed (1 of them enabled)"


# --- IDN hosts -----------------------------------------------------------------------------


class LoopbackTransport(httpx.AsyncHTTPTransport):
    """Connects every request to the loopback server; the Host header stays as httpx built it."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._port = port

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        loopback = httpx.Request(
            request.method,
            request.url.copy_with(host="127.0.0.1", port=self._port),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return await super().handle_async_request(loopback)


PUNYCODE = "xn--80aejkacegflnf5aqfq4n.xn--p1ai"  # марьинскийвестник.рф


@pytest.mark.parametrize("host", ["марьинскийвестник.рф", PUNYCODE, "МАРЬИНСКИЙВЕСТНИК.РФ"])
def test_idn_hosts_are_fetched_in_punycode_and_shown_in_unicode(
    feed_server: FeedServer, host: str
) -> None:
    port = int(feed_server.base_url.rsplit(":", 1)[1])
    feed_server.set_route("/", Route(body=PAGE_WITH_LINK, content_type="text/html"))

    async def go() -> tuple[object, list[object]]:
        fetcher = Fetcher(ServiceSettings(), transport=LoopbackTransport(port))
        async with fetcher:
            source = Source(f"http://{host}:{port}/html/uv-kurier-news.html", "", "marino")
            html_source = Source(source.url, "", "marino", kind="html", preset="district-press")
            report = await probe_source(fetcher, html_source, NOW)
            found = await discover(fetcher, f"http://{host}:{port}/")
            return report, list(found)

    report, found = asyncio.run(go())
    hosts = {request.headers["host"] for request in feed_server.requests}
    assert hosts == {f"{PUNYCODE}:{port}"}
    assert report.ok and report.items == 3
    urls = [candidate.url for candidate in found]
    assert urls == [f"http://марьинскийвестник.рф:{port}/feeds/rss20.xml"]


def test_discover_accepts_a_feed_url(
    capsys: pytest.CaptureFixture[str], config_dir: Path, feed_server: FeedServer
) -> None:
    url = feed_server.url("/feeds/atom10.xml")
    code, out = run(capsys, "discover", "--config", str(config_dir), url)
    assert code == 0
    assert out.splitlines()[1].strip() == url
    assert out.splitlines()[2].endswith("(the URL itself)")
