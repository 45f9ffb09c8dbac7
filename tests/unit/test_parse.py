"""Golden and table tests for aggregator.parse: feed formats, encodings, bozo policy, dates.

Each feed in tests/data/feeds has its expected parse in `<name>.expected.json` next to it;
UPDATE_GOLDEN=1 rewrites those files from the current parser (review the diff before committing).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aggregator.domain import ParsedFeed
from aggregator.errors import ParseError
from aggregator.parse import parse_feed

FEEDS_DIR = Path(__file__).resolve().parent.parent / "data" / "feeds"

FEEDS: dict[str, tuple[dict[str, str], str]] = {
    "rss20.xml": (
        {"content-type": "application/rss+xml; charset=utf-8"},
        "https://uv-kurier.ru/feed/",
    ),
    "rss091.xml": ({"content-type": "text/xml"}, "https://zbulvar.ru/rss.xml"),
    "rss10.rdf": ({"content-type": "application/rdf+xml"}, "https://gazeta-bibirevo.ru/index.rdf"),
    "atom10.xml": ({"content-type": "application/atom+xml"}, "https://zao-press.ru/atom.xml"),
    "cp1251-declared.xml": (
        {"content-type": "application/rss+xml"},
        "https://zelenograd-vecher.ru/rss/",
    ),
    "cp1251-header.xml": (
        {"Content-Type": "application/rss+xml; charset=windows-1251"},
        "https://zelenograd-vecher.ru/rss/",
    ),
    "broken.xml": (
        {"content-type": "application/rss+xml"},
        "https://xn--80aejkacegflnf5aqfq4n.xn--p1ai/feed/",
    ),
    "page.html": ({"content-type": "text/html; charset=utf-8"}, "https://uv-kurier.ru/"),
    "empty.xml": ({"content-type": "application/rss+xml"}, "https://uv-kurier.ru/feed/"),
}


def as_dict(feed: ParsedFeed) -> dict[str, Any]:
    """A JSON-ready form of a parsed feed: datetimes as ISO strings, tuples as lists."""

    def convert(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, list | tuple):
            return [convert(item) for item in value]
        if isinstance(value, dict):
            return {key: convert(item) for key, item in value.items()}
        return value

    result: dict[str, Any] = convert(asdict(feed))
    return result


def run_case(name: str, headers: dict[str, str], url: str) -> dict[str, Any]:
    """The parse of one fixture feed, or the error it raises, as JSON-ready data."""
    content = (FEEDS_DIR / name).read_bytes()
    try:
        return {"feed": as_dict(parse_feed(content, headers, url))}
    except ParseError as error:
        return {"error": {"url": error.url, "message": error.message}}


@pytest.mark.parametrize("name", sorted(FEEDS))
def test_golden_feed(name: str) -> None:
    headers, url = FEEDS[name]
    expected_path = FEEDS_DIR / (name.rsplit(".", 1)[0] + ".expected.json")
    actual = run_case(name, headers, url)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        text = json.dumps(actual, ensure_ascii=False, indent=2) + "\n"
        expected_path.write_text(text, encoding="utf-8")
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    assert actual == expected


def test_every_fixture_has_a_case() -> None:
    fixtures = {p.name for p in FEEDS_DIR.iterdir() if not p.name.endswith(".expected.json")}
    assert fixtures == set(FEEDS)


def parse_text(xml: str, headers: dict[str, str] | None = None) -> ParsedFeed:
    return parse_feed(xml.encode("utf-8"), headers or {}, "https://uv-kurier.ru/feed/")


def rss(items: str, channel_title: str = "Курьер") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{channel_title}</title><link>https://uv-kurier.ru/</link>{items}"
        "</channel></rss>"
    )


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (b"", {}, "not a feed: empty body"),
        (b"  \r\n\t ", {}, "not a feed: empty body"),
        (b"<!DOCTYPE html><html><head><title>x</title></head></html>", {}, "not a feed: HTML page"),
        (b"\xef\xbb\xbf<html lang='ru'><body>x</body></html>", {}, "not a feed: HTML page"),
        (b"<!-- cms --><HTML><body>x</body></HTML>", {}, "not a feed: HTML page"),
        (b"<p>x</p>", {"Content-Type": "text/html"}, "not a feed: HTML page"),
        (b"garbage \x00\x01", {}, "not a feed: XML error at line 1: syntax error"),
        (b'{"items": []}', {}, "not a feed: XML error at line 1: not well-formed (invalid token)"),
        (b"<?xml version='1.0'?><note><to>x</to></note>", {}, "not a feed: unknown format"),
    ],
)
def test_not_a_feed(body: bytes, headers: dict[str, str], message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(body, headers, "https://uv-kurier.ru/feed/")
    assert caught.value.url == "https://uv-kurier.ru/feed/"
    assert caught.value.message == message
    assert str(caught.value) == f"https://uv-kurier.ru/feed/: {message}"


def test_empty_but_valid_feed_is_not_an_error() -> None:
    feed = parse_text(rss(""))
    assert (feed.title, feed.version, feed.entries, feed.problem) == ("Курьер", "rss20", (), None)


def test_feed_served_as_html_keeps_entries() -> None:
    feed = parse_text(
        rss("<item><title>Новость</title></item>"), {"content-type": "text/html; charset=utf-8"}
    )
    assert [e.title for e in feed.entries] == ["Новость"]
    assert feed.problem == "not served as XML: text/html; charset=utf-8 is not an XML media type"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("<rss version='2.0'><channel>\n<item><title>Т</title>\n</channel>", 3),
        (
            "<?xml version='1.0'?>\n"
            "<rss version='2.0'><channel>\n<item><title>Т</title>\n</channel>",
            4,
        ),
    ],
)
def test_broken_xml_line_numbers_match_the_body(body: str, problem: int) -> None:
    feed = parse_text(body)
    assert [e.title for e in feed.entries] == ["Т"]
    assert feed.problem == f"XML error at line {problem}: mismatched tag"


def test_header_charset_overrides_declaration() -> None:
    body = rss("<item><title>Ремонт в Люблине</title></item>").replace("utf-8", "windows-1251")
    feed = parse_feed(
        body.encode("cp1251"),
        {"content-type": "application/xml; charset=windows-1251"},
        "https://uv-kurier.ru/feed/",
    )
    assert [e.title for e in feed.entries] == ["Ремонт в Люблине"]


@pytest.mark.parametrize(
    ("pub_date", "expected"),
    [
        ("Mon, 30 Dec 2019 11:39:35 +0300", datetime(2019, 12, 30, 8, 39, 35, tzinfo=UTC)),
        ("Mon, 30 Dec 2019 11:39:35", datetime(2019, 12, 30, 8, 39, 35, tzinfo=UTC)),
        ("06 Июл 2022 в 15:29", datetime(2022, 7, 6, 12, 29, tzinfo=UTC)),
        ("04 мая 2022 в 15:24", datetime(2022, 5, 4, 12, 24, tzinfo=UTC)),
        ("19.04.2024", datetime(2024, 4, 18, 21, 0, tzinfo=UTC)),
        ("2024-04-19T10:00:00Z", datetime(2024, 4, 19, 10, 0, tzinfo=UTC)),
        ("Sun, 07 Jan 2024 12:00:00 +0000", datetime(2024, 1, 7, 12, 0, tzinfo=UTC)),
        ("сегодня", None),
        ("", None),
    ],
)
def test_entry_dates(pub_date: str, expected: datetime | None) -> None:
    feed = parse_text(rss(f"<item><title>Т</title><pubDate>{pub_date}</pubDate></item>"))
    assert feed.entries[0].published == expected


@pytest.mark.parametrize(
    ("item", "content", "title"),
    [
        (
            "<title>Т</title><description>&lt;p&gt;Анонс&lt;/p&gt;</description>",
            "<p>Анонс</p>",
            "Т",
        ),
        ("<title>А &amp; Б</title>", "А &amp; Б", "А &amp; Б"),
        ("<title>Цена &lt;100&gt;</title>", "Цена &lt;100&gt;", "Цена &lt;100&gt;"),
        ("<description>Только текст</description>", "Только текст", ""),
    ],
)
def test_content_fallbacks(item: str, content: str, title: str) -> None:
    [entry] = parse_text(rss(f"<item>{item}</item>")).entries
    assert (entry.content_html, entry.title) == (content, title)


def test_relative_guid_is_kept_as_written() -> None:
    feed = parse_feed(
        rss("<item><title>Т</title><guid>uv-101</guid></item>").encode(),
        {"content-location": "https://uv-kurier.ru/feed/"},
        "https://uv-kurier.ru/feed/",
    )
    assert feed.entries[0].guid == "uv-101"


def test_feed_link_never_fetched() -> None:
    # a body that is itself a URL must be parsed as text, never opened or fetched
    with pytest.raises(ParseError):
        parse_feed(b"https://uv-kurier.ru/feed/", {}, "https://uv-kurier.ru/feed/")
    with pytest.raises(ParseError):
        parse_feed(b"/etc/hostname", {}, "https://uv-kurier.ru/feed/")


def test_ttl_and_syndication_hints_are_exposed() -> None:
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel>'
        "<title>Курьер</title><link>https://uv-kurier.ru/</link><ttl> 60 </ttl>"
        "<sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>"
        "<item><title>Новости Марьина</title><guid>1</guid></item></channel></rss>"
    )
    parsed = parse_text(xml)
    assert (parsed.ttl, parsed.update_period, parsed.update_frequency) == ("60", "daily", "4")
    plain = parse_text(rss("<item><title>Без подсказок</title><guid>2</guid></item>"))
    assert (plain.ttl, plain.update_period, plain.update_frequency) == (None, None, None)
