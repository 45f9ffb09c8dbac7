"""HTML sources: the district-press preset and CSS selectors on fixture pages of the network."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.domain import HtmlSelectors, ParsedFeed, Source
from aggregator.errors import ParseError
from aggregator.extract import article_html
from aggregator.htmlsource import (
    feed_links,
    parse_html,
    parse_html_source,
    selector_problem,
    strip_boilerplate,
)

PAGES = Path(__file__).resolve().parents[1] / "data" / "html"
NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
TEASER_WORDS = ("Электробусы", "поликлинику", "Марфине", "Автобус № 650", "Читайте")


def page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def preset(name: str, url: str) -> ParsedFeed:
    return parse_html(page(name), {"content-type": "text/html"}, url, None, NOW)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def all_text(feed: ParsedFeed) -> str:
    return " ".join(f"{e.title} {e.summary_html} {e.content_html}" for e in feed.entries)


def test_preset_reads_an_okrug_list_page() -> None:
    feed = preset("uv-kurier-news.html", "https://uv-kurier.ru/news/")

    assert feed.title == "Новости — Юго-Восточный курьер"
    assert feed.version == "html"
    assert [(e.title, e.link, e.published) for e in feed.entries] == [
        (
            "В Кузьминках завершили капремонт шести домов",
            "https://uv-kurier.ru/news/2022/05/04/kapremont-v-kuzminkakh/",
            utc(2022, 5, 4, 12, 24),
        ),
        (
            "В парке «Кузьминки» открылся каток с искусственным льдом",
            "https://uv-kurier.ru/news/2023/12/06/katok-v-parke/",
            utc(2023, 12, 6, 13, 13),
        ),
        (
            "В Некрасовке построят школу на 1100 учеников",
            "https://uv-kurier.ru/news/2024/04/22/shkola-v-nekrasovke/",
            utc(2024, 4, 22, 6, 5),
        ),
    ]
    assert {e.author for e in feed.entries} == {"Юго-Восточный Курьер"}
    assert feed.entries[2].content_html.count("<p") == 2  # the lead and the next paragraph


def test_preset_never_takes_teasers_header_dates_or_meta_lines() -> None:
    for name in ("uv-kurier-news.html", "zbulvar-news.html", "maryino-article.html"):
        feed = preset(name, "https://example.ru/news/")
        text = all_text(feed)
        assert not any(word in text for word in TEASER_WORDS), name
        assert "Опубликовано" not in text and "административный округ" not in text, name
        # the header shows 28 November 2026: no item may carry it
        assert all(e.published is not None and e.published.year < 2026 for e in feed.entries)


def test_preset_reads_a_list_with_a_nested_see_also_heading_and_images() -> None:
    feed = preset("zbulvar-news.html", "https://zbulvar.ru/")

    assert [e.title for e in feed.entries] == [
        "В Бибиреве открыли детский сад на 250 мест",
        "В Лосином Острове проложили лыжню для жителей Бабушкинского",
    ]
    assert feed.entries[0].published == utc(2023, 5, 19, 8, 40)
    assert feed.entries[1].published == utc(2018, 2, 8, 16, 54)
    assert 'src="https://zbulvar.ru/img/sad-bibirevo.jpg"' in feed.entries[0].content_html


def test_preset_reads_an_article_page_as_one_item_at_the_page_url() -> None:
    feed = preset("maryino-article.html", "https://марьинскийвестник.рф/2022/05/04/skver/")

    (entry,) = feed.entries
    assert entry.title == "В Марьине открылся новый сквер у пруда"
    assert entry.link == "https://марьинскийвестник.рф/2022/05/04/skver/"
    assert entry.published == utc(2022, 5, 4, 12, 24)
    assert entry.author == "Марьинский вестник"
    assert "Люблинского пруда" in entry.content_html
    assert "воркаута" in entry.content_html
    for dropped in ("Фото: Анна Смирнова", "Текст: Ирина Кузнецова", "ВКонтакте"):
        assert dropped not in entry.content_html


def test_selectors_read_the_same_page() -> None:
    selectors = HtmlSelectors(
        item="article.news-card", title="h2", date=".meta", summary="p.lead", image="img"
    )
    feed = parse_html(page("uv-kurier-news.html"), {}, "https://uv-kurier.ru/news/", selectors, NOW)

    assert [e.published for e in feed.entries] == [
        utc(2022, 5, 4, 12, 24),
        utc(2023, 12, 6, 13, 13),
        utc(2024, 4, 22, 6, 5),
    ]
    assert feed.entries[0].link == "https://uv-kurier.ru/news/2022/05/04/kapremont-v-kuzminkakh/"
    assert feed.entries[1].summary_html.startswith('<p class="lead">Каток площадью')


def test_selectors_with_a_link_and_a_datetime_attribute() -> None:
    html = """<html><body><ul class="news">
      <li><time datetime="2024-04-19T10:00:00+03:00">вчера</time>
          <span class="t">Сквер у метро «Братиславская» открыт</span>
          <a class="more" href="/n/1">Подробнее</a></li>
      <li><span class="t">Без даты и без ссылки</span></li>
      <li><span class="t"></span></li>
    </ul></body></html>""".encode()
    selectors = HtmlSelectors(item="ul.news li", title=".t", link="a.more", date="time")
    feed = parse_html(html, {}, "https://maryino.test/news/", selectors, NOW)

    assert [(e.title, e.link, e.published) for e in feed.entries] == [
        (
            "Сквер у метро «Братиславская» открыт",
            "https://maryino.test/n/1",
            utc(2024, 4, 19, 7, 0),
        ),
        ("Без даты и без ссылки", None, None),
    ]


def test_a_page_without_items_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="no 'Опубликовано' line"):
        preset("bibirevo-home.html", "https://gazeta-bibirevo.test/")
    selectors = HtmlSelectors(item="article.none", title="h2")
    with pytest.raises(ParseError, match="no item matched"):
        parse_html(page("uv-kurier-news.html"), {}, "https://x.test/", selectors, NOW)


def test_source_settings_choose_the_reader() -> None:
    url = "https://uv-kurier.ru/news/"
    source = Source(url, "ЮВ курьер", "uvao", kind="html", preset="district-press")
    assert len(parse_html_source(page("uv-kurier-news.html"), {}, url, source, NOW).entries) == 3
    unknown = replace(source, preset="wordpress")
    with pytest.raises(ParseError, match="unknown preset"):
        parse_html_source(page("uv-kurier-news.html"), {}, url, unknown, NOW)


def test_windows_1251_page_by_header_or_meta() -> None:
    html = (
        '<html><head><meta charset="windows-1251"></head><body><article>'
        "<p>Опубликовано 12 Май 2023 в 08:00 | Текст: Вестник Кузьминок</p>"
        '<h2><a href="/a">Субботник в Кузьминках</a></h2><p>Жители убрали парк.</p>'
        "</article></body></html>"
    ).encode("cp1251")
    for headers in ({}, {"content-type": "text/html; charset=windows-1251"}):
        feed = parse_html(html, headers, "https://kuzminki.test/", None, NOW)
        assert [e.title for e in feed.entries] == ["Субботник в Кузьминках"]
        assert feed.entries[0].published == utc(2023, 5, 12, 5, 0)


def test_feed_links_are_absolute_and_typed() -> None:
    links = feed_links(page("bibirevo-home.html"), {}, "https://gazeta-bibirevo.test/news/")
    assert [(link.url, link.title) for link in links] == [
        ("https://gazeta-bibirevo.test/feed/", "Бибирево — RSS"),
        ("https://gazeta-bibirevo.test/comments/feed.atom", "Комментарии"),
    ]
    assert feed_links(page("uv-kurier-news.html"), {}, "https://uv-kurier.ru/") == []


@pytest.mark.parametrize(
    ("css", "valid"),
    [("article.news-card", True), ("div > h2 a[href]", True), ("div[[", False), ("a::", False)],
)
def test_selector_problem(css: str, valid: bool) -> None:
    assert (selector_problem(css) is None) is valid


def test_boilerplate_is_stripped_before_extraction() -> None:
    html = strip_boilerplate(page("maryino-article.html"), {})
    assert "Читайте также" not in html and "Автобус № 650" not in html
    assert "Фото:" not in html and "ВКонтакте" not in html and "Опубликовано" not in html
    assert "Люблинского пруда" in html


def test_article_body_is_extracted_without_teasers_or_credits() -> None:
    body = article_html(page("maryino-article.html"), {}, "https://марьинскийвестник.рф/skver/")
    assert body is not None
    assert body.startswith("<p>На берегу Люблинского пруда")
    assert body.count("<p>") == 3
    for dropped in ("Читайте", "Автобус", "Фото:", "Текст:", "ВКонтакте", "Сегодня"):
        assert dropped not in body
    assert article_html(b"<html><body></body></html>", {}, "https://x.test/") is None


def test_preset_reads_a_flat_list_without_item_wrappers() -> None:
    html = """<html><body><main>
      <div>Москва. Южный административный округ</div>
      <div>Опубликовано 3 июня, 2016 | Текст: Моё Нагорное</div>
      <h2><a href="/n/1">В Нагорном открыли новую библиотеку</a></h2>
      <p>Библиотека работает без выходных.</p>
      <div>Москва. Южный административный округ</div>
      <div>Опубликовано 22 дек. 2023 г. | Текст: Моё Нагорное</div>
      <h2><a href="/n/2">На Варшавском шоссе заменят светофоры</a></h2>
      <p>Работы пройдут ночью.</p><p>Движение не перекроют.</p>
      <h3>Читайте также</h3>
      <p><a href="/n/0">Старая новость про каток</a></p>
    </main></body></html>""".encode()
    feed = parse_html(html, {}, "https://nagorny.test/", None, NOW)

    assert [(e.title, e.link, e.published) for e in feed.entries] == [
        ("В Нагорном открыли новую библиотеку", "https://nagorny.test/n/1", utc(2016, 6, 2, 21, 0)),
        (
            "На Варшавском шоссе заменят светофоры",
            "https://nagorny.test/n/2",
            utc(2023, 12, 21, 21, 0),
        ),
    ]
    assert feed.entries[0].content_html == "<p>Библиотека работает без выходных.</p>"
    assert (
        feed.entries[1].content_html == "<p>Работы пройдут ночью.</p><p>Движение не перекроют.</p>"
    )
