"""The subscriber pages in real headless Chromium (Debian's package) over the real service.

The database is filled from the end-to-end fixture feeds; uvicorn serves the app on a
loopback port. Every page must load without console errors, every feed link it shows must
answer 200 and parse, and phone and desktop screenshots are saved.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import feedparser
import pytest
import yaml

from aggregator import app
from aggregator.devtools.feedserver import FeedServer
from aggregator.web.app import create_app
from tests.integration.loopback import free_socket, running

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_ENV = "AGGREGATOR_REQUIRE_BROWSER"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# Runs write tests/screenshots/ (gitignored); AGGREGATOR_UPDATE_SCREENSHOTS=1 also refreshes
# the committed set in docs/screenshots/ that the README links.
SHOT_DIRS = (ROOT / "tests" / "screenshots",) + (
    (ROOT / "docs" / "screenshots",) if os.environ.get("AGGREGATOR_UPDATE_SCREENSHOTS") else ()
)
WIDTHS = {"phone": (390, 844), "desktop": (1280, 900)}
FEEDS = [
    ("/e2e/maryino.xml", "Марьинский вестник", "marino"),
    ("/e2e/kuzminki-cp1251.xml", "Вестник Кузьминок", "kuzminki"),
    ("/e2e/uvao.atom", "Юго-Восточный курьер", "uvao"),
]

pytestmark = pytest.mark.browser


def _browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is missing: pip install -e '.[test]'"
    return None


@pytest.fixture
def site(tmp_path: Path, feed_server: FeedServer) -> Iterator[str]:
    """The real service on 127.0.0.1 with stories fetched from the fixture feeds."""
    missing = _browser_missing()
    if missing:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"browser test required ({REQUIRE_ENV}=1) but {missing}")
        pytest.skip(missing)
    sock = free_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    for name in ("districts.yaml", "topics.yaml"):
        shutil.copy(ROOT / "config" / name, config_dir / name)
    feeds = [{"url": feed_server.url(p), "title": t, "district": d} for p, t, d in FEEDS]
    dump = yaml.safe_dump({"feeds": feeds}, allow_unicode=True)
    (config_dir / "feeds.yaml").write_text(dump, encoding="utf-8")
    (config_dir / "service.yaml").write_text(f"public_url: {base}\n", encoding="utf-8")
    db_url = f"sqlite:///{tmp_path / 'browser.db'}"
    app.fetch_once(config_dir, db_url)
    with (
        app.open_service(config_dir, db_url) as (config, storage),
        running(create_app(config, storage), sock),
    ):
        yield base


def _check_feed(page_request: object, url: str) -> None:
    response = page_request.get(url)  # type: ignore[attr-defined]
    assert response.status == 200, url
    body = response.body()
    if ".json" in url:
        document = json.loads(body)
        assert document["version"] == "https://jsonfeed.org/version/1.1", url
    else:
        parsed = feedparser.parse(body)
        assert parsed.bozo == 0, (url, parsed.get("bozo_exception"))


def test_pages_load_show_working_feeds_and_are_screenshotted(site: str) -> None:
    from playwright.sync_api import sync_playwright

    for directory in SHOT_DIRS:
        directory.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(site + "/")
        shared = page.locator("#latest li", has_text="источника")  # 2-4 sources
        assert shared.count() >= 1, "the shared city story lists several sources"
        story_href = shared.first.locator("a[href^='story/']").get_attribute("href")
        assert story_href is not None
        urls = {
            "index": site + "/",
            "district": site + "/district/uvao",
            "story": urljoin(site + "/", story_href),
        }
        page.goto(site + "/")
        page.select_option("form.search select[name=district]", "marino")
        page.click("form.search button[type=submit]")
        page.wait_for_url("**/search?*")
        assert "district=marino" in page.url
        urls["search"] = page.url
        checked: set[str] = set()
        for name, url in urls.items():
            for label, (width, height) in WIDTHS.items():
                page.set_viewport_size({"width": width, "height": height})
                response = page.goto(url)
                assert response is not None and response.status == 200, url
                for directory in SHOT_DIRS:
                    page.screenshot(path=str(directory / f"{name}-{label}.png"), full_page=True)
            hrefs = page.eval_on_selector_all(
                "a[href*='feeds/']", "links => links.map(a => a.href)"
            )
            assert hrefs, f"{name} shows no feed links"
            for href in set(hrefs) - checked:
                _check_feed(page.request, href)
                checked.add(href)
            if name == "search":
                shown = page.input_value("input.feed-url >> nth=0")
                assert shown == site + "/feeds/district/marino.atom"
            if name == "story":
                assert page.locator("ul.sources li").count() >= 2
        plain = browser.new_context(java_script_enabled=False).new_page()
        plain.goto(urls["search"])
        assert plain.locator("input.feed-url").first.is_visible()
        assert not plain.locator("button.copy").first.is_visible(), "no JS, no copy button"
        assert plain.locator("#result ol.stories li").count() >= 1
        browser.close()
    assert errors == []
