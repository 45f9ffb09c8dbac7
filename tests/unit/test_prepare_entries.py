"""What a parse process hands back: the same entries and labels the ingest thread would compute."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from aggregator import prepare
from aggregator.classify import compile_topics
from aggregator.config import load_config
from aggregator.devtools.farm import FarmSpec, render_feed, write_config
from aggregator.domain import CITY, Source
from aggregator.gazetteer import build_gazetteer
from aggregator.normalize import normalize_entries
from aggregator.parse import parse_feed

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
URL = "http://farm.test/feed.xml"


def test_a_parse_process_labels_entries_as_the_ingest_thread_would(tmp_path: Path) -> None:
    spec = FarmSpec(feeds=8, items=6)
    config = load_config(write_config(tmp_path / "config", "http://farm.test", spec))
    body, content_type = render_feed(7, 0, spec)  # windows-1251
    headers = {"content-type": content_type}
    prepare.start_parse_process(config)
    try:
        parsed, entries, labels = prepare.prepare_entries(
            body, headers, URL, Source(URL, "", CITY), NOW
        )
    finally:
        prepare.CLASSIFIERS = None
    expected = normalize_entries(parse_feed(body, headers, URL), URL, NOW)
    topics, gazetteer = compile_topics(config.topics), build_gazetteer(config)
    assert entries == expected
    assert parsed.entries == ()
    assert labels == [
        (topics.match(e.title, e.summary, e.categories), gazetteer.areas(e.title, e.summary))
        for e in expected
    ]
    assert any(areas for _, areas in labels)  # the farm's titles name districts
