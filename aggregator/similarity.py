"""Near-duplicate detection for "one story, many sources": shingles, MinHash, LSH, verification.

Pure code: text in, features and decisions out. Candidates are found by equality on LSH band keys
(so a database index can serve every worker); each candidate is then verified on exact shingle
overlap and title similarity before an item joins its story.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np

from aggregator.textnorm import Words, analyze, tokens

SHINGLE_K = 2
"""Word bigrams over stems: robust to reordered clauses, yet specific enough for one event."""

NUM_PERM = 128
SEED = 20251128
"""Fixed forever: stored signatures and band keys are only comparable under one seed."""

LSH_THRESHOLD = 0.3
BANDS = 42
ROWS = 3
"""datasketch's optimal (b, r) for Jaccard 0.3 at 128 permutations with false negatives weighted
0.7 (a shortened lead halves the Jaccard; false candidates only cost a verification)."""

_FORMAT_VERSION = 1
_HEADER = struct.Struct("<2sBIH")
_MAGIC = b"MH"
_EMPTY_VALUE = b"\xff\xff\xff\xff"

_STOP_LIST = (
    "а без в во для до же за и из или к ко как ли на над не ни но о об обо от по под при про "
    "с со у что чтобы это этот эта эти так также уже еще только его ее их он она они мы вы "
    "будет был была были быть есть который которая которые которых которым года году год"
)
_STOP_WORDS = frozenset(_STOP_LIST.split())

_BOILERPLATE_WORDS = (
    "читайте",
    "подписывайтесь",
    "текст",
    "фото",
    "видео",
    "источник",
    "автор",
    "иллюстрация",
    "опубликовано",
)
"""A word each `_BOILERPLATE` pattern needs: a text with none of them has no boilerplate."""
_DIGIT = re.compile(r"\d")
_BOILERPLATE = (
    # A teaser block lists other stories: everything after it is not this article.
    re.compile(r"(?is)\bчитайте\s+также\b.*"),
    re.compile(r"(?is)\bчитайте\s+нас\s+в\b.*"),
    re.compile(r"(?i)\bподписывайтесь\b[^.!\n]*[.!]?"),
    # A byline names a person or an agency in a few words; a longer grab would eat the lead.
    re.compile(
        r"(?i)\b(?:текст|фото|видео|источник|автор|иллюстрация)[^\S\n]*:[^\S\n]*"
        r"(?:[^\s.|]+(?:\.[^\s.|]+)*[^\S\n]*){1,3}"
    ),
    re.compile(r"(?i)\bопубликовано\s+\d{1,2}\s+\S+\s+\d{4}(?:\s+в)?\s+\d{1,2}:\d{2}"),
)


@dataclass(frozen=True)
class Signature:
    """A MinHash signature: `num_perm` 32-bit minima under the fixed seed."""

    values: tuple[int, ...]
    seed: int = SEED

    @property
    def empty(self) -> bool:
        """True for the signature of no shingles at all (every minimum still at its maximum)."""
        return all(v == 0xFFFFFFFF for v in self.values)

    def jaccard(self, other: Signature) -> float:
        """The MinHash estimate of the Jaccard similarity of the two shingle sets."""
        if other.seed != self.seed or len(other.values) != len(self.values):
            raise ValueError("signatures with different seeds or sizes are not comparable")
        if not self.values:
            return 0.0
        same = sum(1 for x, y in zip(self.values, other.values, strict=True) if x == y)
        return same / len(self.values)

    def to_bytes(self) -> bytes:
        """A versioned little-endian encoding, stable across processes and platforms."""
        header = _HEADER.pack(_MAGIC, _FORMAT_VERSION, self.seed, len(self.values))
        return header + struct.pack(f"<{len(self.values)}I", *self.values)

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        """Decode `to_bytes` output; raises ValueError on anything else."""
        if len(data) < _HEADER.size:
            raise ValueError("signature too short")
        magic, version, seed, count = _HEADER.unpack_from(data)
        if magic != _MAGIC or version != _FORMAT_VERSION:
            raise ValueError("not a signature of a known format")
        if len(data) != _HEADER.size + 4 * count:
            raise ValueError("signature length does not match its header")
        return cls(struct.unpack_from(f"<{count}I", data, _HEADER.size), seed)


@dataclass(frozen=True)
class Features:
    """What is stored per item for near-duplicate matching.

    Storage keeps `signature.to_bytes()`, `shingles_bytes()`, and the stems and numbers as
    space-joined text; band keys are recomputed from the signature with `band_keys`.
    """

    signature: Signature
    shingles: frozenset[int]
    """32-bit hashes of the shingles: the exact sets for verification, 4 bytes each."""
    title_stems: tuple[str, ...]
    numbers: frozenset[str] = frozenset()
    """Words with digits (counts, dates, route numbers): templated news differs in these."""

    def shingles_bytes(self) -> bytes:
        """The shingle hashes as sorted little-endian uint32, for storage."""
        ordered = sorted(self.shingles)
        return struct.pack(f"<{len(ordered)}I", *ordered)

    @staticmethod
    def shingles_from_bytes(data: bytes) -> frozenset[int]:
        """Decode `shingles_bytes` output."""
        if len(data) % 4:
            raise ValueError("shingle bytes must be a multiple of 4 long")
        return frozenset(struct.unpack(f"<{len(data) // 4}I", data))


@dataclass(frozen=True)
class Thresholds:
    """Verification thresholds: `eval_dedupe --tune` picked the scores on the tune half only.

    The grid ran with the window off, so same-template stories weeks apart still counted.
    """

    min_score: float = 0.4
    min_containment: float = 0.4
    containment_weight: float = 0.5
    jaccard_weight: float = 0.3
    title_weight: float = 0.2
    number_veto: bool = True
    window: timedelta = field(default=timedelta(days=7))


@dataclass(frozen=True)
class ItemText:
    """One item as the reference clustering sees it."""

    title: str
    lead: str
    published: datetime


def strip_boilerplate(text: str) -> str:
    """Remove bylines, the «Читайте также» block and everything after it, subscription calls."""
    if not _may_have_boilerplate(text):
        return text
    for pattern in _BOILERPLATE:
        text = pattern.sub(" ", text)
    return text


def _may_have_boilerplate(text: str) -> bool:
    """False when no boilerplate pattern can match: none of their words is in the text.

    Most leads have none, and a few substring tests cost far less than the five
    case-insensitive patterns. `casefold` also folds the rare letters that only a
    case-insensitive pattern equates with the Cyrillic ones (ᲂ with о).
    """
    folded = text.casefold()
    return any(word in folded for word in _BOILERPLATE_WORDS)


def words(text: str) -> list[str]:
    """Stemmed content words of `text` after boilerplate removal and normalization."""
    return _content_stems(analyze(strip_boilerplate(text)))


def _shingle_seq(seq: Sequence[str], k: int) -> Iterable[str]:
    if len(seq) < k:
        return [" ".join(seq)] if seq else []
    return (" ".join(seq[i : i + k]) for i in range(len(seq) - k + 1))


def _shingle_words(title_words: Sequence[str], lead_words: Sequence[str], k: int) -> set[str]:
    result = set(_shingle_seq(title_words, k))
    result.update(_shingle_seq(lead_words, k))
    return result


def shingles(title: str, lead: str, k: int = SHINGLE_K) -> set[str]:
    """Word k-shingles over stems; title and lead are shingled apart (no shingle spans both)."""
    return _shingle_words(words(title), words(lead), k)


def numbers(text: str) -> frozenset[str]:
    """The words of `text` that contain a digit, after boilerplate removal."""
    return _with_digits(tokens(strip_boilerplate(text)))


def _with_digits(found: Iterable[str]) -> frozenset[str]:
    # Tokens hold ASCII digits only, so one regex search per word is `any(c.isdigit())`.
    return frozenset(w for w in found if _DIGIT.search(w))


def _hash32(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=4).digest(), "little")


@lru_cache(maxsize=4)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) of each affine permutation h -> a*h + b mod 2**32, `a` odd, drawn from numpy's
    legacy generator exactly as datasketch 2's "affine32" scheme draws them."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, a bijection that spreads structured hash values."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    mixed: np.ndarray = values ^ (values >> np.uint32(16))
    return mixed


def signature(shingles: set[str], num_perm: int = NUM_PERM, seed: int = SEED) -> Signature:
    """The MinHash signature of a shingle set under the fixed seed and hash function.

    The same values as datasketch's `MinHash(scheme="affine32")` (a test compares them), in a
    dozen numpy lines: importing datasketch costs ~60 MB per process (it loads every sketch it
    has), paid by each parse process, which kept a cold cycle above its 300 MB budget.
    """
    return _signature_of_hashes([_hash32(s.encode("utf-8")) for s in shingles], num_perm, seed)


def _signature_of_hashes(
    hashed: list[int], num_perm: int = NUM_PERM, seed: int = SEED
) -> Signature:
    """`signature` of shingles already hashed with `_hash32` (a minimum ignores their order)."""
    values = np.full(num_perm, 0xFFFFFFFF, dtype=np.uint32)
    if hashed:
        mixed = _fmix32(np.array(hashed, dtype=np.uint32).reshape(-1, 1))
        a, b = _permutations(num_perm, seed)
        values = np.minimum(values, (mixed * a + b).min(axis=0))
    return Signature(tuple(values.tolist()), seed)


def band_keys(sig: Signature, bands: int = BANDS, rows: int = ROWS) -> list[int]:
    """One 56-bit key per LSH band (its index in the top byte over a 48-bit hash of its rows);
    none for an empty signature."""
    if bands * rows > len(sig.values):
        raise ValueError(f"{bands} bands x {rows} rows exceed {len(sig.values)} permutations")
    return stored_band_keys(sig.to_bytes(), bands, rows)


def stored_band_keys(data: bytes, bands: int = BANDS, rows: int = ROWS) -> list[int]:
    """`band_keys` of an encoded signature (`Signature.to_bytes`), hashing its bytes in place."""
    # Integers, as `band_sets` stores them: the hex strings these once were cost the parse
    # process their formatting and the ingest thread their parsing, 2.5 million per cold cycle.
    blake2b = hashlib.blake2b
    return [
        band << 48 | int.from_bytes(blake2b(chunk, digest_size=6).digest(), "big")
        for band, chunk in enumerate(band_chunks(data, bands, rows))
    ]


def band_chunks(data: bytes, bands: int = BANDS, rows: int = ROWS) -> list[bytes]:
    """The packed rows of each LSH band of an encoded signature; none for an empty signature.

    Two band keys are equal exactly when their band's chunks are (up to a 48-bit hash
    collision), so the decider compares chunks of stored candidates instead of hashing them:
    it meets every stored candidate, tens of thousands per cold cycle.
    """
    if len(data) < _HEADER.size:
        raise ValueError("signature too short")
    magic, version, _, count = _HEADER.unpack_from(data)
    if magic != _MAGIC or version != _FORMAT_VERSION or len(data) != _HEADER.size + 4 * count:
        raise ValueError("not a signature of a known format")
    if bands * rows > count:
        raise ValueError(f"{bands} bands x {rows} rows exceed {count} permutations")
    start, size = _HEADER.size, 4 * rows
    if data[start:] == _EMPTY_VALUE * count:
        return []
    return [data[at : at + size] for at in range(start, start + bands * size, size)]


def features(title: str, lead: str) -> Features:
    """Compute everything stored per item from its title and lead."""
    return features_of(analyze(title), analyze(lead))


def features_of(title: Words, lead: Words) -> Features:
    """`features` of a title and lead already analyzed."""
    # `shingles`, `signature` and `numbers` in one pass: every text is tokenized, stemmed and
    # its shingles hashed once (this is the largest per-item cost of a cold cycle).
    title_text, lead_text = _without_boilerplate(title), _without_boilerplate(lead)
    title_words = _content_stems(title_text)
    hashed = [
        _hash32(s.encode("utf-8"))
        for s in _shingle_words(title_words, _content_stems(lead_text), SHINGLE_K)
    ]
    if title_text is not title or lead_text is not lead:
        found_numbers = numbers(f"{title.text} {lead.text}")  # a pattern may reach across the two
    else:
        found_numbers = _with_digits(title.tokens + lead.tokens)
    return Features(
        signature=_signature_of_hashes(hashed),
        shingles=frozenset(hashed),
        title_stems=tuple(sorted(set(title_words))),
        numbers=found_numbers,
    )


def _without_boilerplate(text: Words) -> Words:
    """`text` itself, or its analysis after `strip_boilerplate` when it may hold some."""
    return analyze(strip_boilerplate(text.text)) if _may_have_boilerplate(text.text) else text


def _content_stems(text: Words) -> list[str]:
    """The stems of an analyzed text's words that are not stop words."""
    return [
        stem for word, stem in zip(text.words, text.stems, strict=True) if word not in _STOP_WORDS
    ]


