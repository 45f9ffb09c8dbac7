"""The CPU-bound half of updating a feed, pure and picklable, so a parse process can run it.

A module of its own so that a parse process imports only parsing, normalizing and classifying
(about 30 MB), not the storage, HTTP and web stack of `aggregator.update` (about 75 MB).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from aggregator.classify import TopicMatcher, compile_topics
from aggregator.domain import Config, Entry, ParsedFeed, Source
from aggregator.gazetteer import Gazetteer, build_gazetteer
from aggregator.htmlsource import parse_html_source
from aggregator.normalize import normalize_entries
from aggregator.parse import parse_feed

Labels = list[tuple[tuple[str, ...], tuple[str, ...]]]
"""Per entry, in order: its topics and the areas its text mentions."""
Prepared = tuple[ParsedFeed, list[Entry], Labels]
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
    their topics and mentioned areas, so the ingest thread only plans and stores.
    """
    parsed = parse_body(content, headers, url, source, now)
    entries = normalize_entries(parsed, url, now)
    labels: Labels = []
    if CLASSIFIERS is not None:
        topics, gazetteer = CLASSIFIERS
        labels = [
            (topics.match(e.title, e.summary, e.categories), gazetteer.areas(e.title, e.summary))
            for e in entries
        ]
    return replace(parsed, entries=()), entries, labels


CLASSIFIERS: tuple[TopicMatcher, Gazetteer] | None = None
"""A parse process's compiled topics and gazetteer, built once when the process starts."""


def start_parse_process(config: Config) -> None:
    global CLASSIFIERS
    CLASSIFIERS = (compile_topics(config.topics), build_gazetteer(config))
