"""Dates seen in feeds and on Russian news pages, parsed to timezone-aware UTC datetimes.

Handles RFC 822 (with common sloppy variants), ISO 8601 / W3C-DTF and the Russian formats of
the okrug and district press. A date without a zone is Moscow time; nothing here reads the clock.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["MOSCOW", "feedparser_date_handler", "parse_date", "search_date"]

MOSCOW = ZoneInfo("Europe/Moscow")

_FUTURE_SLACK = timedelta(days=2)
"""How far in the future a year-less date may fall before it is taken as last year's."""

_RU_MONTHS: tuple[tuple[str, ...], ...] = (
    ("январь", "января"),
    ("февраль", "февраля"),
    ("март", "марта"),
    ("апрель", "апреля"),
    ("май", "мая"),
    ("июнь", "июня"),
    ("июль", "июля"),
    ("август", "августа"),
    ("сентябрь", "сентября"),
    ("октябрь", "октября"),
    ("ноябрь", "ноября"),
    ("декабрь", "декабря"),
)

_EN_MONTHS: tuple[tuple[str, ...], ...] = tuple(
    (name,)
    for name in (
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    )
)


def _month_prefixes(months: tuple[tuple[str, ...], ...]) -> dict[str, int]:
    """Every prefix of every form of each month to its number (1-12); the earlier month wins a
    shared prefix. The patterns admit full names and prefixes of at least three letters."""
    found: dict[str, int] = {}
    for number, forms in enumerate(months, start=1):
        for name in forms:
            for end in range(len(name) + 1):
                found.setdefault(name[:end], number)
    return found


_RU_MONTH_NUMBERS = _month_prefixes(_RU_MONTHS)
_EN_MONTH_NUMBERS = _month_prefixes(_EN_MONTHS)

_ZONE_NAMES: dict[str, int] = {
    "ut": 0,
    "utc": 0,
    "gmt": 0,
    "z": 0,
    "est": -5 * 60,
    "edt": -4 * 60,
    "cst": -6 * 60,
    "cdt": -5 * 60,
    "mst": -7 * 60,
    "mdt": -6 * 60,
    "pst": -8 * 60,
    "pdt": -7 * 60,
    "msk": 3 * 60,
    "msd": 4 * 60,
}

_TIME = r"(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,]\d+)?)?"

_ISO_RE = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:[t\s]+(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,]\d+)?)?"
    r"\s*(?P<zone>z|[+-]\d{2}(?::?\d{2})?)?)?)?",
)

_WEEKDAY = r"(?:[a-z]{2,9}\.?,?\s*)?"  # sometimes misspelt or without the comma
_TIME_ZONE = (
    rf"(?:\s+(?:at\s+)?{_TIME})?"
    r"(?:\s*(?P<zone>[+-]\d{2}:?\d{2}|[a-z]{1,4}(?:[+-]\d{2}:?\d{2})?))?"
    r"(?:\s*\([^)]*\))?"  # a trailing comment such as "(MSK)" or "(Moscow Standard Time)"
)

_RFC822_RE = re.compile(
    _WEEKDAY
    + r"(?P<day>\d{1,2})[\s-]+(?P<month>[a-z]{3,9})\.?,?[\s-]+(?P<year>\d{4}|\d{2}),?"
    + _TIME_ZONE
)

_MONTH_FIRST_RE = re.compile(
    _WEEKDAY + r"(?P<month>[a-z]{3,9})\.?\s+(?P<day>\d{1,2}),?\s+(?P<year>\d{4}),?" + _TIME_ZONE
)

_RU_RE = re.compile(
    r"(?P<day>\d{1,2})\s+(?P<month>[а-я]{3,8})\.?"
    r"(?:,?\s+(?P<year>\d{4})(?:\s*(?:г\.?|года))?)?"
    rf"(?:\s*(?:,|\||в|-|–|—)?\s*{_TIME})?",
)

_NUMERIC_RE = re.compile(
    r"(?P<day>\d{1,2})[./](?P<month>\d{1,2})[./](?P<year>\d{4})(?:г\.?)?"
    rf"(?:\s*(?:,|в)?\s*{_TIME})?",
)


def parse_date(text: str, *, now: datetime | None = None) -> datetime | None:
    """Parse one date string to an aware UTC datetime, or None if it is not a valid date.

    `now` is needed only for dates without a year (the year is then inferred from it).
    """
    if now is None:
        return _parse_date_alone(text)
    return _parse_date(text, now)


@lru_cache(maxsize=4096)
def _parse_date_alone(text: str) -> datetime | None:
    # A feed's date string is parsed three times: by feedparser's handler (ours) for its
    # published and updated fields, and by `parse` for each of them again.
    return _parse_date(text, None)


