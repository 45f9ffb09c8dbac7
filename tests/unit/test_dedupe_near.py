"""The near-duplicate layer of the decider: verified LSH candidates, the window, the batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aggregator.dedupe import entry_features, fresh_entries, plan, thresholds
from aggregator.devtools.entries import text_entry
from aggregator.domain import (
    Candidates,
    DedupeSettings,
    Entry,
    ExistingItem,
    NearCandidate,
    UpdatePlan,
)
from aggregator.similarity import Thresholds

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
AREAS = ("kuzminki", "uvao")

METRO_TITLE = "Новая станция метро «Сосновая роща» откроется на Троицкой линии в декабре"
METRO_LEAD = (
    "Станцию «Сосновая роща» Троицкой линии метро откроют для пассажиров в декабре. "
    "Она станет пятнадцатой на линии, рассказали в Департаменте строительства."
)
METRO_REPRINT_TITLE = "На Троицкой линии в декабре откроется станция «Сосновая роща»"
METRO_REPRINT_LEAD = (
    "Текст: Юго-Восточный курьер. Станцию «Сосновая роща» Троицкой линии метро откроют "
    "для пассажиров в декабре. Она станет пятнадцатой на линии. Читайте также: "
    "В Некрасовке построят бассейн"
)
# Same weekly format and subject, another week and other facts: a hard negative.
PARKING_TITLE = "Парковка в центре Москвы будет бесплатной 4 ноября"
PARKING_LEAD = "В праздничный день 4 ноября парковка на улично-дорожной сети будет бесплатной."
PARKING_OTHER_TITLE = "Парковка в центре Москвы будет бесплатной 8 марта"
PARKING_OTHER_LEAD = "В праздничный день 8 марта парковка на улично-дорожной сети будет бесплатной."


def entry(key: str, title: str, lead: str, *, published: datetime = NOW) -> Entry:
    return text_entry(key, title, lead, published, link=f"https://{key}.example/news")


def stored(story_id: int, item_id: int, e: Entry) -> NearCandidate:
    return NearCandidate(story_id, item_id, e.published, entry_features(e))


def near_plan(
    entries: list[Entry], *found: NearCandidate, limits: Thresholds | None = None
) -> UpdatePlan:
    candidates = Candidates({}, {}, {}, near=tuple(found))
    features = {e.key: entry_features(e) for e in entries}
    return plan(entries, candidates, AREAS, lambda _: (), features=features, limits=limits)


def test_reprint_with_new_title_byline_and_teaser_joins_the_stored_story() -> None:
    original = entry("kuzminki", METRO_TITLE, METRO_LEAD, published=NOW - timedelta(hours=3))
    result = near_plan(
        [entry("uv", METRO_REPRINT_TITLE, METRO_REPRINT_LEAD)], stored(7, 70, original)
    )
    (new,) = result.new_items
    assert (new.story_id, new.new_story_key) == (7, None)
    assert new.features is not None and new.features.band_keys


def test_same_template_with_other_numbers_starts_its_own_story() -> None:
    november = entry("m24", PARKING_TITLE, PARKING_LEAD, published=NOW - timedelta(days=1))
    result = near_plan(
        [entry("vm", PARKING_OTHER_TITLE, PARKING_OTHER_LEAD)], stored(3, 30, november)
    )
    (new,) = result.new_items
    assert new.story_id is None and new.new_story_key is not None


def test_a_candidate_outside_the_window_is_not_joined() -> None:
    old = entry("kuzminki", METRO_TITLE, METRO_LEAD, published=NOW - timedelta(days=8))
    result = near_plan([entry("uv", METRO_REPRINT_TITLE, METRO_REPRINT_LEAD)], stored(7, 70, old))
    assert result.new_items[0].story_id is None
    wide = Thresholds(window=timedelta(days=10))
    result = near_plan(
        [entry("uv", METRO_REPRINT_TITLE, METRO_REPRINT_LEAD)], stored(7, 70, old), limits=wide
    )
    assert result.new_items[0].story_id == 7


def test_the_most_similar_verified_candidate_wins() -> None:
    loose = entry("a", "Станция «Сосновая роща» откроется в декабре", METRO_LEAD[:60])
    close = entry("b", METRO_TITLE, METRO_LEAD)
    incoming = entry("c", METRO_TITLE, METRO_LEAD + " Читайте также: новости района")
    result = near_plan([incoming], stored(1, 10, loose), stored(2, 20, close))
    assert result.new_items[0].story_id == 2


def test_an_exact_link_match_wins_over_a_near_match() -> None:
    incoming = entry("uv", METRO_REPRINT_TITLE, METRO_REPRINT_LEAD)
    original = entry("kuzminki", METRO_TITLE, METRO_LEAD)
    candidates = Candidates({}, {incoming.link or "": 5}, {}, near=(stored(7, 70, original),))
    features = {incoming.key: entry_features(incoming)}
    result = plan([incoming], candidates, AREAS, lambda _: (), features=features)
    assert result.new_items[0].story_id == 5


def test_near_duplicates_within_one_batch_share_one_new_story() -> None:
    batch = [
        entry("a", METRO_TITLE, METRO_LEAD),
        entry("b", PARKING_TITLE, PARKING_LEAD),
        entry("c", METRO_REPRINT_TITLE, METRO_REPRINT_LEAD),
    ]
    keys = [item.new_story_key for item in near_plan(batch).new_items]
    assert keys[0] == keys[2] and keys[0] != keys[1] and None not in keys


def test_without_features_only_exact_matches_count() -> None:
    original = entry("kuzminki", METRO_TITLE, METRO_LEAD)
    candidates = Candidates({}, {}, {}, near=(stored(7, 70, original),))
    incoming = entry("uv", METRO_REPRINT_TITLE, METRO_REPRINT_LEAD)
    assert plan([incoming], candidates, AREAS, lambda _: ()).new_items[0].story_id is None


def test_features_round_trip_through_their_stored_form() -> None:
    stored_form = entry_features(entry("a", METRO_TITLE, METRO_LEAD))
    assert stored_form.signature[:2] == b"MH"
    assert len(stored_form.shingles) % 4 == 0
    assert "2026" not in stored_form.numbers and len(stored_form.band_keys) == 42


def test_thresholds_follow_the_settings() -> None:
    settings = DedupeSettings(min_score=0.55, number_veto=False, window=timedelta(days=3))
    limits = thresholds(settings)
    assert (limits.min_score, limits.number_veto, limits.window) == (0.55, False, timedelta(3))
    assert thresholds(DedupeSettings()) == Thresholds()


def test_only_new_and_changed_entries_need_features() -> None:
    same, changed, new = (entry(k, METRO_TITLE, METRO_LEAD) for k in ("a", "b", "c"))
    stored = {"a": ExistingItem(1, 1, same.content_hash), "b": ExistingItem(2, 2, "old")}
    assert [e.key for e in fresh_entries([same, changed, new], stored)] == ["b", "c"]
