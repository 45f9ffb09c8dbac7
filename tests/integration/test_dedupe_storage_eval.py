"""The database-backed stories mirror the reference clustering: ingesting the labelled held-out
items one by one through storage (band table, window, verification) gives the same partition as
`similarity.cluster`, and so the same pairwise precision and recall."""

from __future__ import annotations

from datetime import datetime

from aggregator import dedupe
from aggregator.devtools.entries import text_entry
from aggregator.devtools.eval_dedupe import load_items, pairwise
from aggregator.domain import Entry, Source
from aggregator.similarity import Thresholds, cluster
from aggregator.storage import Storage


def as_entry(item_id: str, title: str, lead: str, published: object) -> Entry:
    assert isinstance(published, datetime)
    return text_entry(item_id, title, lead, published, link=f"https://eval.example/{item_id}")


def test_storage_partition_equals_the_reference_clustering(database_url: str) -> None:
    items = load_items(split="heldout")
    outlets = sorted({item.outlet for item in items})
    feed_ids = {outlet: n + 1 for n, outlet in enumerate(outlets)}
    storage = Storage.open(database_url)
    limits = Thresholds()
    try:
        storage.sync_sources(
            [Source(f"https://feed{n}.example/rss", o, "city") for n, o in enumerate(outlets)],
            items[0].published,
        )
        for item in items:
            entry = as_entry(item.id, item.title, item.lead, item.published)
            features = {entry.key: dedupe.entry_features(entry)}
            storage.ingest(
                feed_ids[item.outlet],
                [entry],
                lambda c, e=entry, f=features: dedupe.plan(
                    [e], c, (), lambda _: (), features=f, limits=limits
                ),
                item.published,
                band_keys={entry.key: features[entry.key].band_keys},
                window=limits.window,
            )
        story_of = {
            member.link: story.id
            for story in storage.stories_since(None)
            for member in storage.story_members(story.id)
        }
    finally:
        storage.close()
    stored = [story_of[f"https://eval.example/{item.id}"] for item in items]
    reference = cluster([item.text() for item in items], limits)
    groups = [item.group for item in items]
    assert pairwise(stored, reference).precision == 1.0
    assert pairwise(stored, reference).recall == 1.0
    report = pairwise(stored, groups)
    assert report.precision >= 0.97 and report.recall >= 0.92
