"""Topics of a story from keyword stems, and the tags of an entry (topics and mentioned areas).

Keywords are compiled once into `TopicRule`s: each keyword becomes a phrase of stem sets, so
«электробус» matches «электробусов» and «детский сад» matches «детских садов» (consecutive
words). Abbreviations written in capitals (МЦД, ЕГЭ) and indeclinable words (метро) match only
their exact form, so «метро» never matches «метров». A title match weighs more than a body match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from aggregator.domain import Entry, Topic
from aggregator.gazetteer import Gazetteer
from aggregator.textnorm import (
    Words,
    analyze,
    normalize_text,
    split_hyphens,
    stem_forms,
    stem_word,
    tokens,
)

__all__ = [
    "TopicEvidence",
    "TopicMatcher",
    "TopicRule",
    "compile_topics",
    "explain_topics",
    "story_tags",
    "story_topics",
]

TITLE_WEIGHT = 2.0
BODY_WEIGHT = 1.0
THRESHOLD = 2.0
"""A topic needs one keyword in the title or two distinct ones in the body; when no topic gets
there, the best-scoring topics of a single body keyword are taken (short leads)."""

RELATIVE = 0.5
"""A topic also needs this share of the best topic's score: a passing mention of a school in a
story about a new bus route does not make it an education story."""

INDECLINABLE = frozenset({"метро", "кино", "кафе", "такси", "депо", "шоссе", "кашпо", "пальто"})


@dataclass(frozen=True)
class TopicEvidence:
    """Why a topic was or was not given to a story: keywords, phrases and patterns found
    (`matched`, with their summed weight), feed categories mapped to it, exclusions that vetoed it.
    """

    slug: str
    assigned: bool
    score: float
    matched: tuple[str, ...]
    categories: tuple[str, ...]
    excluded: tuple[str, ...]


@dataclass(frozen=True)
class _Keyword:
    text: str
    phrase: tuple[frozenset[str], ...]  # accepted stems per position
    exact: tuple[str | None, ...]  # the exact word required at a position, if any


@dataclass(frozen=True)
class TopicRule:
    """One topic compiled for matching; patterns, exclusions and categories leave room for config.

    `patterns` are regexes searched in the normalized text (lowercase, ё→е), weighed like a
    keyword; an `exclude` phrase anywhere vetoes the topic; a feed category equal to one of
    `categories` (normalized) assigns it.
    """

    slug: str
    keywords: tuple[_Keyword, ...]
    exclude: tuple[_Keyword, ...] = ()
    categories: frozenset[str] = field(default_factory=frozenset)
    patterns: tuple[re.Pattern[str], ...] = ()


def _compile_keyword(keyword: str) -> _Keyword | None:
    raw = keyword.replace("ё", "е").replace("Ё", "Е")
    words = split_hyphens(tokens(raw))
    if not words:
        return None
    originals = split_hyphens(raw.replace("-", " ").split())
    exact: list[str | None] = []
    for k, word in enumerate(words):
        original = originals[k] if len(originals) == len(words) else word
        is_abbr = len(word) <= 6 and original.isupper() and len(original) > 1
        exact.append(word if is_abbr or word in INDECLINABLE or word.isdigit() else None)
    phrase = tuple(
        frozenset({stem_word(w)}) if x is not None else stem_forms(w)
        for w, x in zip(words, exact, strict=True)
    )
    return _Keyword(keyword, phrase, tuple(exact))


def _compile_pattern(pattern: str) -> re.Pattern[str]:
    """Patterns run over normalized text, so ё is folded in the pattern as well."""
    return re.compile(pattern.replace("ё", "е").replace("Ё", "Е"), re.IGNORECASE)


def _compile_rule(topic: Topic) -> TopicRule:
    keywords = tuple(k for k in map(_compile_keyword, topic.keywords) if k is not None)
    exclude = tuple(k for k in map(_compile_keyword, topic.exclude) if k is not None)
    categories = {normalize_text(topic.name), normalize_text(topic.slug)}
    categories |= {normalize_text(c) for c in topic.categories}
    return TopicRule(
        topic.slug,
        keywords,
        exclude=exclude,
        categories=frozenset(c for c in categories if c),
        patterns=tuple(_compile_pattern(p) for p in topic.patterns),
    )


class TopicMatcher:
    """Matches compiled topic rules against a title, a text and feed categories."""

    def __init__(self, rules: Sequence[TopicRule]) -> None:
        self.rules = tuple(rules)
        self._index: dict[str, list[tuple[int, _Keyword, bool]]] = {}
        for n, rule in enumerate(self.rules):
            for keyword in rule.keywords:
                self._add(n, keyword, excluded=False)
            for keyword in rule.exclude:
                self._add(n, keyword, excluded=True)
        for bucket in self._index.values():
            bucket.sort(key=lambda entry: -len(entry[1].phrase))
        self._patterns = [(n, p) for n, rule in enumerate(self.rules) for p in rule.patterns]

    def _add(self, n: int, keyword: _Keyword, *, excluded: bool) -> None:
        for first in keyword.phrase[0]:
            self._index.setdefault(first, []).append((n, keyword, excluded))

    def match(self, title: str, text: str, categories: Iterable[str] = ()) -> tuple[str, ...]:
        """The slugs of the topics of a story, in rule order (the same verdict as explain_match)."""
        return self.match_words(analyze(title), analyze(text), categories)

    def match_words(
        self, title: Words, text: Words, categories: Iterable[str] = ()
    ) -> tuple[str, ...]:
        """`match` of texts already analyzed."""
        scores, _, excluded = self._score(title, text)
        floor = _floor(scores, excluded)
        cats = {normalize_text(c) for c in categories}
        return tuple(
            rule.slug
            for n, rule in enumerate(self.rules)
            if n not in excluded and (scores.get(n, 0.0) >= floor or cats & rule.categories)
        )

    def explain_match(
        self, title: str, text: str, categories: Iterable[str] = ()
    ) -> list[TopicEvidence]:
        """The evidence for every topic that matched anything, assigned or not, in rule order."""
        scores, hits, excluded = self._score(analyze(title), analyze(text))
        floor = _floor(scores, excluded)
        cats = {normalize_text(c) for c in categories}
        out = []
        for n, rule in enumerate(self.rules):
            by_category = tuple(sorted(cats & rule.categories))
            if n not in hits and n not in excluded and not by_category:
                continue
            score = scores.get(n, 0.0)
            vetoed = tuple(sorted(excluded.get(n, ())))
            assigned = not vetoed and (score >= floor or bool(by_category))
            found = tuple(sorted(hits.get(n, ())))
            out.append(TopicEvidence(rule.slug, assigned, score, found, by_category, vetoed))
        return out

    def explain(self, title: str, text: str) -> dict[str, list[str]]:
        """Which keywords matched each topic (topics with no match are left out)."""
        _, hits, _ = self._score(analyze(title), analyze(text))
        return {self.rules[n].slug: sorted(found) for n, found in sorted(hits.items())}

    def _score(
        self, title: Words, text: Words
    ) -> tuple[dict[int, float], dict[int, set[str]], dict[int, set[str]]]:
        scores: dict[int, float] = {}
        hits: dict[int, set[str]] = {}
        excluded: dict[int, set[str]] = {}
        for part, weight in ((title, TITLE_WEIGHT), (text, BODY_WEIGHT)):
            words, stems = part.words, part.stems
            for i, stem in enumerate(stems):
                seen: set[int] = set()
                for n, keyword, is_exclusion in self._index.get(stem, ()):
                    if n in seen or not _at(keyword, words, stems, i):
                        continue
                    seen.add(n)
                    if is_exclusion:
                        excluded.setdefault(n, set()).add(keyword.text)
                        continue
                    if keyword.text not in hits.setdefault(n, set()):
                        scores[n] = scores.get(n, 0.0) + weight
                    hits[n].add(keyword.text)
            if self._patterns:
                normalized = " ".join(part.tokens)  # = normalize_text(part.text)
                for n, pattern in self._patterns:
                    if pattern.pattern not in hits.get(n, ()) and pattern.search(normalized):
                        scores[n] = scores.get(n, 0.0) + weight
                        hits.setdefault(n, set()).add(pattern.pattern)
        return scores, hits, excluded


def _floor(scores: dict[int, float], excluded: dict[int, set[str]]) -> float:
    """The score a topic needs: the absolute bar, and RELATIVE of the best unvetoed topic."""
    best = max((score for n, score in scores.items() if n not in excluded), default=0.0)
    bar = THRESHOLD if best >= THRESHOLD else max(best, BODY_WEIGHT)
    return max(bar, RELATIVE * best)


def _at(keyword: _Keyword, words: list[str], stems: list[str], i: int) -> bool:
    if i + len(keyword.phrase) > len(words):
        return False
    for k, accepted in enumerate(keyword.phrase):
        if stems[i + k] not in accepted:
            return False
        required = keyword.exact[k]
        if required is not None and words[i + k] != required:
            return False
    return True


def compile_topics(topics: Iterable[Topic]) -> TopicMatcher:
    """Compile topics once; reuse the matcher for every story."""
    return TopicMatcher([_compile_rule(t) for t in topics])


@lru_cache(maxsize=8)
def _cached_matcher(topics: tuple[Topic, ...]) -> TopicMatcher:
    return compile_topics(topics)


def story_topics(title: str, text: str, topics: Sequence[Topic]) -> tuple[str, ...]:
    """The topic slugs of one story; the compiled topics are cached per topic tuple."""
    return _cached_matcher(tuple(topics)).match(title, text)


def explain_topics(title: str, text: str, topics: Sequence[Topic]) -> dict[str, list[str]]:
    """Which keywords of which topic matched one story."""
    return _cached_matcher(tuple(topics)).explain(title, text)


@dataclass(frozen=True)
class StoryTags:
    """What classification adds to an entry: mentioned areas and topics."""

    areas: tuple[str, ...]
    topics: tuple[str, ...]


def story_tags(entry: Entry, gazetteer: Gazetteer, matcher: TopicMatcher) -> StoryTags:
    """Areas mentioned in an entry (with their okrugs) and its topics, from title and summary."""
    title, text = analyze(entry.title), analyze(entry.summary)
    return StoryTags(
        areas=gazetteer.areas_of(title, text),
        topics=matcher.match_words(title, text, entry.categories),
    )
