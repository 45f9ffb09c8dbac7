"""HTTP validators for rendered feeds: strong ETags, Last-Modified and conditional GET, pure."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from aggregator.domain import Config

CACHE_CONTROL = "public, max-age=300"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Last-Modified of a feed with no stories: fixed, so an empty feed stays cacheable."""


def strong_etag(body: bytes) -> str:
    """A strong entity tag: a hash of exactly the bytes that are sent."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def http_date(moment: datetime) -> str:
    """An IMF-fixdate (RFC 9110) in GMT; a naive value is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime(moment.astimezone(UTC), usegmt=True)


MIN_MAX_AGE = 60


def cache_control(config: Config) -> str:
    """Cache-Control for outputs: readers need not come back sooner than any feed refreshes.

    max-age is the shortest refresh interval of the enabled feeds (their own or the default),
    and never below a minute.
    """
    intervals = [
        source.refresh or config.service.default_refresh
        for source in config.sources
        if source.enabled
    ]
    shortest = min(intervals, default=config.service.default_refresh)
    return f"public, max-age={max(MIN_MAX_AGE, int(shortest.total_seconds()))}"


def validator_headers(
    etag: str, last_modified: datetime, cache_control: str = CACHE_CONTROL
) -> dict[str, str]:
    """The headers sent with both a 200 and a 304."""
    return {
        "ETag": etag,
        "Last-Modified": http_date(last_modified),
        "Cache-Control": cache_control,
    }


def not_modified(request_headers: Mapping[str, str], etag: str, last_modified: datetime) -> bool:
    """Whether a GET may be answered 304; If-None-Match wins over If-Modified-Since (RFC 9110)."""
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None:
        return _etag_matches(if_none_match, etag)
    if_modified_since = request_headers.get("if-modified-since")
    if if_modified_since is None:
        return False
    since = _parse_http_date(if_modified_since)
    if since is None:
        return False
    if last_modified.tzinfo is None:
        last_modified = last_modified.replace(tzinfo=UTC)
    # HTTP dates have whole seconds, so compare at that resolution.
    return last_modified.replace(microsecond=0) <= since


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison, as If-None-Match requires: W/ prefixes are ignored."""
    if header.strip() == "*":
        return True
    candidates = (tag.strip().removeprefix("W/") for tag in header.split(","))
    return etag.removeprefix("W/") in candidates


def _parse_http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