def _parse_date(text: str, now: datetime | None) -> datetime | None:
    cleaned = " ".join(text.replace("\xa0", " ").split()).lower().replace("ё", "е")
    if not cleaned:
        return None
    for parser in (_parse_iso, _parse_rfc822, _parse_russian, _parse_numeric):
        found = parser(cleaned, now)
        if found is not None:
            return found
    return None


def search_date(text: str, *, now: datetime | None = None) -> datetime | None:
    """The first Russian or numeric date inside a longer text, such as a page's dateline."""
    cleaned = " ".join(text.replace("\xa0", " ").split()).lower().replace("ё", "е")
    for pattern in (_RU_RE, _NUMERIC_RE):
        for match in pattern.finditer(cleaned):
            found = parse_date(match.group(0), now=now)
            if found is not None:
                return found
    return None


def feedparser_date_handler(text: str) -> time.struct_time | None:
    """Adapter for `feedparser.registerDateHandler`: a UTC 9-tuple, or None to let others try."""
    parsed = parse_date(text)
    return parsed.utctimetuple() if parsed is not None else None


# --- one parser per family -----------------------------------------------------------------


def _parse_iso(text: str, now: datetime | None) -> datetime | None:
    match = _ISO_RE.fullmatch(text)
    if match is None:
        return None
    day = match["day"] or "1"
    return _build(
        match["year"], match["month"], day, match["hour"], match["minute"], match["second"],
        _zone_offset(match["zone"]),
    )  # fmt: skip


def _parse_rfc822(text: str, now: datetime | None) -> datetime | None:
    match = _RFC822_RE.fullmatch(text) or _MONTH_FIRST_RE.fullmatch(text)
    if match is None:
        return None
    month = _EN_MONTH_NUMBERS.get(match["month"])
    if month is None:
        return None
    zone = match["zone"]
    offset = _zone_offset(zone)
    if zone is not None and offset is None:
        return None
    year = int(match["year"])
    if len(match["year"]) == 2:
        year += 2000 if year < 70 else 1900
    return _build(
        year, month, match["day"], match["hour"], match["minute"], match["second"], offset
    )


def _parse_russian(text: str, now: datetime | None) -> datetime | None:
    match = _RU_RE.fullmatch(text)
    if match is None:
        return None
    month = _RU_MONTH_NUMBERS.get(match["month"])
    if month is None:
        return None
    if match["year"] is not None:
        return _build(
            match["year"], month, match["day"], match["hour"], match["minute"], match["second"]
        )
    if now is None:
        return None
    return _without_year(now, month, match["day"], match["hour"], match["minute"])


def _parse_numeric(text: str, now: datetime | None) -> datetime | None:
    match = _NUMERIC_RE.fullmatch(text)
    if match is None:
        return None
    return _build(
        match["year"], match["month"], match["day"], match["hour"], match["minute"],
        match["second"],
    )  # fmt: skip


# --- helpers -------------------------------------------------------------------------------


def _without_year(
    now: datetime, month: int, day: str, hour: str | None, minute: str | None
) -> datetime | None:
    """This year's date in Moscow, or last year's if this year's is more than two days ahead."""
    year = now.astimezone(MOSCOW).year
    found = _build(year, month, day, hour, minute, None)
    if found is not None and found > now + _FUTURE_SLACK:
        found = _build(year - 1, month, day, hour, minute, None)
    return found


def _zone_offset(zone: str | None) -> timedelta | None:
    """The UTC offset a zone designator names; None when there is none or it is unknown."""
    if zone is None:
        return None
    match = re.fullmatch(r"([a-z]*)(?:([+-])(\d{2}):?(\d{2})?)?", zone)
    if match is None:
        return None
    name, sign, hours, minutes = match.groups()
    base = 0
    if name:
        if name not in _ZONE_NAMES:
            return None
        base = _ZONE_NAMES[name]
    if sign is not None:
        shift = int(hours) * 60 + int(minutes or 0)
        if int(hours) > 23 or int(minutes or 0) > 59:
            return None
        base += shift if sign == "+" else -shift
    return timedelta(minutes=base)


def _build(
    year: int | str,
    month: int | str,
    day: int | str,
    hour: str | None,
    minute: str | None,
    second: str | None,
    offset: timedelta | None = None,
) -> datetime | None:
    """An aware UTC datetime; a missing zone means Moscow; None for an impossible date."""
    zone = MOSCOW if offset is None else timezone(offset)
    try:
        local = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            min(int(second or 0), 59),  # a leap second is not worth a rejected date
            tzinfo=zone,
        )
    except ValueError:
        return None
    return local.astimezone(UTC)
