"""The join-or-new-story decider: entries and stored candidates in, a plan out.

An entry already stored under its key in this feed is unchanged or changed. A new entry joins
the story of an item with the same canonical link or the same content fingerprint, from any
feed; failing that, the story of its most similar verified near-duplicate (a stored item or an
earlier entry of the batch sharing an LSH band key, within the time window), mirroring
`similarity.cluster`; otherwise it starts a story of its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from aggregator import similarity
from aggregator.domain import (
    Candidates,
    ChangedItem,
    DedupeSettings,
    Entry,
    ExistingItem,
    ItemFeatures,
    NewItem,
    UpdatePlan,
)
from aggregator.identity import story_key
from aggregator.search import terms_of
from aggregator.similarity import Features, Signature, Thresholds
from aggregator.textnorm import Words, analyze

TopicsOf = Callable[[Entry], tuple[str, ...]]
AreasOf = Callable[[Entry], tuple[str, ...]]


def _no_mentions(entry: Entry) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class Target:
    """The story an item goes to: a stored story's id, or the key of a story new in this plan."""

    story_id: int | None
    new_key: str | None


@dataclass(frozen=True)
class _Indexed:
    target: Target
    published: datetime
    features: Features


def thresholds(settings: DedupeSettings) -> Thresholds:
    """The similarity thresholds of the configured dedupe settings."""
    return Thresholds(
        min_score=settings.min_score,
        min_containment=settings.min_containment,
        containment_weight=settings.containment_weight,
        jaccard_weight=settings.jaccard_weight,
        title_weight=settings.title_weight,
        number_veto=settings.number_veto,
        window=settings.window,
    )


def entry_features(
    entry: Entry, title: Words | None = None, lead: Words | None = None
) -> ItemFeatures:
    """The stored near-duplicate features of an entry, from its title and plain-text lead
    (`title` and `lead` are their analyses, when the caller has them already)."""
    title = analyze(entry.title) if title is None else title
    lead = analyze(entry.summary) if lead is None else lead
    found = similarity.features_of(title, lead)
    signature = found.signature.to_bytes()
    return ItemFeatures(
        signature=signature,
        shingles=found.shingles_bytes(),
        title_stems=found.title_stems,
        numbers=tuple(sorted(found.numbers)),
        band_keys=tuple(similarity.stored_band_keys(signature)),
        search_terms=tuple(sorted(terms_of((title, lead)))),
    )


def fresh_entries(entries: Sequence[Entry], stored: Mapping[str, ExistingItem]) -> list[Entry]:
    """The entries that are new or changed: only they need features (MinHash costs ~1 ms)."""
    return [
        entry
        for entry in entries
        if (known := stored.get(entry.key)) is None or known.content_hash != entry.content_hash
    ]


def decode(stored: ItemFeatures) -> Features:
    """Stored features back as `similarity.Features`."""
    return Features(
        signature=Signature.from_bytes(stored.signature),
        shingles=Features.shingles_from_bytes(stored.shingles),
        title_stems=stored.title_stems,
        numbers=frozenset(stored.numbers),
    )


def band_keys_of(stored: ItemFeatures) -> tuple[int, ...]:
    """The item's LSH band keys: as given, or recomputed from the signature."""
    if stored.band_keys:
        return stored.band_keys
    return tuple(similarity.stored_band_keys(stored.signature))


class _BandLookup:
    """The entries' band keys by band and packed rows: a candidate's shared keys are then found
    by comparing its bands' bytes, without hashing them (`similarity.band_chunks`)."""

    def __init__(self, entries: Iterable[ItemFeatures]) -> None:
        self._bands: list[dict[bytes, int]] = []
        self._keys: set[int] = set()
        for stored in entries:
            keys = band_keys_of(stored)
            self._keys.update(keys)
            chunks = similarity.band_chunks(stored.signature) if keys else []
            for band, (chunk, key) in enumerate(zip(chunks, keys, strict=True)):
                if band == len(self._bands):
                    self._bands.append({})
                self._bands[band][chunk] = key

    def shared(self, candidate: ItemFeatures) -> list[int]:
        """The band keys `candidate` shares with some entry."""
        if not self._bands:
            return []
        if candidate.band_keys:
            return [key for key in candidate.band_keys if key in self._keys]
        chunks = similarity.band_chunks(candidate.signature)
        return [
            key
            for lookup, chunk in zip(self._bands, chunks, strict=False)
            if (key := lookup.get(chunk)) is not None
        ]