def _overlap(a: frozenset[int], b: frozenset[int]) -> tuple[float, float]:
    if not a or not b:
        return 0.0, 0.0
    common = len(a & b)
    return common / len(a | b), common / min(len(a), len(b))


def _title_similarity(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    if not a or not b:
        return 0.0
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb)


def similarity(a: Features, b: Features, thresholds: Thresholds | None = None) -> float:
    """A weighted blend of shingle containment, shingle Jaccard and title word Jaccard in [0, 1]."""
    t = thresholds or Thresholds()
    jaccard, containment = _overlap(a.shingles, b.shingles)
    title = _title_similarity(a.title_stems, b.title_stems)
    total = t.containment_weight + t.jaccard_weight + t.title_weight
    blended = t.containment_weight * containment + t.jaccard_weight * jaccard
    return (blended + t.title_weight * title) / total


def is_duplicate(a: Features, b: Features, thresholds: Thresholds | None = None) -> bool:
    """True when the verified similarity and the shingle containment both clear their thresholds."""
    t = thresholds or Thresholds()
    if t.number_veto and a.numbers and b.numbers and not a.numbers & b.numbers:
        return False  # same template, different facts: another route, week or count
    _, containment = _overlap(a.shingles, b.shingles)
    return containment >= t.min_containment and similarity(a, b, t) >= t.min_score


