"""Table tests for aggregator.dates: RFC 822, ISO 8601 and the Russian page formats."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from aggregator.dates import feedparser_date_handler, parse_date, search_date

NOW = datetime(2025, 10, 20, 9, 0, tzinfo=UTC)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


CASES: list[tuple[str, datetime | None]] = [
    # RFC 822 as feeds write it, with and without zones
    ("Mon, 30 Dec 2019 11:39:35 +0300", utc(2019, 12, 30, 8, 39, 35)),
    ("Mon, 30 Dec 2019 11:39:35 GMT", utc(2019, 12, 30, 11, 39, 35)),
    ("Mon, 30 Dec 2019 11:39:35 UT", utc(2019, 12, 30, 11, 39, 35)),
    ("Mon, 30 Dec 2019 11:39:35 Z", utc(2019, 12, 30, 11, 39, 35)),
    ("Mon, 30 Dec 2019 11:39:35 -0500", utc(2019, 12, 30, 16, 39, 35)),
    ("Wed, 02 Oct 2002 08:00:00 EST", utc(2002, 10, 2, 13, 0)),
    ("Mon, 30 Dec 2019 11:39:35 MSK", utc(2019, 12, 30, 8, 39, 35)),
    # sloppy RFC 822: no zone (Moscow), no seconds, no weekday, colon in zone, full month
    ("Mon, 30 Dec 2019 11:39:35", utc(2019, 12, 30, 8, 39, 35)),
    ("Mon, 30 Dec 2019 11:39 +0300", utc(2019, 12, 30, 8, 39)),
    ("30 Dec 2019 11:39:35 +0300", utc(2019, 12, 30, 8, 39, 35)),
    ("Mon, 30 Dec 2019 11:39:35 +03:00", utc(2019, 12, 30, 8, 39, 35)),
    ("Monday, 30 December 2019 11:39:35 +0300", utc(2019, 12, 30, 8, 39, 35)),
    ("Mon,30 Dec 2019 11:39:35 +0300", utc(2019, 12, 30, 8, 39, 35)),
    ("Mon, 3 Feb 2020 09:05:00 +0300", utc(2020, 2, 3, 6, 5)),
    ("Tue, 30 Dec 19 11:39:35 GMT", utc(2019, 12, 30, 11, 39, 35)),
    ("mon, 30 dec 2019 11:39:35 gmt", utc(2019, 12, 30, 11, 39, 35)),
    ("Mon, 30 Dec 2019 11:39:35 +0000 (UTC)", utc(2019, 12, 30, 11, 39, 35)),
    ("Mon Dec 30 2019 11:39:35 GMT+0300 (Moscow Standard Time)", utc(2019, 12, 30, 8, 39, 35)),
    ("Sept 3, 2024 10:00 +0300", utc(2024, 9, 3, 7, 0)),
    ("  Mon,  30 Dec 2019   11:39:35 +0300 ", utc(2019, 12, 30, 8, 39, 35)),
    ("30 Dec 2019", utc(2019, 12, 29, 21, 0)),
    # ISO 8601 / W3C-DTF
    ("2024-04-19T10:00:00+03:00", utc(2024, 4, 19, 7, 0)),
    ("2024-04-19T10:00:00Z", utc(2024, 4, 19, 10, 0)),
    ("2024-04-19T10:00:00.123456Z", utc(2024, 4, 19, 10, 0)),
    ("2024-04-19T10:00:00+0300", utc(2024, 4, 19, 7, 0)),
    ("2024-04-19T10:00+03", utc(2024, 4, 19, 7, 0)),
    ("2024-04-19 10:00:00", utc(2024, 4, 19, 7, 0)),
    ("2024-04-19", utc(2024, 4, 18, 21, 0)),
    ("2024-04", utc(2024, 3, 31, 21, 0)),
    ("2024-04-19t10:00:00-04:00", utc(2024, 4, 19, 14, 0)),
    # Russian page formats (Moscow time)
    ("06 Июл 2022 в 15:29", utc(2022, 7, 6, 12, 29)),
    ("16 октября 2025, 13:33", utc(2025, 10, 16, 10, 33)),
    ("06 Дек 2023 в 16:13", utc(2023, 12, 6, 13, 13)),
    ("22 Апр 2024 в 15:31", utc(2024, 4, 22, 12, 31)),
    ("04 мая 2022 в 15:24", utc(2022, 5, 4, 12, 24)),
    ("3 июня, 2016", utc(2016, 6, 2, 21, 0)),
    ("8 декабря, 2025", utc(2025, 12, 7, 21, 0)),
    ("08 Фев 2018 19:54", utc(2018, 2, 8, 16, 54)),
    ("29 марта 2024 г 11:54", utc(2024, 3, 29, 8, 54)),
    ("22 дек. 2023 г.", utc(2023, 12, 21, 21, 0)),
    ("13/12/2016", utc(2016, 12, 12, 21, 0)),
    ("19.04.2024", utc(2024, 4, 18, 21, 0)),
    ("19.04.2024 10:30", utc(2024, 4, 19, 7, 30)),
    ("06 ИЮЛ 2022 В 15:29", utc(2022, 7, 6, 12, 29)),
    ("1 январь 2024", utc(2023, 12, 31, 21, 0)),
    ("15 сент. 2024 г. в 09:00", utc(2024, 9, 15, 6, 0)),
    ("15 Сен 2024 | 09:00", utc(2024, 9, 15, 6, 0)),
    ("7 ноября 2024 года", utc(2024, 11, 6, 21, 0)),
    ("7\xa0ноября\xa02024", utc(2024, 11, 6, 21, 0)),
    ("12 Май 2023 в 08:00", utc(2023, 5, 12, 5, 0)),
    ("01 мар 2012 в 12:00", utc(2012, 3, 1, 8, 0)),  # Moscow was UTC+4 in 2011-2014
    # the network's three-letter months, every month of the year
    ("15 Янв 2024 в 10:00", utc(2024, 1, 15, 7, 0)),
    ("15 Мар 2024 в 10:00", utc(2024, 3, 15, 7, 0)),
    ("15 Июн 2024 в 10:00", utc(2024, 6, 15, 7, 0)),
    ("15 Авг 2024 в 10:00", utc(2024, 8, 15, 7, 0)),
    ("15 Сен 2024 в 10:00", utc(2024, 9, 15, 7, 0)),
    ("16 Окт 2025 в 13:33", utc(2025, 10, 16, 10, 33)),
    ("15 Ноя 2024 в 10:00", utc(2024, 11, 15, 7, 0)),
    ("31 Дек 2023 в 23:59", utc(2023, 12, 31, 20, 59)),  # a UTC date one day earlier
    ("01 Янв 2024 в 00:10", utc(2023, 12, 31, 21, 10)),  # and a year earlier
    # May written in full, genitive, in every case
    ("1 мая 2021 в 09:00", utc(2021, 5, 1, 6, 0)),
    ("31 МАЯ 2024 в 18:45", utc(2024, 5, 31, 15, 45)),
    ("09 Мая 2022 в 10:00", utc(2022, 5, 9, 7, 0)),
    # genitive months with a comma before the year, and the odd spellings
    ("12 февраля, 2019", utc(2019, 2, 11, 21, 0)),
    ("1 сентября, 2023", utc(2023, 8, 31, 21, 0)),
    ("8 августа, 2017 в 14:20", utc(2017, 8, 8, 11, 20)),
    ("3 июля 2020 г. 18:05", utc(2020, 7, 3, 15, 5)),
    ("10 апр. 2024 г.", utc(2024, 4, 9, 21, 0)),
    ("01/06/2020", utc(2020, 5, 31, 21, 0)),
    ("01.01.2024", utc(2023, 12, 31, 21, 0)),
    ("29.02.2024", utc(2024, 2, 28, 21, 0)),  # a leap day
    ("29.02.2023", None),
    ("32 мая 2022 в 10:00", None),
    ("04 мая 2022 в 15:60", None),
    # invalid or unknown
    ("31 Feb 2024 10:00:00 +0300", None),
    ("31 февраля 2024", None),
    ("30/02/2024", None),
    ("2024-13-01", None),
    ("2024-02-30T10:00:00Z", None),
    ("06 Июл 2022 в 25:29", None),
    ("Mon, 30 Dec 2019 11:39:35 XYZ", None),
    ("06 Мяу 2022 в 15:29", None),
    ("вчера", None),
    ("", None),
    ("   ", None),
    ("сегодня в 10:00", None),
    ("30 сентября, 10:00", None),  # no year and no `now`
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_parse_date(text: str, expected: datetime | None) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        ("30 сентября, 10:00", NOW, utc(2025, 9, 30, 7, 0)),
        ("20 октября, 11:00", NOW, utc(2025, 10, 20, 8, 0)),
        ("22 октября, 10:00", NOW, utc(2025, 10, 22, 7, 0)),  # under two days ahead
        ("23 октября, 12:00", NOW, utc(2024, 10, 23, 9, 0)),  # too far ahead: last year
        ("31 декабря, 23:00", utc(2026, 1, 1, 6, 0), utc(2025, 12, 31, 20, 0)),
        ("1 января, 00:30", utc(2025, 12, 31, 22, 0), utc(2025, 12, 31, 21, 30)),  # Moscow year
        ("30 сентября", NOW, utc(2025, 9, 29, 21, 0)),
        ("29 февраля, 10:00", utc(2025, 3, 1, 0, 0), None),  # 2025 is not a leap year
        ("06 Июл 2022 в 15:29", NOW, utc(2022, 7, 6, 12, 29)),  # `now` ignored with a year
    ],
)
def test_parse_date_without_year(text: str, now: datetime, expected: datetime | None) -> None:
    assert parse_date(text, now=now) == expected


def test_results_are_aware_utc() -> None:
    parsed = parse_date("06 Июл 2022 в 15:29")
    assert parsed is not None
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("06 Июл 2022 в 15:29", (2022, 7, 6, 12, 29, 0)),
        ("Mon, 30 Dec 2019 11:39:35 +0300", (2019, 12, 30, 8, 39, 35)),
        ("не дата", None),
    ],
)
def test_feedparser_date_handler(text: str, expected: tuple[int, ...] | None) -> None:
    result = feedparser_date_handler(text)
    if expected is None:
        assert result is None
    else:
        assert isinstance(result, time.struct_time)
        assert tuple(result)[:6] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Опубликовано 04 мая 2022 в 15:24 | Текст: Юго-Восточный Курьер", utc(2022, 5, 4, 12, 24)),
        ("Опубликовано: 06 Дек 2023 в 16:13", utc(2023, 12, 6, 13, 13)),
        ("обновлено 19.04.2024 10:30", utc(2024, 4, 19, 7, 30)),
        ("Дата: 3 июня, 2016", utc(2016, 6, 2, 21, 0)),
        ("в 30 сентября, 10:00 начнётся", utc(2025, 9, 30, 7, 0)),  # year from `now`
        ("31 февраля 2024, а потом 1 марта 2024", utc(2024, 2, 29, 21, 0)),  # the first valid
        ("Фото: Анна Смирнова", None),
        ("", None),
    ],
)
def test_search_date_finds_a_date_inside_text(text: str, expected: datetime | None) -> None:
    assert search_date(text, now=NOW) == expected
