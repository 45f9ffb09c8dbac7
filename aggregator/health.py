"""Feed health as a sysadmin reads it: rows for /status, /status.json and `aggregator status`.

Pure: stored `FeedHealth` in, rows and text out. Failure reasons come in English (the stored
message, as logged) and in Russian words for the web page ("HTTP 503, повтор через 120 с").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aggregator.domain import FeedHealth

RECENT = timedelta(days=7)
"""`items in the last 7 days` on the status page."""
MOSCOW = ZoneInfo("Europe/Moscow")

_RETRY = re.compile(r"retry after (\d+(?:\.\d+)?) s")
_TIMEOUT = re.compile(r"timeout after (\d+(?:\.\d+)?) s")
_MOVED = re.compile(r"^moved permanently to (\S+)")
_STATES = {"failing": 0, "disabled": 1, "pending": 2, "ok": 3}


@dataclass(frozen=True)
class StatusRow:
    """One feed on the status page; `state` is failing, disabled, pending (never tried) or ok."""

    feed_id: int
    title: str
    url: str
    district: str
    state: str
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    http_status: int | None
    error: str | None
    error_ru: str | None
    consecutive_errors: int
    next_fetch_at: datetime | None
    items_last_7_days: int
    note: str | None
    note_ru: str | None

    def as_json(self) -> dict[str, object]:
        """The row with ISO 8601 UTC times, for /status.json."""
        return {
            "feed_id": self.feed_id,
            "title": self.title,
            "url": self.url,
            "district": self.district,
            "state": self.state,
            "last_attempt_at": _iso(self.last_attempt_at),
            "last_success_at": _iso(self.last_success_at),
            "http_status": self.http_status,
            "error": self.error,
            "consecutive_errors": self.consecutive_errors,
            "next_fetch_at": _iso(self.next_fetch_at),
            "items_last_7_days": self.items_last_7_days,
            "note": self.note,
        }


def status_rows(health: Sequence[FeedHealth]) -> list[StatusRow]:
    """One row per feed: failing first (longest streak first), then disabled, pending and ok."""
    rows = [_row(h) for h in health]
    rows.sort(key=lambda r: (_STATES[r.state], -r.consecutive_errors, r.title, r.feed_id))
    return rows


def _row(h: FeedHealth) -> StatusRow:
    error = h.disabled_reason or h.last_error
    if h.disabled_reason and h.last_error and h.last_error not in h.disabled_reason:
        error = f"{h.last_error}; {h.disabled_reason}"
    return StatusRow(
        feed_id=h.feed_id,
        title=h.title,
        url=h.url,
        district=h.district,
        state=_state(h),
        last_attempt_at=h.last_attempt_at,
        last_success_at=h.last_success_at,
        http_status=h.last_status,
        error=error,
        error_ru=reason_ru(h),
        consecutive_errors=h.consecutive_errors,
        next_fetch_at=h.next_fetch_at if h.enabled else None,
        items_last_7_days=h.recent_items,
        note=h.note,
        note_ru=note_ru(h.note),
    )


def _state(h: FeedHealth) -> str:
    if h.consecutive_errors > 0 and (h.enabled or h.disabled_reason):
        return "failing"
    if not h.enabled:
        return "disabled"
    if h.last_attempt_at is None:
        return "pending"
    return "ok"


def reason_ru(h: FeedHealth) -> str | None:
    """Why the feed fails (or what was wrong with its last response), in Russian words."""
    if h.disabled_reason and h.last_status == 410:
        return "HTTP 410: лента удалена с сайта, опрос отключён"
    message = h.last_error or ""
    if not message:
        return None
    kind = h.error_kind
    if kind is None:
        return f"лента с ошибкой, исправные записи сохранены: {message}"
    if kind == "http_status":
        text = f"HTTP {h.last_status}" if h.last_status else message
        retry = _RETRY.search(message)
        return text + (f", повтор через {_number(retry.group(1))} с" if retry else "")
    if kind == "timeout":
        timeout = _TIMEOUT.search(message)
        return f"нет ответа за {_number(timeout.group(1))} с" if timeout else "нет ответа"
    if kind == "not_a_feed":
        detail = message.removeprefix("not a feed: ")
        known = {"HTML page": "HTML-страница", "empty body": "пустой ответ"}
        return f"не лента: {known.get(detail, detail)}"
    if kind == "connection":
        return _connection_ru(message)
    simple = {
        "too_large": "ответ больше допустимого размера",
        "too_many_redirects": "слишком много перенаправлений",
        "invalid_url": "неверный адрес ленты",
        "internal": "внутренняя ошибка агрегатора",
    }
    return f"{simple.get(kind, kind)} ({message})"


def _connection_ru(message: str) -> str:
    lowered = message.lower()
    if "dns" in lowered:
        return "сервер не найден (DNS)"
    if "refused" in lowered:
        return "сервер отказал в соединении"
    if "reset" in lowered:
        return "сервер оборвал соединение"
    if "tls" in lowered:
        return f"ошибка TLS-сертификата ({message})"
    return f"ошибка соединения ({message})"


def note_ru(note: str | None) -> str | None:
    """A note in Russian: a permanent redirect names the new address."""
    if not note:
        return None
    moved = _MOVED.match(note)
    return f"лента переехала навсегда (301/308), новый адрес: {moved.group(1)}" if moved else note


def _number(text: str) -> str:
    return f"{float(text):g}"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


# --- the terminal table -----------------------------------------------------------------------

COLUMNS = ("state", "feed", "last attempt", "last success", "HTTP", "errors", "next fetch", "7 d")


def table(rows: Sequence[StatusRow], width: int = 100) -> str:
    """The rows as a plain-text table (times in Moscow), each problem on a line under its feed."""
    cells = [COLUMNS]
    details: list[list[str]] = [[]]
    for row in rows:
        cells.append(
            (
                row.state,
                _shorten(row.title or row.url, 32),
                _moscow(row.last_attempt_at),
                _moscow(row.last_success_at),
                "" if row.http_status is None else str(row.http_status),
                str(row.consecutive_errors),
                _moscow(row.next_fetch_at),
                str(row.items_last_7_days),
            )
        )
        details.append([f"  {text}" for text in (row.url, row.error, row.note) if text])
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = []
    for line, extra in zip(cells, details, strict=True):
        padded = (cell.ljust(w) for cell, w in zip(line, widths, strict=True))
        lines.append("  ".join(padded).rstrip())
        lines.extend(_shorten(text, width) for text in extra)
    return "\n".join(lines) + "\n"


def _moscow(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(MOSCOW).strftime("%d.%m %H:%M")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
