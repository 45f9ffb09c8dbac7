"""Parsed entries to normalized entries: safe HTML, canonical links, plain text, UTC dates, keys.

Pure: `now` is a parameter. Every HTML field is sanitized here with nh3 (allow-list of tags,
attributes and URL schemes) whatever feedparser did, and every link is restricted to http(s).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import SplitResult, quote, unquote_plus, urljoin, urlsplit, urlunsplit

import nh3

from aggregator.domain import Entry, ParsedEntry, ParsedFeed
from aggregator.identity import content_hash, entry_key, fingerprint
from aggregator.textnorm import replace_all

__all__ = ["canonical_url", "display_url", "normalize_entries", "plain_text", "sanitize_html"]

FUTURE_TOLERANCE = timedelta(minutes=10)
"""A date further ahead than this is a publisher's clock or time zone error: it becomes `now`."""

TITLE_FROM_TEXT_CHARS = 80

_ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "div",
        "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
        "img", "ins", "li", "ol", "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup",
        "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
_DROPPED_WITH_CONTENT = frozenset(
    {
        "script", "style", "iframe", "object", "embed", "template", "svg", "math", "form",
        "select", "textarea", "button", "noembed", "noframes",
    }
)  # fmt: skip
_URL_SCHEMES = frozenset({"http", "https", "mailto"})

_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRACKING_PARAMS = frozenset(
    {"yclid", "ysclid", "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "_openstat", "mc_cid",
     "mc_eid", "_ga"}
)  # fmt: skip
_TRACKING_VALUES = {"from": frozenset({"rss", "feed", "rss_feed"})}
"""Parameters that track only with these values: `from=rss` names a channel, `from=2` a page."""

# Path characters left as they are; everything else (non-ASCII above all) is percent-encoded,
# so a Cyrillic path written raw and one written percent-encoded canonicalize the same.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_BAD_HOST_CHARS = frozenset("<>\"'`{}|\\^%")


def normalize_entries(feed: ParsedFeed, feed_url: str, now: datetime) -> list[Entry]:
    """Normalize a parsed feed's entries; drop empty ones and later duplicates of a key."""
    entries: list[Entry] = []
    seen: set[str] = set()
    for parsed in feed.entries:
        entry = _normalize_entry(parsed, feed_url, now)
        if entry is None or entry.key in seen:
            continue
        seen.add(entry.key)
        entries.append(entry)
    return entries


def _normalize_entry(parsed: ParsedEntry, feed_url: str, now: datetime) -> Entry | None:
    link = canonical_url(parsed.link, feed_url)
    base = link or canonical_url(feed_url)  # canonical already: no need to check it again
    content_html = _sanitize(parsed.content_html or parsed.summary_html, _relative_urls(base))
    text = _text(content_html)
    summary = plain_text(parsed.summary_html) or plain_text(content_html)
    title = _text(parsed.title) or _cut(text, TITLE_FROM_TEXT_CHARS)
    if not title and link is None and not text:
        return None
    guid = parsed.guid.strip() if parsed.guid and parsed.guid.strip() else None
    published = _clamp(parsed.published or parsed.updated or now, now)
    updated = max(_clamp(parsed.updated or published, now), published)
    return Entry(
        key=entry_key(guid, link, title, text),
        guid=guid,
        link=link,
        title=title,
        summary=summary,
        content_html=content_html,
        published=published,
        updated=updated,
        author=_text(parsed.author or "") or None,
        categories=_categories(parsed.categories),
        fingerprint=fingerprint(title, text),
        content_hash=content_hash(title, link, content_html),
    )


def _clamp(moment: datetime, now: datetime) -> datetime:
    return now if moment > now + FUTURE_TOLERANCE else moment