def within_window(a_published: datetime, b_published: datetime, window: timedelta) -> bool:
    """True when the two publication times are at most `window` apart (in either order)."""
    return abs(a_published - b_published) <= window


def cluster(
    items: Sequence[ItemText],
    thresholds: Thresholds | None = None,
    bands: int = BANDS,
    rows: int = ROWS,
) -> list[int]:
    """Greedy clustering in arrival order: the story number (0, 1, ...) of each item.

    Each item joins the story of its most similar verified candidate among earlier items that
    share a band key and fall within the window; otherwise it starts a new story.
    """
    t = thresholds or Thresholds()
    index: dict[int, list[int]] = {}
    feats: list[Features] = []
    labels: list[int] = []
    next_story = 0
    for i, item in enumerate(items):
        current = features(item.title, item.lead)
        keys = band_keys(current.signature, bands, rows)
        candidates = sorted({j for key in keys for j in index.get(key, ())})
        best, best_score = -1, -1.0
        for j in candidates:
            if not within_window(item.published, items[j].published, t.window):
                continue
            if not is_duplicate(current, feats[j], t):
                continue
            score = similarity(current, feats[j], t)
            if score > best_score:
                best, best_score = j, score
        if best >= 0:
            labels.append(labels[best])
        else:
            labels.append(next_story)
            next_story += 1
        feats.append(current)
        for key in keys:
            index.setdefault(key, []).append(i)
    return labels
