"""The lxml fast path for plain RSS 2.0 gives exactly what feedparser gives, or declines."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from feedparser.html import _cp1252

from aggregator import parse
from aggregator.devtools.farm import FarmSpec, render_feed
from aggregator.parse import parse_feed, parse_with_feedparser
from aggregator.rssfast import _CP1252, parse_plain_rss

DATA = Path(__file__).resolve().parents[1] / "data"
DEMO = Path(__file__).resolve().parents[2] / "demo" / "feeds"
RSS = "application/rss+xml; charset=utf-8"
NAMESPACES = (
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:atom="http://www.w3.org/2005/Atom" '
    'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/" '
    'xmlns:wfw="http://wellformedweb.org/CommentAPI/" '
    'xmlns:slash="http://purl.org/rss/1.0/modules/slash/" '
    'xmlns:yandex="http://news.yandex.ru" '
    'xmlns:media="http://search.yahoo.com/mrss/"'
)


def _document(
    channel: str,
    *,
    declaration: str = '<?xml version="1.0" encoding="utf-8"?>',
    root: str = f'<rss version="2.0" {NAMESPACES}>',
) -> bytes:
    return f"{declaration}\n{root}<channel>{channel}</channel></rss>".encode()


def _same_or_declined(body: bytes, headers: dict[str, str]) -> bool:
    """True if the fast path took the document; fails if it differs from feedparser."""
    fast = parse_plain_rss(body, headers)
    if fast is None:
        return False
    assert fast == parse_with_feedparser(body, headers, "https://example.ru/feed")
    return True


# --- fragments the generated documents are built from ------------------------------------

TITLES = [
    "<title>В Марьине открыли новый сквер</title>",
    "<title>  \n Собянин открыл станцию «Люблинская-2»\n </title>",
    "<title>Цены &lt; 100 рублей &amp; выше</title>",
    "<title>&lt;b&gt;Жирный&lt;/b&gt; заголовок</title>",
    "<title><![CDATA[<b>Важно:</b> ремонт дорог]]></title>",
    "<title>Ремонт &amp;nbsp; дорог &amp;mdash; итоги</title>",
    "<title>Caf\u00c3\u00a9 \u00ab\u0410\u0440\u0431\u0430\u0442\u00bb</title>",
    "<title>Caf\u00e9 на Арбате</title>",
    "<title>Тире &#150; и кавычки &#147;здесь&#148;</title>",
    "<title></title>",
    "<title>Абзац&lt;/p&gt; без начала</title>",
    "<title>Без <!-- комментарий --> разрыва</title>",
    "<title>&#38;amp; и &amp;#x26;</title>",
]
LINKS = [
    "<link>https://vestnik.example/news/1/</link>",
    "<link>https://vestnik.example/news/?a=1&amp;b=2&amp;utm_source=rss</link>",
    "<link>https://vestnik.example/?a=1&amp;amp;b=2&amp;c;d</link>",
    "<link>http:///vestnik.example//news/2</link>",
    "<link>/news/relative/</link>",
    "<link>  https://vestnik.example/trimmed  </link>",
    "<link></link>",
]
GUIDS = [
    '<guid isPermaLink="false">vestnik-1021</guid>',
    "<guid>https://vestnik.example/?p=48211</guid>",
    '<guid isPermaLink="true">https:////vestnik.example/p/1</guid>',
    '<guid isPermaLink="True">https://vestnik.example/p/2</guid>',
    '<guid ispermalink="false">https:///vestnik.example/p/3</guid>',
    "<guid>  </guid>",
]
DATES = [
    "<pubDate>Fri, 27 Nov 2026 10:15:00 +0300</pubDate>",
    "<pubDate>26 Ноя 2026 в 09:40</pubDate>",
    "<pubDate>17 октября 2025, 13:33</pubDate>",
    "<pubDate></pubDate>",
    "<pubdate>Thu, 26 Nov 2026 12:00:00 GMT</pubdate>",
    "<dc:date>2026-11-26T12:00:00+03:00</dc:date>",
    "<dc:date>2026-11-26</dc:date>",
]
TEXTS = [
    "<description><![CDATA[<p>Работы начнутся.</p><script>alert(1)</script>]]></description>",
    "<description>Теперь врачи принимают до 21:00.</description>",
    "<description>  </description>",
    "<description>&lt;p&gt;Экранированный&lt;/p&gt; &amp;laquo;HTML&amp;raquo;</description>",
    '<content:encoded><![CDATA[<p>Полный текст новости.</p><img src="/a.jpg">]]></content:encoded>',
    "<content:encoded>   </content:encoded>",
    "<content:encoded></content:encoded>",
]
AUTHORS = [
    "<author>ivan@example.ru (Иван Петров)</author>",
    "<author>Иван Петров &lt;ivan@example.ru&gt;</author>",
    "<dc:creator>Анна Смирнова</dc:creator>",
    "<dc:creator>  </dc:creator>",
]
CATEGORIES = [
    "<category>Здравоохранение</category>",
    "<category>  Район   Марьино </category>",
    '<category domain="https://vestnik.example/tags">Транспорт</category>',
    '<category domain="x"></category>',
    "<category></category>",
    "<category>Здравоохранение</category>",
]
EXTRAS = [
    '<enclosure url="https://vestnik.example/a.jpg" type="image/jpeg" length="1"/>',
    "<comments>https://vestnik.example/news/1/#comments</comments>",
    '<source url="https://other.example/rss">Другая газета</source>',
    "<wfw:commentRss>https://vestnik.example/news/1/feed/</wfw:commentRss>",
    "<slash:comments>3</slash:comments>",
]
CHANNEL_FIELDS = [
    "<title>Марьинский вестник</title>",
    "<title>  Вестник\n  района   Марьино </title>",
    "<title></title>",
    "<title>Caf\u00c3\u00a9 \u0412\u0435\u0441\u0442\u043d\u0438\u043a &#150;</title>",
    "<link>https://maryino-vestnik.example/</link>",
    "<link>https://vestnik.example/?a=1&amp;b=2&amp;c;</link>",
    "<link>http:///vestnik.example/</link>",
    "<description>Новости района</description>",
    "<language>ru</language>",
    "<lastBuildDate>Fri, 27 Nov 2026 10:15:00 +0300</lastBuildDate>",
    "<generator>Bitrix</generator>",
    "<ttl>60</ttl>",
    "<ttl> 30 </ttl>",
    "<sy:updatePeriod>hourly</sy:updatePeriod>",
    "<sy:updateFrequency>2</sy:updateFrequency>",
    '<atom:link href="https://vestnik.example/feed" rel="self" type="application/rss+xml"/>',
    '<atom:link href="https://hub.example/" rel="hub"/>',
    "<image><url>https://vestnik.example/logo.png</url><title>Логотип</title>"
    "<link>https://vestnik.example/logo</link></image>",
    "<category>Новости</category>",
    "<managingEditor>red@vestnik.example (Редакция)</managingEditor>",
]
# Fragments feedparser alone reads: each generated document has one at most, now and then.
DECLINED_IN_ITEMS = [
    "<title>Вложенный <b>тег</b></title>",
    '<title type="html">С атрибутом</title>',
    '<link href="https://vestnik.example/attr"/>',
    '<guid isPermaLink="false" extra="1">x</guid>',
    "<pubDate>вчера</pubDate>",
    '<description type="text">Тип указан</description>',
    "<yandex:full-text>Полный текст для Яндекса</yandex:full-text>",
    "<media:title>Медиа-заголовок</media:title>",
    "<summary>Не RSS-элемент</summary>",
    '<category term="Город">Город</category>',
    '<media:content url="https://vestnik.example/v.mp4"/>',
    "<unknown>что-то</unknown>",
    "<id>urn:x</id>",
]
DECLINED_IN_CHANNELS = [
    '<atom:link href="https://vestnik.example/" rel="alternate" type="text/html"/>',
    '<atom:link rel="self"/>',
    "<textInput><title>Поиск</title><link>https://vestnik.example/s</link></textInput>",
]
HEADERS = [
    {"content-type": RSS},
    {"content-type": "application/rss+xml"},
    {"content-type": "application/xml; charset=UTF-8"},
    {"content-type": "text/xml; charset=utf-8"},
    {"content-type": "text/xml"},
    {"content-type": "text/html; charset=utf-8"},
    {"content-type": "Application/RSS+XML"},
    {"content-type": "application/rss+xml; charset=windows-1251"},
    {"etag": '"abc"'},
    {},
]
DECLARATIONS = [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<?xml version="1.0"?>',
    "",
    '<?xml version="1.0" encoding="windows-1251"?>',
    '<?xml version="1.0" encoding="utf-8"?><!-- generated -->',
    '<?xml version="1.0" encoding="utf-8"?><!DOCTYPE rss [<!ENTITY mdash "&#8212;">]>',
]
ROOTS = [
    f'<rss version="2.0" {NAMESPACES}>',
    f'<rss version="2.01" {NAMESPACES}>',
    f'<rss version="0.91" {NAMESPACES}>',
    f"<rss {NAMESPACES}>",
    f'<rss version="2.0" xml:lang="ru" {NAMESPACES}>',
    '<rss version="2.0">',
]


def _item(rng: random.Random, odd: bool) -> str:
    parts = [rng.choice(TITLES)] if rng.random() < 0.9 else []
    if odd:
        parts.append(rng.choice(DECLINED_IN_ITEMS))
    for pool, chance in (
        (LINKS, 0.8),
        (GUIDS, 0.7),
        (DATES, 0.85),
        (TEXTS, 0.9),
        (AUTHORS, 0.3),
        (CATEGORIES, 0.5),
        (CATEGORIES, 0.3),
        (EXTRAS, 0.3),
        (TEXTS, 0.3),
        (DATES, 0.1),
    ):
        if rng.random() < chance:
            parts.append(rng.choice(pool))
    rng.shuffle(parts)
    return "<item>" + "".join(parts) + "</item>"


def _generated(rng: random.Random) -> tuple[bytes, dict[str, str]]:
    odd = rng.random() < 0.1
    fields = [rng.choice(CHANNEL_FIELDS) for _ in range(rng.randrange(1, 5))]
    if odd:
        fields.append(rng.choice(DECLINED_IN_CHANNELS))
    items = [_item(rng, odd and rng.random() < 0.5) for _ in range(rng.randrange(0, 4))]
    channel = fields[: len(fields) // 2] + items + fields[len(fields) // 2 :]
    declaration = rng.choice(DECLARATIONS) if rng.random() < 0.3 else DECLARATIONS[0]
    root = rng.choice(ROOTS) if rng.random() < 0.1 else ROOTS[0]
    text = f"{declaration}\n{root}<channel>{''.join(channel)}</channel></rss>"
    encoding = "windows-1251" if "windows-1251" in declaration else "utf-8"
    body = text.encode(encoding, errors="xmlcharrefreplace")
    if rng.random() < 0.05:
        body = b"\xef\xbb\xbf" + body
    headers = rng.choice(HEADERS) if rng.random() < 0.3 else {"content-type": RSS}
    return body, headers


# --- the tests ----------------------------------------------------------------------------


def test_generated_documents_parse_as_feedparser_parses_them() -> None:
    rng = random.Random(20261129)
    taken = sum(_same_or_declined(*_generated(rng)) for _ in range(1500))
    # the declines are the point of half the fragments; the rest must still be taken
    assert taken >= 500


@pytest.mark.parametrize(
    "path", sorted(DATA.rglob("*.xml")) + sorted(DEMO.glob("*")), ids=lambda path: path.name
)
@pytest.mark.parametrize(
    "content_type", [RSS, "application/rss+xml", "text/xml; charset=windows-1251"]
)
def test_the_test_data_and_demo_feeds_parse_as_feedparser_parses_them(
    path: Path, content_type: str
) -> None:
    _same_or_declined(path.read_bytes(), {"content-type": content_type})


@pytest.mark.parametrize("n", [0, 1, 5, 17, 42])
def test_the_farm_feeds_take_the_fast_path(n: int) -> None:
    body, content_type = render_feed(n, 0, FarmSpec())
    assert _same_or_declined(body, {"content-type": content_type})


def test_a_wordpress_style_item_takes_the_fast_path() -> None:
    item = (
        "<item><title>В Кузьминках отремонтируют поликлинику</title>"
        "<link>https://uv.example/news/1/?utm_source=rss&amp;utm_medium=feed</link>"
        "<comments>https://uv.example/news/1/#respond</comments>"
        "<dc:creator><![CDATA[Анна Смирнова]]></dc:creator>"
        "<pubDate>Mon, 20 Oct 2025 11:39:35 +0000</pubDate>"
        "<category><![CDATA[Здравоохранение]]></category>"
        '<guid isPermaLink="false">https://uv.example/?p=48211</guid>'
        "<description><![CDATA[<p>Ремонт завершат до конца года.</p>]]></description>"
        "<content:encoded><![CDATA[<p>Полный текст.</p>]]></content:encoded>"
        "<wfw:commentRss>https://uv.example/news/1/feed/</wfw:commentRss>"
        "<slash:comments>0</slash:comments></item>"
    )
    channel = (
        "<title>Юго-Восточный курьер</title>"
        '<atom:link href="https://uv.example/feed/" rel="self" type="application/rss+xml"/>'
        "<link>https://uv.example/</link><description>Новости</description>"
        "<lastBuildDate>Mon, 20 Oct 2025 11:39:35 +0000</lastBuildDate><language>ru-RU</language>"
        "<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>1</sy:updateFrequency>"
        f"<generator>https://wordpress.org/?v=6.6</generator>{item}"
    )
    assert _same_or_declined(_document(channel), {"content-type": RSS})
    feed = parse_feed(_document(channel), {"Content-Type": RSS}, "https://uv.example/feed/")
    assert feed.update_period == "hourly"
    assert feed.entries[0].author == "Анна Смирнова"
    assert feed.entries[0].categories == ("Здравоохранение",)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            _document("<title>x</title><item><pubDate>вчера</pubDate></item>"),
            "a date only feedparser reads",
        ),
        (_document("<title>x</title><title>y</title>"), "a repeated field"),
        (
            _document("<title>x</title><item><media:title>y</media:title></item>"),
            "an element it does not know",
        ),
        (
            _document("<title>x</title><item><title>a <b>b</b></title></item>"),
            "markup inside a text",
        ),
        (_document("<title>x</title>", root='<rss version="0.91">'), "not RSS 2.0"),
        (_document("<title>x &nbsp;</title>"), "an XML error"),
        (
            _document("<title>x</title>", root='<rss version="2.0" xml:base="https://a.example/">'),
            "xml:base",
        ),
        (
            b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>',
            "Atom",
        ),
    ],
)
def test_what_feedparser_alone_reads_is_declined(body: bytes, reason: str) -> None:
    assert parse_plain_rss(body, {"content-type": RSS}) is None, reason


def test_a_charset_that_does_not_decode_is_left_to_feedparser() -> None:
    body = _document("<title>Вестник</title>")
    assert parse_plain_rss(body, {"content-type": "text/xml"}) is None  # us-ascii by RFC 3023
    assert parse_plain_rss(body, {"content-type": "text/html"}) is None  # flagged as not XML
    assert parse_plain_rss(body.decode().encode("utf-16"), {"content-type": RSS}) is None


def test_a_failing_fast_path_leaves_the_feed_to_feedparser(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(content: bytes, headers: object) -> None:
        raise RuntimeError("a bug in the fast path")

    body, content_type = render_feed(3, 0, FarmSpec())
    expected = parse_feed(body, {"Content-Type": content_type}, "https://farm.example/3")
    monkeypatch.setattr(parse, "parse_plain_rss", broken)
    assert parse_feed(body, {"Content-Type": content_type}, "https://farm.example/3") == expected
    assert "feedparser reads it instead" in caplog.text


def test_c1_controls_map_as_feedparser_maps_them() -> None:
    assert {code: chr(mapped) for code, mapped in _CP1252.items()} == _cp1252
