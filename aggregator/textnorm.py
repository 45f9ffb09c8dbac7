"""Russian text helpers shared by classification and near-duplicate detection.

Everything here is pure and fast enough to run per item: lowercasing with ё→е, word tokens
(hyphenated words and abbreviations kept whole) and Russian Snowball stems.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import NamedTuple

__all__ = [
    "Words",
    "analyze",
    "normalize_text",
    "replace_all",
    "split_hyphens",
    "stem_forms",
    "stem_word",
    "stems",
    "token_spans",
    "tokens",
]

# A word is letters or digits, optionally joined by single in-word hyphens (Москворечье-Сабурово,
# МЦД-2); a hyphen with a space on either side is punctuation (a dash), not part of a word.
_WORD = r"[0-9a-zа-яё]+(?:-[0-9a-zа-яё]+)*"
_WORD_RE = re.compile(_WORD)
_WORD_ANYCASE_RE = re.compile(_WORD, re.IGNORECASE)
# Typographic hyphens and dashes inside words are folded to the ASCII hyphen first.
_FOLDS = (("‐", "-"), ("‑", "-"), ("–", "-"), ("—", "-"), ("ё", "е"), ("Ё", "е"))


def replace_all(text: str, pairs: Iterable[tuple[str, str]]) -> str:
    """`text` with each (old, new) pair replaced in turn.

    For a few single characters this beats `str.translate` with a mapping several times over:
    translate took 22 of the 31 µs `tokens` spent on a 200-character lead, and every item is
    tokenized several times.
    """
    for old, new in pairs:
        if old in text:
            text = text.replace(old, new)
    return text


def _fold(text: str) -> str:
    """Dashes to the ASCII hyphen and ё to е, one character for one (so offsets stay valid)."""
    return replace_all(text, _FOLDS)


def normalize_text(text: str) -> str:
    """Lowercase, fold ё to е, drop punctuation except in-word hyphens and collapse whitespace."""
    return " ".join(_WORD_RE.findall(_fold(text).lower()))


def tokens(text: str) -> list[str]:
    """The normalized words of `text` in order: «Бирюлёво, ЮАО» → бирюлево, юао.

    Hyphenated words and abbreviations stay whole; use `split_hyphens` to get their parts.
    """
    return _WORD_RE.findall(_fold(text).lower())


def token_spans(text: str) -> list[tuple[str, int, int]]:
    """The normalized words of `text` with their (start, end) offsets in the original string."""
    folded = _fold(text)
    lowered = folded.lower().replace("ё", "е")
    if len(lowered) != len(folded):  # a letter lowercased to two (İ): lower each word alone
        return [
            (m.group().lower().replace("ё", "е"), m.start(), m.end())
            for m in _WORD_ANYCASE_RE.finditer(folded)
        ]
    # One lowering for the whole text, sliced per word: half the cost of lowering each match.
    return [
        (lowered[start:end], start, end)
        for start, end in (m.span() for m in _WORD_ANYCASE_RE.finditer(folded))
    ]


def split_hyphens(words: Iterable[str]) -> list[str]:
    """Split hyphenated words into their parts: so «МЦД-2» and «МЦД 2» give the same sequence."""
    out: list[str] = []
    for word in words:
        if "-" in word:
            out.extend(part for part in word.split("-") if part)
        else:
            out.append(word)
    return out


class Words(NamedTuple):
    """A text with its words found and stemmed once, for every matcher that reads it: topics,
    mentioned areas, near-duplicate features and search terms (a tuple: one per title and lead
    of every entry)."""

    text: str
    tokens: list[str]
    """`tokens(text)`: hyphenated words whole."""
    words: list[str]
    """`split_hyphens(tokens)`: «МЦД-2» as «мцд», «2»."""
    stems: list[str]
    """The stem of each of `words`."""
    spans: list[tuple[int, int]]
    """The (start, end) offsets of each of `words` in `text`."""


def analyze(text: str) -> Words:
    """The words of `text`, split and stemmed, with their offsets (see `Words`)."""
    found: list[str] = []
    words: list[str] = []
    spans: list[tuple[int, int]] = []
    for word, start, end in token_spans(text):
        found.append(word)
        if "-" not in word:
            words.append(word)
            spans.append((start, end))
            continue
        offset = start
        for part in word.split("-"):
            if part:
                words.append(part)
                spans.append((offset, offset + len(part)))
            offset += len(part) + 1
    return Words(text, found, words, [stem_word(word) for word in words], spans)


def _load_stemmer() -> Callable[[list[str]], list[str]]:
    try:
        import Stemmer

        stem_words: Callable[[list[str]], list[str]] = Stemmer.Stemmer("russian").stemWords
        return stem_words
    except ImportError:  # pragma: no cover - PyStemmer is a declared dependency
        import snowballstemmer

        fallback: Callable[[list[str]], list[str]] = snowballstemmer.stemmer("russian").stemWords
        return fallback


_stem_words = _load_stemmer()


def stems(words: Iterable[str]) -> list[str]:
    """Russian Snowball stems of normalized words; each part of a hyphenated word is stemmed."""
    batch = list(words)
    if not any("-" in word for word in batch):
        return _stem_words(batch)
    out: list[str] = []
    for word in batch:
        if "-" in word:
            out.append("-".join(_stem_words(word.split("-"))))
        else:
            out.append(_stem_words([word])[0])
    return out


@lru_cache(maxsize=65536)
def stem_word(word: str) -> str:
    """The stem of one normalized word (cached)."""
    return stems([word])[0]


def _fleeting_vowel_forms(word: str) -> list[str]:
    """Inflected forms whose stem Snowball keeps apart because of a fleeting vowel.

    Snowball gives «кузьминки» and «кузьминок» (and «пятиэтажка» and «пятиэтажек») different
    stems; these are the genitive plurals and oblique cases that bridge such pairs.
    """
    forms: list[str] = []
    for ending in ("ка", "ки"):
        if word.endswith(ending) and len(word) > 4:
            base = word[: -len(ending)]
            if base[-1] in "аеиоуыэюя":
                continue
            if base[-1] in "йь":
                forms.append(base[:-1] + "ек")
            elif base[-1] in "жшчщц":
                forms.append(base + "ек")
            else:
                forms.append(base + "ок")
    if word.endswith("ок") and len(word) > 4:
        forms.append(word[:-2] + "ка")  # каток → катка, кружок → кружка
    if word.endswith("ец") and len(word) > 3:
        base = word[:-2]
        forms.append(base + ("йца" if base[-1] in "аеиоуыэюя" else "ца"))  # боец → бойца
    return forms


_VOWELS = "аеиоуыэюя"


def _case_forms(word: str) -> list[str]:
    """A few regular case forms of a noun, for words whose forms Snowball stems apart.

    Snowball strips «ен» from «мосрентген» but not from «мосрентгене»; stemming the case forms
    as well gives the matcher every stem a text may contain.
    """
    if len(word) < 4 or word[-1] in "йь" or word.endswith(("ый", "ий", "ой", "ое", "ая")):
        return []
    if word[-1] not in _VOWELS:
        return [word + end for end in ("а", "у", "е", "ом", "ы", "ов", "ами", "ах")]
    if word[-1] in "ао":
        return [word[:-1] + end for end in ("ы", "е", "у", "ой", "ом", "ам", "ах")]
    return []


@lru_cache(maxsize=8192)
def stem_forms(word: str) -> frozenset[str]:
    """The stems the inflected forms of a normalized word can take (its own stem and bridges)."""
    return frozenset(stems([word, *_fleeting_vowel_forms(word), *_case_forms(word)]))
