"""Table tests for aggregator.normalize: sanitizing, plain text, canonical URLs, entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import nh3
import pytest

from aggregator.domain import Entry, ParsedEntry, ParsedFeed
from aggregator.normalize import (
    _NH3_OPTIONS,
    canonical_url,
    normalize_entries,
    plain_text,
    sanitize_html,
)
from aggregator.parse import parse_feed

BASE = "https://uv-kurier.ru/news/2025/10/remont.html"
NOW = datetime(2025, 10, 20, 9, 0, tzinfo=UTC)
REL = 'rel="noopener noreferrer"'

# --- sanitize_html ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>Ремонт <b>подъездов</b></p>", "<p>Ремонт <b>подъездов</b></p>"),
        ("<script>alert(1)</script><p>Текст</p>", "<p>Текст</p>"),
        ("<SCRIPT SRC=//evil.example/x.js></SCRIPT>Текст", "Текст"),
        (
            '<img src="a.jpg" onerror="alert(1)">',
            '<img src="https://uv-kurier.ru/news/2025/10/a.jpg">',
        ),
        ('<p onclick="steal()" onmouseover=x>Клик</p>', "<p>Клик</p>"),
        ('<a href="javascript:alert(1)">ссылка</a>', f"<a {REL}>ссылка</a>"),
        ('<a href="JaVaScRiPt:alert(1)">ссылка</a>', f"<a {REL}>ссылка</a>"),
        ('<a href="jav&#x09;ascript:alert(1)">ссылка</a>', f"<a {REL}>ссылка</a>"),
        ('<a href="jav&#x0A;ascript:alert(1)">ссылка</a>', f"<a {REL}>ссылка</a>"),
        ('<a href="&#106;avascript:alert(1)">ссылка</a>', f"<a {REL}>ссылка</a>"),
        ('<a href=" javascript:alert(1)">ссылка</a>', f"<a {REL}>ссылка</a>"),
        ('<a href="vbscript:msgbox(1)">ссылка</a>', f"<a {REL}>ссылка</a>"),
        (
            '<form action="javascript:alert(1)"><input name="q"><button>Найти</button></form>Ок',
            "Ок",
        ),
        ('<svg><a xlink:href="javascript:alert(1)"><text>svg</text></a></svg>Ок', "Ок"),
        ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', "<img>"),
        ('<a href="data:text/html,<script>alert(1)</script>">d</a>', f"<a {REL}>d</a>"),
        ('<iframe src="https://video.example/embed/1"></iframe>После', "После"),
        ('<object data="x.swf"></object><embed src="x.swf">Ок', "Ок"),
        ("<style>p{color:red}</style><p style='color:red'>Стиль</p>", "<p>Стиль</p>"),
        ('<p class="lead" id="x">Лид</p>', "<p>Лид</p>"),
        ("<!-- комментарий --><p>Текст</p>", "<p>Текст</p>"),
        (
            '<a href="/news/1">Новость</a>',
            f'<a href="https://uv-kurier.ru/news/1" {REL}>Новость</a>',
        ),
        (
            '<a href="other.html">Далее</a>',
            f'<a href="https://uv-kurier.ru/news/2025/10/other.html" {REL}>Далее</a>',
        ),
        (
            '<img src="//cdn.uv-kurier.ru/a.jpg" alt="Фото">',
            '<img src="https://cdn.uv-kurier.ru/a.jpg" alt="Фото">',
        ),
        (
            '<a href="https://mos.ru/" rel="opener" target="_blank">mos.ru</a>',
            f'<a href="https://mos.ru/" {REL}>mos.ru</a>',
        ),
        (
            '<a href="mailto:redakciya@uv-kurier.ru">почта</a>',
            f'<a href="mailto:redakciya@uv-kurier.ru" {REL}>почта</a>',
        ),
        ('<a href="ftp://files.example/x">ftp</a>', f"<a {REL}>ftp</a>"),
        (
            "<table><tr><td colspan=2>ячейка</td></tr></table>",
            '<table><tbody><tr><td colspan="2">ячейка</td></tr></tbody></table>',
        ),
        ("<blink>мигает</blink>", "мигает"),
        ('<a href="java&#0000115;cript:alert(1)">x</a>', f"<a {REL}>x</a>"),
        ('<a href="javascript&colon;alert(1)">x</a>', f"<a {REL}>x</a>"),
        ('<img src="javascript:alert(1)">', "<img>"),
        ('<base href="https://evil.example/"><meta http-equiv="refresh" content="0">Ок', "Ок"),
        ('<link rel="stylesheet" href="https://evil.example/x.css">Ок', "Ок"),
        ("<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", ""),
        (
            '<a href="https://mos.ru/" onclick="x()" target="_blank">mos</a>',
            f'<a href="https://mos.ru/" {REL}>mos</a>',
        ),
        ('<video src="https://v.example/a.mp4" autoplay></video>Видео', "Видео"),
        ("<p>незакрытый <b>тег", "<p>незакрытый <b>тег</b></p>"),
        ("   ", ""),
        ("", ""),
    ],
)
def test_sanitize_html(html: str, expected: str) -> None:
    assert sanitize_html(html, BASE) == expected


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (None, f'<a href="/news/1" {REL}>x</a>'),
        ("not a url", f'<a href="/news/1" {REL}>x</a>'),
        ("https://zbulvar.ru/", f'<a href="https://zbulvar.ru/news/1" {REL}>x</a>'),
    ],
)
def test_sanitize_html_base(base: str | None, expected: str) -> None:
    assert sanitize_html('<a href="/news/1">x</a>', base) == expected


# --- plain_text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "limit", "expected"),
    [
        ("<p>Привет,&nbsp;мир</p>", 500, "Привет, мир"),
        ("<p>Первый</p><p>Второй</p>", 500, "Первый Второй"),
        ("строка<br>строка", 500, "строка строка"),
        ("&laquo;Жилищник&raquo; &amp; управа", 500, "«Жилищник» & управа"),
        ("  много   \n\t пробелов  ", 500, "много пробелов"),
        ("<script>alert(1)</script>Текст<style>p{}</style>", 500, "Текст"),
        ("без\u200bширины", 500, "безширины"),
        ("Цена &lt; 100 рублей", 500, "Цена < 100 рублей"),
        ("<b>жир</b>ный", 500, "жирный"),
        ("один два три четыре", 12, "один два…"),
        ("один два три четыре", 13, "один два три…"),
        ("один два три", 12, "один два три"),
        ("оченьдлинноеслово", 8, "оченьдл…"),
        ("Конец фразы, и дальше", 13, "Конец фразы…"),
        ("", 10, ""),
    ],
)
def test_plain_text(html: str, limit: int, expected: str) -> None:
    result = plain_text(html, limit)
    assert result == expected
    assert len(result) <= limit


# --- canonical_url ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("https://uv-kurier.ru/news/1", None, "https://uv-kurier.ru/news/1"),
        ("HTTPS://UV-Kurier.RU/News/1", None, "https://uv-kurier.ru/News/1"),
        ("https://uv-kurier.ru", None, "https://uv-kurier.ru/"),
        ("https://uv-kurier.ru:443/a", None, "https://uv-kurier.ru/a"),
        ("http://uv-kurier.ru:80/a", None, "http://uv-kurier.ru/a"),
        ("http://uv-kurier.ru:8080/a", None, "http://uv-kurier.ru:8080/a"),
        ("https://uv-kurier.ru/a#comments", None, "https://uv-kurier.ru/a"),
        ("https://uv-kurier.ru/a?utm_source=rss&utm_medium=feed", None, "https://uv-kurier.ru/a"),
        (
            "https://uv-kurier.ru/a?id=7&utm_campaign=x&page=2",
            None,
            "https://uv-kurier.ru/a?id=7&page=2",
        ),
        ("https://uv-kurier.ru/a?UTM_Source=x&id=7", None, "https://uv-kurier.ru/a?id=7"),
        (
            "https://uv-kurier.ru/a?yclid=1&fbclid=2&gclid=3&_openstat=4",
            None,
            "https://uv-kurier.ru/a",
        ),
        ("https://uv-kurier.ru/a?from=rss", None, "https://uv-kurier.ru/a"),
        ("https://uv-kurier.ru/a?from=2&to=5", None, "https://uv-kurier.ru/a?from=2&to=5"),
        ("https://uv-kurier.ru/a?b=2&a=1", None, "https://uv-kurier.ru/a?b=2&a=1"),
        (
            "https://uv-kurier.ru/a?q=%D0%BC%D0%B5%D1%82%D1%80%D0%BE",
            None,
            "https://uv-kurier.ru/a?q=%D0%BC%D0%B5%D1%82%D1%80%D0%BE",
        ),
        ("https://uv-kurier.ru/a?&&id=1&", None, "https://uv-kurier.ru/a?id=1"),
        ("https://xn--80aejkacegflnf5aqfq4n.xn--p1ai/", None, "https://марьинскийвестник.рф/"),
        ("https://МАРЬИНСКИЙВЕСТНИК.РФ/", None, "https://марьинскийвестник.рф/"),
        ("https://марьинскийвестник.рф./", None, "https://марьинскийвестник.рф/"),
        ("https://новости.москва/a", None, "https://новости.москва/a"),
        ("https://xn--b1amnebsh.xn--80adxhks/a", None, "https://новости.москва/a"),
        (
            "https://uv-kurier.ru/новости/1",
            None,
            "https://uv-kurier.ru/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8/1",
        ),
        (
            "https://uv-kurier.ru/%d0%bd%d0%be%d0%b2%d0%be%d1%81%d1%82%d0%b8/1",
            None,
            "https://uv-kurier.ru/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8/1",
        ),
        ("https://user:secret@uv-kurier.ru/a", None, "https://uv-kurier.ru/a"),
        (
            "https://uv-kurier.ru/search?q=метро",
            None,
            "https://uv-kurier.ru/search?q=%D0%BC%D0%B5%D1%82%D1%80%D0%BE",
        ),
        ("https://uv-kurier.ru/a?q=%d0%bc", None, "https://uv-kurier.ru/a?q=%D0%BC"),
        ("https://uv-kurier.ru/a?q=a+b&r=c%20d", None, "https://uv-kurier.ru/a?q=a+b&r=c%20d"),
        ("http://[::1]:8080/a", None, "http://[::1]:8080/a"),
        ("https://uv kurier.ru/a", None, None),
        ("https://uv-kurier.ru<script>/a", None, None),
        ("  https://uv-kurier.ru/a \n", None, "https://uv-kurier.ru/a"),
        ("/news/2", BASE, "https://uv-kurier.ru/news/2"),
        ("remont-2.html", BASE, "https://uv-kurier.ru/news/2025/10/remont-2.html"),
        ("//zbulvar.ru/x", BASE, "https://zbulvar.ru/x"),
        ("?p=15", "https://zbulvar.ru/feed/", "https://zbulvar.ru/feed/?p=15"),
        ("https://mos.ru/x", BASE, "https://mos.ru/x"),
        ("javascript:alert(1)", None, None),
        ("javascript:alert(1)", BASE, None),
        ("mailto:a@uv-kurier.ru", None, None),
        ("ftp://uv-kurier.ru/a", None, None),
        ("data:text/html,hi", None, None),
        ("/relative/without/base", None, None),
        ("https://", None, None),
        ("https://uv-kurier.ru:99999/", None, None),
        ("https://xn--zz/", None, None),
        ("", None, None),
        ("   ", None, None),
        (None, BASE, None),
    ],
)
def test_canonical_url(url: str | None, base: str | None, expected: str | None) -> None:
    assert canonical_url(url, base) == expected


def test_canonical_url_is_idempotent() -> None:
    once = canonical_url("https://XN--80AEJKACEGFLNF5AQFQ4N.xn--p1ai:443/Новости?utm_x=1&a=1#f")
    assert once is not None
    assert canonical_url(once) == once


# --- normalize_entries -----------------------------------------------------------------------

FEED_URL = "https://uv-kurier.ru/feed/"


def parsed(**fields: object) -> ParsedEntry:
    values: dict[str, object] = {
        "guid": "https://uv-kurier.ru/?p=1",
        "link": "https://uv-kurier.ru/news/1?utm_source=rss",
        "title": "В Кузьминках отремонтируют поликлинику",
        "summary_html": "<p>Работы завершат до конца года.</p>",
        "content_html": "<p>Работы завершат до конца года.</p><script>x()</script>",
        "published": datetime(2025, 10, 19, 12, 0, tzinfo=UTC),
        "updated": None,
    }
    values.update(fields)
    return ParsedEntry(**values)  # type: ignore[arg-type]


def normalize(*entries: ParsedEntry) -> list[Entry]:
    feed = ParsedFeed(
        title="Юго-Восточный курьер", link="https://uv-kurier.ru/", version="rss20", entries=entries
    )
    return normalize_entries(feed, FEED_URL, NOW)


def test_normalize_basic_entry() -> None:
    [entry] = normalize(
        parsed(author="  Анна  Смирнова ", categories=("ЖКХ", " ЖКХ ", "", "<b>Здоровье</b>"))
    )
    assert entry.key == "v1:guid:https://uv-kurier.ru/?p=1"
    assert entry.link == "https://uv-kurier.ru/news/1"
    assert entry.content_html == "<p>Работы завершат до конца года.</p>"
    assert entry.summary == "Работы завершат до конца года."
    assert entry.published == entry.updated == datetime(2025, 10, 19, 12, 0, tzinfo=UTC)
    assert entry.author == "Анна Смирнова"
    assert entry.categories == ("ЖКХ", "Здоровье")
    assert entry.fingerprint.startswith("v1:")
    assert entry.content_hash.startswith("v1:")


@pytest.mark.parametrize(
    ("published", "updated", "expected_published", "expected_updated"),
    [
        (None, None, NOW, NOW),
        (None, NOW - timedelta(hours=1), NOW - timedelta(hours=1), NOW - timedelta(hours=1)),
        (
            NOW - timedelta(hours=2),
            NOW - timedelta(hours=1),
            NOW - timedelta(hours=2),
            NOW - timedelta(hours=1),
        ),
        (NOW + timedelta(minutes=9), None, NOW + timedelta(minutes=9), NOW + timedelta(minutes=9)),
        (NOW + timedelta(minutes=11), None, NOW, NOW),
        (NOW + timedelta(days=300), None, NOW, NOW),
        (NOW - timedelta(hours=1), NOW + timedelta(days=1), NOW - timedelta(hours=1), NOW),
        (
            NOW - timedelta(hours=1),
            NOW - timedelta(hours=3),
            NOW - timedelta(hours=1),
            NOW - timedelta(hours=1),
        ),
    ],
)
def test_normalize_dates(
    published: datetime | None,
    updated: datetime | None,
    expected_published: datetime,
    expected_updated: datetime,
) -> None:
    [entry] = normalize(parsed(published=published, updated=updated))
    assert (entry.published, entry.updated) == (expected_published, expected_updated)


@pytest.mark.parametrize(
    ("fields", "expected_title"),
    [
        (
            {"title": "  В Кузьминках\n\tотремонтируют  поликлинику "},
            "В Кузьминках отремонтируют поликлинику",
        ),
        ({"title": "Открыт &laquo;Жилищник&raquo;"}, "Открыт «Жилищник»"),
        ({"title": "<b>Жирный</b> заголовок"}, "Жирный заголовок"),
        ({"title": "<script>alert(1)</script>Заголовок"}, "Заголовок"),
        ({"title": "Ёлка в «Зарядье»\u200b"}, "Ёлка в «Зарядье»"),
        (
            {"title": "", "content_html": "<p>Короткий текст без заголовка.</p>"},
            "Короткий текст без заголовка.",
        ),
        (
            {
                "title": "",
                "content_html": "<p>"
                + "Жители района обсудили благоустройство сквера " * 3
                + "</p>",
            },
            "Жители района обсудили благоустройство сквера Жители района обсудили…",
        ),
    ],
)
def test_normalize_titles(fields: dict[str, object], expected_title: str) -> None:
    [entry] = normalize(parsed(**fields))
    assert entry.title == expected_title


@pytest.mark.parametrize(
    ("fields", "kept"),
    [
        ({"title": "", "link": None, "summary_html": "", "content_html": ""}, False),
        (
            {
                "title": "  ",
                "link": "javascript:alert(1)",
                "summary_html": "",
                "content_html": "<script>x</script>",
            },
            False,
        ),
        (
            {
                "title": "",
                "link": "https://uv-kurier.ru/news/2",
                "summary_html": "",
                "content_html": "",
            },
            True,
        ),
        ({"title": "Только заголовок", "link": None, "summary_html": "", "content_html": ""}, True),
        ({"title": "", "link": None, "summary_html": "Только текст", "content_html": ""}, True),
    ],
)
def test_normalize_drops_empty_entries(fields: dict[str, object], kept: bool) -> None:
    assert len(normalize(parsed(**fields))) == (1 if kept else 0)


def test_normalize_keys_and_duplicates() -> None:
    entries = normalize(
        parsed(guid="a", title="Первая"),
        parsed(guid="a", title="Повтор той же записи"),
        parsed(guid=None, link="https://uv-kurier.ru/news/2#top", title="Вторая"),
        parsed(
            guid="  ", link="https://uv-kurier.ru/news/2?utm_medium=rss", title="Повтор по ссылке"
        ),
        parsed(guid=None, link=None, title="Третья"),
        parsed(guid=None, link=None, title="Третья"),
    )
    assert [e.title for e in entries] == ["Первая", "Вторая", "Третья"]
    assert [e.key.split(":")[1] for e in entries] == ["guid", "link", "hash"]
    assert entries[1].guid is None


def test_normalize_resolves_relative_links() -> None:
    [entry] = normalize(
        parsed(link="/news/5", content_html='<a href="foto.html">Фото</a><img src="/i/1.jpg">')
    )
    assert entry.link == "https://uv-kurier.ru/news/5"
    assert 'href="https://uv-kurier.ru/news/foto.html"' in entry.content_html
    assert 'src="https://uv-kurier.ru/i/1.jpg"' in entry.content_html


def test_normalize_content_falls_back_to_summary() -> None:
    [entry] = normalize(parsed(content_html="", summary_html="<p>Кратко &amp; ясно</p>"))
    assert entry.content_html == "<p>Кратко &amp; ясно</p>"
    assert entry.summary == "Кратко & ясно"


def test_normalize_summary_is_cut() -> None:
    [entry] = normalize(parsed(summary_html="<p>" + "слово " * 200 + "</p>"))
    assert len(entry.summary) <= 500
    assert entry.summary.endswith("…")


def test_golden_rss_feed_end_to_end() -> None:
    path = Path(__file__).resolve().parent.parent / "data" / "feeds" / "rss20.xml"
    feed = parse_feed(path.read_bytes(), {}, FEED_URL)
    entries = normalize_entries(feed, FEED_URL, NOW)
    assert [e.link for e in entries] == [
        "https://uv-kurier.ru/news/2025/10/poliklinika-109/",
        "https://uv-kurier.ru/news/2025/10/parkovka/",
        "https://uv-kurier.ru/news/2025/10/skver/",
        "https://uv-kurier.ru/news/2025/10/yarmarka/",
        "https://uv-kurier.ru/news/2025/10/turnir/",
    ]
    first, second = entries[0], entries[1]
    assert "<script>" not in first.content_html
    assert 'src="https://uv-kurier.ru/wp-content/uploads/2025/10/poliklinika.jpg"' in (
        first.content_html
    )
    assert second.title.startswith("Цены на парковку < 100 рублей")
    assert entries[2].published == datetime(2025, 10, 18, 6, 15, tzinfo=UTC)
    assert entries[4].published == NOW  # "вчера" is no date: first seen


# Plain text skips nh3 (`normalize._sanitize`): it must come out exactly as nh3 would give it.
_AS_NH3_GIVES_IT = [
    "Жители Кузьминок выбрали проект парка",
    "  В ЮВАО открыли «Мой спорт» — бассейн на 25 м\n\tс 1 декабря  ",
    "Цена: 100 руб./час; телефон +7 (495) 123-45-67, сайт mos.ru, \"кавычки\" и 'апострофы'",
    "невидимые\u200bсимволы\u00adи😀эмодзи\u2028строки",
    "Запрещено: a > b",
    "Ремонт & благоустройство",
    "строка\r\nс CR",
    "нулевой\x00символ",
    "неразрывный\xa0пробел",
    "\ufeffметка порядка байтов",
    "тег <b>жирный</b> и <script>alert(1)</script>",
]


@pytest.mark.parametrize("text", _AS_NH3_GIVES_IT)
def test_sanitizing_plain_text_gives_what_nh3_gives(text: str) -> None:
    base = "https://kuzminki.mos.ru/news/"
    expected = str(
        nh3.clean(text, url_relative=("rewrite_with_base", base), **_NH3_OPTIONS)
    ).strip()
    assert sanitize_html(text, base) == expected
