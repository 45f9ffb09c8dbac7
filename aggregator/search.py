"""Full-text words over Russian stems, pure: what a story is indexed under and what `q=` asks.

A story is indexed under the Snowball stems of the words of its title and lead. A query word
matches any stem its inflected forms can take (`textnorm.stem_forms`), so «Кузьминки» finds
«в Кузьминках» and «жителей Кузьминок» although Snowball stems the two apart.
"""

from __future__ import annotations

from collections.abc import Iterable

from aggregator.textnorm import Words, analyze, split_hyphens, stem_forms, tokens

MAX_TERM_CHARS = 64
"""Longer tokens (URLs glued together, base64) are noise, not words anyone searches for."""
MAX_QUERY_WORDS = 8
"""A query is a handful of words; more only makes the lookup slower."""

_STOP = "а в во да до за и из к ко ли на не ни о об от по с со у что как это то же бы"
STOP_WORDS = frozenset(_STOP.split())
"""Prepositions and particles: in nearly every story, so an index entry for them buys nothing."""


def story_terms(texts: Iterable[str]) -> set[str]:
    """The distinct stems a story is found by, from its title and lead."""
    return terms_of(analyze(text) for text in texts)


def terms_of(texts: Iterable[Words]) -> set[str]:
    """`story_terms` of texts already analyzed."""
    found: set[str] = set()
    for text in texts:
        found.update(stem for stem in text.stems if _useful(stem))
    return found


def query_words(query: str) -> tuple[frozenset[str], ...]:
    """For each word of a `q=` query, the stems that match it; a story must match every word."""
    words = list(dict.fromkeys(word for word in split_hyphens(tokens(query)) if _useful(word)))
    result = []
    for word in words[:MAX_QUERY_WORDS]:
        forms = frozenset(stem for stem in stem_forms(word) if _useful(stem))
        if forms:
            result.append(forms)
    return tuple(result)


def _useful(term: str) -> bool:
    return 0 < len(term) <= MAX_TERM_CHARS and term not in STOP_WORDS