class _NearIndex:
    """Items by LSH band key, as `similarity.cluster` keeps them, with the story each belongs to."""

    def __init__(self, limits: Thresholds) -> None:
        self.limits = limits
        self._by_key: dict[int, list[_Indexed]] = {}

    def add(self, keys: Sequence[int], indexed: _Indexed) -> None:
        for key in keys:
            self._by_key.setdefault(key, []).append(indexed)

    def best(self, keys: Sequence[int], published: datetime, current: Features) -> Target | None:
        """The target of the most similar verified candidate sharing a band key, if any."""
        seen: set[int] = set()
        best: Target | None = None
        best_score = -1.0
        for key in keys:
            for item in self._by_key.get(key, ()):
                if id(item) in seen:
                    continue
                seen.add(id(item))
                if not similarity.within_window(published, item.published, self.limits.window):
                    continue
                if not similarity.is_duplicate(current, item.features, self.limits):
                    continue
                score = similarity.similarity(current, item.features, self.limits)
                if score > best_score:
                    best, best_score = item.target, score
        return best


def plan(
    entries: Sequence[Entry],
    candidates: Candidates,
    areas: tuple[str, ...],
    topics_of: TopicsOf,
    mentions_of: AreasOf = _no_mentions,
    *,
    features: Mapping[str, ItemFeatures] | None = None,
    limits: Thresholds | None = None,
) -> UpdatePlan:
    """Decide, for each normalized entry of one feed, whether it is new, changed or unchanged.

    `areas` are the source's own areas; `mentions_of` gives the areas an entry's text names.
    Near-duplicate matching runs when `features` (by entry key) are given; else exact only.
    """
    near = _NearIndex(limits or Thresholds())
    # A later entry of this feed finds an earlier one through a band key both have: the keys
    # no other entry has need not be indexed (nearly all: indexing all 42 keys of every entry
    # took ~5 % of the ingest thread in a cold cycle, by py-spy).
    repeated: set[int] = set()
    if features is not None:
        counts = Counter(key for stored in features.values() for key in band_keys_of(stored))
        repeated = {key for key, count in counts.items() if count > 1}
        # Only the entries' keys are ever looked up: a candidate is indexed under those alone.
        wanted = _BandLookup(features.values())
        for found in candidates.near:
            shared = wanted.shared(found.features)
            if shared:
                indexed = _Indexed(
                    Target(found.story_id, None), found.published, decode(found.features)
                )
                near.add(shared, indexed)
    new_items: list[NewItem] = []
    changed: list[ChangedItem] = []
    unchanged = 0
    batch: dict[str, Target] = {}
    for entry in entries:
        stored = features.get(entry.key) if features is not None else None
        existing = candidates.items.get(entry.key)
        if existing is not None:
            if existing.content_hash == entry.content_hash:
                unchanged += 1
            else:
                changed.append(
                    ChangedItem(
                        existing.item_id,
                        existing.story_id,
                        entry,
                        topics_of(entry),
                        mentions_of(entry),
                        stored,
                    )
                )
            continue
        target = _exact_target(entry, candidates, batch)
        decoded = decode(stored) if stored is not None else None
        keys = band_keys_of(stored) if stored is not None else ()
        if target is None and decoded is not None:
            target = near.best(keys, entry.published, decoded)
        if target is None:
            target = Target(None, story_key(entry))
        for marker in _markers(entry):
            batch.setdefault(marker, target)
        if decoded is not None:
            near.add(
                [key for key in keys if key in repeated], _Indexed(target, entry.published, decoded)
            )
        new_items.append(
            NewItem(
                entry,
                target.story_id,
                target.new_key,
                areas,
                topics_of(entry),
                mentions_of(entry),
                stored,
            )
        )
    return UpdatePlan(tuple(new_items), tuple(changed), unchanged)


def _exact_target(
    entry: Entry, candidates: Candidates, batch: Mapping[str, Target]
) -> Target | None:
    """A stored story with the same link or fingerprint, else an earlier entry's of this batch."""
    if entry.link is not None and entry.link in candidates.stories_by_link:
        return Target(candidates.stories_by_link[entry.link], None)
    if entry.fingerprint in candidates.stories_by_fingerprint:
        return Target(candidates.stories_by_fingerprint[entry.fingerprint], None)
    for marker in _markers(entry):
        if marker in batch:
            return batch[marker]
    return None


def _markers(entry: Entry) -> list[str]:
    markers = [f"fp:{entry.fingerprint}"]
    if entry.link is not None:
        markers.append(f"link:{entry.link}")
    return markers
