"""Identity keys, content fingerprints and story ids; every value is versioned ("v1:").

A key or hash computed under one version is never compared with one from another: when a
recipe changes, its prefix changes with it.
"""

from __future__ import annotations

import hashlib
import re
import uuid

from aggregator.domain import Entry

__all__ = [
    "STORY_NAMESPACE",
    "content_hash",
    "entry_key",
    "fingerprint",
    "story_key",
    "story_uuid",
]

VERSION = "v1"

STORY_NAMESPACE = uuid.UUID("5b7f3c0e-2d4a-5e61-9c8b-0a6f1d2e3b4c")
"""The fixed uuid5 namespace of output entry ids; changing it would re-id every story."""

_FINGERPRINT_TEXT_CHARS = 300

_BYLINE_WORDS = r"(?:текст|фото|автор|источник|подготовил[аи]?)"
_LEADING_BYLINE = re.compile(
    rf"^\s*{_BYLINE_WORDS}\s*:\s*[^|.\n]{{1,60}}(?:[|.\n]|$)", re.IGNORECASE
)
_TRAILING_BYLINE = re.compile(
    rf"(?:^|[\s|.]){_BYLINE_WORDS}\s*:\s*[^|.\n]{{1,60}}\s*$", re.IGNORECASE
)
_NOT_WORD = re.compile(r"[\W_]+")


def entry_key(guid: str | None, canonical_link: str | None, title: str, text: str) -> str:
    """The key of an entry within its feed: its guid, else its canonical link, else a hash."""
    if guid is not None and guid.strip():
        return f"{VERSION}:guid:{guid.strip()}"
    if canonical_link:
        return f"{VERSION}:link:{canonical_link}"
    return f"{VERSION}:hash:{_digest(_collapse(title), _collapse(text))}"


def fingerprint(title: str, text: str) -> str:
    """A cross-feed fingerprint of the exact story: normalized title and the start of its text."""
    body = _fingerprint_words(_strip_bylines(text))[:_FINGERPRINT_TEXT_CHARS]
    return f"{VERSION}:{_digest(_fingerprint_words(title), body)}"


def content_hash(title: str, link: str | None, content_html: str) -> str:
    """A change-detection hash of what subscribers see; whitespace differences do not count."""
    markup = re.sub(r">\s+<", "><", _collapse(content_html))
    return f"{VERSION}:{_digest(_collapse(title), link or '', markup)}"


def story_key(entry: Entry) -> str:
    """The stable key of a story started by `entry`: its canonical link, else its fingerprint."""
    if entry.link:
        return f"{VERSION}:link:{entry.link}"
    return f"{VERSION}:fp:{entry.fingerprint}"


def story_uuid(story_key: str) -> uuid.UUID:
    """The permanent uuid of a story, for output entry ids (`urn:uuid:...`)."""
    return uuid.uuid5(STORY_NAMESPACE, story_key)


def _fingerprint_words(text: str) -> str:
    """Lowercased words with ё folded to е; punctuation and quote styles disappear."""
    folded = text.lower().replace("ё", "е")
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def _strip_bylines(text: str) -> str:
    """Drop a leading or trailing "Текст: …" / "Фото: …" credit, which outlets add or omit."""
    text = _LEADING_BYLINE.sub("", text, count=1)
    return _TRAILING_BYLINE.sub("", text, count=1)


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _digest(*parts: str) -> str:
    joined = "\x00".join(parts).encode("utf-8")
    return hashlib.sha256(joined).hexdigest()[:32]
