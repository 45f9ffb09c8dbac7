"""What a parse process hands back: the same entries and labels the ingest thread would compute."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator import dedupe, prepare
from aggregator.config import load_config
from aggregator.devtools.farm import FarmSpec, render_feed, write_config
from aggregator.domain import CITY, Source
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
        prepare.LABELLER = None
    expected = normalize_entries(parse_feed(body, headers, URL), URL, NOW)
    labeller = prepare.Labeller(config)
    assert entries == expected
    assert parsed.entries == ()
    assert [(label.topics, label.mentions) for label in labels] == [
        (labeller.topics(e), labeller.mentions(e)) for e in expected
    ]
    assert [label.features for label in labels] == [dedupe.entry_features(e) for e in expected]
    assert any(label.mentions for label in labels)  # the farm's titles name districts


def test_preparing_outside_a_parse_process_is_refused() -> None:
    with pytest.raises(RuntimeError, match="parse process"):
        prepare.prepare_entries(b"<rss/>", {}, URL, Source(URL, "", CITY), NOW)
