"""The CPU-bound half of updating a feed, pure and picklable, so a parse process can run it.

A module of its own so that a parse process imports only parsing, normalizing, classifying and
near-duplicate features (about 35 MB), not the storage, HTTP and web stack of `aggregator.update`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from aggregator import dedupe
from aggregator.classify import compile_topics
from aggregator.domain import Config, Entry, ItemFeatures, ParsedFeed, Source
from aggregator.gazetteer import build_gazetteer
from aggregator.htmlsource import parse_html_source
from aggregator.normalize import normalize_entries
from aggregator.parse import parse_feed
from aggregator.textnorm import analyze


@dataclass(frozen=True)
class Label:
    """What an entry needs before it is planned: its topics, the areas its text mentions and
    its near-duplicate features."""

    topics: tuple[str, ...]
    mentions: tuple[str, ...]
    features: ItemFeatures


class Labeller:
    """Topics, mentioned areas and features of entries, with the config's compiled matchers."""

    def __init__(self, config: Config) -> None:
        self._topics = compile_topics(config.topics)
        self._gazetteer = build_gazetteer(config)

    def topics(self, entry: Entry) -> tuple[str, ...]:
        return self._topics.match(entry.title, entry.summary, entry.categories)

    def mentions(self, entry: Entry) -> tuple[str, ...]:
        return self._gazetteer.areas(entry.title, entry.summary)

    def label(self, entry: Entry) -> Label:
        # The title and lead are tokenized and stemmed once for all four readers: each did its
        # own, and tokenizing was most of what topics and mentions cost.
        title, lead = analyze(entry.title), analyze(entry.summary)
        return Label(
            self._topics.match_words(title, lead, entry.categories),
            self._gazetteer.areas_of(title, lead),
            dedupe.entry_features(entry, title, lead),
        )


Prepared = tuple[ParsedFeed, list[Entry], list[Label]]
"""A parsed body (its entries dropped, they are normalized), its entries and their labels."""


def parse_body(
    content: bytes, headers: Mapping[str, str], url: str, source: Source, now: datetime
) -> ParsedFeed:
    """A fetched body parsed as its source says: an HTML page or a feed."""
    if source.kind == "html":
        return parse_html_source(content, headers, url, source, now)
    return parse_feed(content, headers, url)


def prepare_entries(
    content: bytes, headers: Mapping[str, str], url: str, source: Source, now: datetime
) -> Prepared:
    """Parse, normalize and label a fetched body (pure, CPU-bound), in a parse process.

    The parsed entries are dropped from the result: only the normalized ones cross back, with
    their labels, so the ingest thread only plans and stores.
    """
    if LABELLER is None:
        raise RuntimeError("prepare_entries runs in a parse process (start_parse_process)")
    parsed = parse_body(content, headers, url, source, now)
    entries = normalize_entries(parsed, url, now)
    return replace(parsed, entries=()), entries, [LABELLER.label(e) for e in entries]


LABELLER: Labeller | None = None
"""A parse process's labeller, built once when the process starts."""


def start_parse_process(config: Config) -> None:
    global LABELLER
    LABELLER = Labeller(config)