def _categories(raw: tuple[str, ...]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for category in raw:
        text = _text(category)
        if text:
            found.setdefault(text, None)
    return tuple(found)


# --- HTML --------------------------------------------------------------------------------------


def sanitize_html(html: str, base_url: str | None) -> str:
    """Allow-listed HTML: no scripts, handlers, styles, frames or forms; URLs http(s)/mailto only.

    Relative `href`/`src` values are resolved against `base_url` (an http(s) URL) when given.
    """
    valid = base_url if base_url is not None and canonical_url(base_url) is not None else None
    return _sanitize(html, _relative_urls(valid))


_Relative = Literal["pass_through"] | tuple[Literal["rewrite_with_base"], str]


def _relative_urls(base_url: str | None) -> _Relative:
    """nh3's treatment of relative URLs: resolved against a valid http(s) `base_url`."""
    return "pass_through" if base_url is None else ("rewrite_with_base", base_url)


def _sanitize(html: str, relative: _Relative) -> str:
    if not html.strip():
        return ""
    if _SANITIZER_CHANGES.search(html) is None:
        # Plain text (many feeds' descriptions): nh3 would give it back unchanged, at ~17 us an
        # entry. It changes only these characters: tags, escapes, CR, NUL, NBSP, a leading BOM.
        return html.strip()
    cleaned = nh3.clean(html, url_relative=relative, **_NH3_OPTIONS)
    return str(cleaned).strip()


_SANITIZER_CHANGES = re.compile("[<>&\r\x00\xa0\ufeff]")
"""The characters whose presence lets nh3's output differ from its input text."""

# Built once rather than on every call (nh3 only reads them).
_NH3_OPTIONS: dict[str, Any] = {
    "tags": set(_ALLOWED_TAGS),
    "clean_content_tags": set(_DROPPED_WITH_CONTENT),
    "attributes": {tag: set(names) for tag, names in _ALLOWED_ATTRIBUTES.items()},
    "strip_comments": True,
    "link_rel": "noopener noreferrer",
    "url_schemes": set(_URL_SCHEMES),
}

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
        "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip
_INVISIBLE_TAGS = frozenset({"script", "style", "template", "noscript", "head", "title"})
_INVISIBLE_CHARS = tuple((char, "") for char in "\u200b\u200c\u200d\u2060\ufeff\u00ad")


class _TextCollector(HTMLParser):
    """Collects visible text; block-level tags separate words so paragraphs do not run together."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE_TAGS:
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _text(html: str) -> str:
    """All visible text of an HTML fragment, entities decoded, whitespace collapsed."""
    if "<" not in html and "&" not in html:
        return " ".join(replace_all(html, _INVISIBLE_CHARS).split())
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return " ".join(replace_all("".join(collector.parts), _INVISIBLE_CHARS).split())


def plain_text(html: str, limit: int = 500) -> str:
    """A plain-text summary: tags dropped, entities decoded, whitespace collapsed, cut with "…"."""
    return _cut(_text(html), limit)


def _cut(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its longest word prefix that fits with "…"."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if not text[limit - 1].isspace() and " " in head:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,.;:—–-") + "…"


# --- URLs --------------------------------------------------------------------------------------


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """The canonical form of an http(s) URL, or None for anything else.

    Lowercase scheme and host; an IDN host in its Unicode form (punycode is decoded, so both
    spellings of a .рф host give one string); default port, fragment and known tracking
    parameters dropped; other parameters kept in order; user info dropped.
    """
    if url is None or not url.strip():
        return None
    try:
        joined = urljoin(base, url.strip()) if base else url.strip()
        parts = urlsplit(joined)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = _unicode_host(parts.hostname)
    if host is None:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = _encode(parts.path or "/", _PATH_SAFE)
    query = _encode(_clean_query(parts.query), _QUERY_SAFE)
    return urlunsplit(SplitResult(scheme, netloc, path, query, ""))


def _encode(text: str, safe: str) -> str:
    """Percent-encode what is not `safe` and uppercase existing escapes, for one spelling."""
    return _ESCAPE.sub(lambda m: m.group(0).upper(), quote(text, safe=safe))


def display_url(url: str) -> str:
    """The URL with a punycode host shown in Unicode; anything else exactly as given."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return url
    if not host or "xn--" not in host.lower():
        return url
    unicode_host = _unicode_host(host)
    if unicode_host is None:
        return url
    netloc = parts.netloc.rpartition("@")
    host_port = netloc[2]
    port = host_port[len(host) :] if host_port.lower().startswith(host.lower()) else ""
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}{netloc[1]}{unicode_host}{port}"))


def _unicode_host(host: str) -> str | None:
    """The host in lowercase Unicode (NFC); punycode labels decoded; None if undecodable."""
    if any(char.isspace() or char in _BAD_HOST_CHARS for char in host):
        return None
    labels = []
    for label in unicodedata.normalize("NFC", host.lower()).rstrip(".").split("."):
        if label.startswith("xn--"):
            try:
                label = label.encode("ascii").decode("idna")
            except UnicodeError:
                return None
        labels.append(label)
    return ".".join(labels) if all(labels) else None


def _clean_query(query: str) -> str:
    kept = []
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        name = unquote_plus(name).lower()
        if name.startswith("utm_") or name in _TRACKING_PARAMS:
            continue
        if unquote_plus(value).lower() in _TRACKING_VALUES.get(name, ()):
            continue
        kept.append(pair)
    return "&".join(kept)
