"""Unit tests of the near-duplicate core: boilerplate, shingles, signatures, bands, verification."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.similarity import (
    BANDS,
    LSH_THRESHOLD,
    NUM_PERM,
    ROWS,
    SEED,
    Features,
    ItemText,
    Signature,
    Thresholds,
    _hash32,
    band_chunks,
    band_keys,
    cluster,
    features,
    is_duplicate,
    numbers,
    shingles,
    signature,
    similarity,
    stored_band_keys,
    strip_boilerplate,
    within_window,
    words,
)

TITLE = "Собянин открыл станцию метро «Пыхтино»"
LEAD = (
    "Сергей Собянин открыл станцию «Пыхтино» Солнцевской линии метро. Она расположена рядом с "
    "жилыми кварталами Новомосковского округа и улучшит транспортное обслуживание более 100 тысяч "
    "жителей. С платформы можно пересесть на автобусы до аэропорта Внуково."
)
OTHER_TITLE = "В Кузьминках начался переезд по программе реновации"
OTHER_LEAD = (
    "Жители четырех пятиэтажек в Кузьминках начали переезжать в новый дом по программе "
    "реновации на Волгоградском проспекте. В новостройке 286 квартир с отделкой."
)
T0 = datetime(2025, 9, 5, 9, 0, tzinfo=UTC)


# --- boilerplate -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Текст: Анна Смирнова. Жители выбрали сквер.", ["жител", "выбра", "сквер"]),
        ("Жители выбрали сквер. Фото: mos.ru", ["жител", "выбра", "сквер"]),
        ("Жители выбрали сквер. Источник: пресс-служба управы", ["жител", "выбра", "сквер"]),
        (
            "Жители выбрали сквер. Читайте также Где купить елку 16 Окт 2025",
            ["жител", "выбра", "сквер"],
        ),
        ("Жители выбрали сквер. ЧИТАЙТЕ ТАКЖЕ:\nДругая новость.", ["жител", "выбра", "сквер"]),
        (
            "Жители выбрали сквер. Подписывайтесь на наш канал в Telegram! Конец.",
            ["жител", "выбра", "сквер", "конец"],
        ),
        (
            "Опубликовано 06 Июл 2022 в 15:29 | Текст: Юго-Восточный курьер\nЖители выбрали сквер.",
            ["жител", "выбра", "сквер"],
        ),
        ("Текст закона опубликован.", ["текст", "закон", "опубликова"]),
        ("Фотовыставка открылась.", ["фотовыставк", "откр"]),
        ("", []),
    ],
)
def test_words_strip_boilerplate(text: str, expected: list[str]) -> None:
    assert words(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Сквер благоустроят весной.",
        "В сквере появятся дорожки, площадка для собак и амфитеатр.",
    ],
)
def test_strip_boilerplate_keeps_plain_text(text: str) -> None:
    assert strip_boilerplate(text) == text


def test_strip_boilerplate_sees_letters_a_case_insensitive_pattern_equates() -> None:
    # U+1C82 is a variant of «о» that re.IGNORECASE matches: the quick word check must too.
    assert strip_boilerplate("Парк открыли. Ф\u1c82ТО: Иван Петров") == "Парк открыли.  "


@pytest.mark.parametrize(
    ("title", "lead"),
    [
        (TITLE, LEAD),
        ("Открыли парк на 5 гектаров. Фото:", "Иван 12 Петров, 34 новых скамейки"),
        ("Читайте также", "о 12 новых станциях"),
        ("Маршрут № 7", "Подписывайтесь на 2 канала! В 3 районах"),
        ("", ""),
    ],
)
def test_features_equal_the_separate_functions(title: str, lead: str) -> None:
    # `features` tokenizes each text once; it must give what the public functions give apart,
    # also when a byline in the title reaches into the lead («Фото:» then three words).
    found = features(title, lead)
    assert found.signature == signature(shingles(title, lead))
    assert found.shingles == frozenset(_hash32(s.encode()) for s in shingles(title, lead))
    assert found.title_stems == tuple(sorted(set(words(title))))
    assert found.numbers == numbers(f"{title} {lead}")


def test_byline_across_title_and_lead_hides_its_numbers() -> None:
    assert features("Парк на 5 гектаров. Фото:", "Иван 12 Петров, 34 скамейки").numbers == {
        "5",
        "34",
    }


def test_byline_takes_at_most_three_words() -> None:
    assert words("Текст: Юго-Восточный курьер Жители выбрали сквер.")[-2:] == ["выбра", "сквер"]


# --- shingles --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            ("Ёлочные базары откроются", "Продадут ёлки"),
            ("Елочные базары откроются", "Продадут елки"),
        ),
        (("Станция «Пыхтино»", "Открыта «Пыхтино»"), ('Станция "Пыхтино"', 'Открыта "Пыхтино"')),
        (("СТАНЦИЯ МЕТРО", "Открыта."), ("станция метро", "открыта")),
        (("МЦД-2 изменит расписание", ""), ("МЦД 2 изменит расписание", "")),
        (("Станция — открыта", "Её ждали!"), ("Станция открыта", "Ее ждали")),
    ],
)
def test_shingles_ignore_spelling_variants(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert shingles(*a) == shingles(*b)


@pytest.mark.parametrize(
    ("title", "lead", "k", "expected"),
    [
        ("Станция метро открыта", "", 2, {"станц метр", "метр открыт"}),
        ("Станция метро открыта", "", 1, {"станц", "метр", "открыт"}),
        ("Станция", "", 2, {"станц"}),
        ("Станция метро", "Открыта вчера", 2, {"станц метр", "открыт вчер"}),
        ("", "", 2, set()),
        ("и в на", "", 2, set()),
    ],
)
def test_shingles(title: str, lead: str, k: int, expected: set[str]) -> None:
    assert shingles(title, lead, k) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Маршрут т35 с интервалом 8 минут", {"т35", "8"}),
        ("Без чисел", set()),
        ("МЦД-2 в 2025 году", {"мцд-2", "2025"}),
        ("Текст: Отдел 5. Новость без чисел", set()),
    ],
)
def test_numbers(text: str, expected: set[str]) -> None:
    assert numbers(text) == expected


# --- signatures ------------------------------------------------------------------------------


def test_signature_round_trip() -> None:
    sig = signature(shingles(TITLE, LEAD))
    data = sig.to_bytes()
    assert len(data) == 9 + 4 * NUM_PERM
    assert Signature.from_bytes(data) == sig


def test_signature_is_pinned() -> None:
    """Stored signatures stay comparable only if seed, hash and permutations never change."""
    sig = signature(shingles("Собянин открыл станцию метро «Пыхтино»", LEAD.split(".")[1]))
    assert sig.seed == SEED
    assert len(sig.values) == NUM_PERM
    sig = signature(
        shingles(
            "Собянин открыл станцию метро «Пыхтино»",
            "Станция расположена рядом с жилыми кварталами Новомосковского округа.",
        )
    )
    assert sig.values[:4] == (102910405, 119366384, 44644179, 313176714)
    assert hashlib.sha256(sig.to_bytes()).hexdigest()[:16] == "5f40a374a931ab37"
    # The values stored in `band_sets` since they were hex strings: stored keys still match.
    assert band_keys(sig)[:2] == [0x00C2E89EBB244C, 0x01BF8A60A593E6]


@pytest.mark.parametrize(
    "shingle_set",
    [
        {"а б"},
        shingles(TITLE, LEAD),
        {f"слово{n} слово{n + 1}" for n in range(500)},
        {"", " ", "ё", "станция «Зюзино»"},
    ],
)
def test_signature_matches_datasketch_value_for_value(shingle_set: set[str]) -> None:
    from datasketch import MinHash

    reference = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=_hash32, scheme="affine32")
    reference.update_batch([s.encode("utf-8") for s in sorted(shingle_set)])
    assert signature(shingle_set).values == tuple(int(v) for v in reference.hashvalues)


def test_band_keys_of_an_encoded_signature_are_those_of_the_signature() -> None:
    sig = signature(shingles("Собянин открыл станцию метро «Пыхтино»", LEAD))
    assert stored_band_keys(sig.to_bytes()) == band_keys(sig)
    nothing = signature(set())
    assert stored_band_keys(nothing.to_bytes()) == band_keys(nothing) == []
    with pytest.raises(ValueError):
        stored_band_keys(sig.to_bytes()[:-4])


def test_signature_stable_across_processes() -> None:
    code = (
        "from aggregator.similarity import shingles, signature;"
        f"print(signature(shingles({TITLE!r}, {LEAD!r})).to_bytes().hex())"
    )
    outputs = set()
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(done.stdout.strip())
    assert outputs == {signature(shingles(TITLE, LEAD)).to_bytes().hex()}


def test_signature_independent_of_set_order() -> None:
    found = shingles(TITLE, LEAD)
    assert signature(set(sorted(found))) == signature(set(sorted(found, reverse=True)))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"MH",
        b"XX\x01" + bytes(6),
        signature({"а б"}).to_bytes()[:-1],
        signature({"а б"}).to_bytes() + b"\x00",
        b"MH\x02" + bytes(6),
    ],
)
def test_signature_from_bad_bytes(data: bytes) -> None:
    with pytest.raises(ValueError):
        Signature.from_bytes(data)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (Signature((1, 2, 3, 4)), Signature((1, 2, 3, 4)), 1.0),
        (Signature((1, 2, 3, 4)), Signature((1, 2, 0, 0)), 0.5),
        (Signature((1, 2, 3, 4)), Signature((5, 6, 7, 8)), 0.0),
        (Signature(()), Signature(()), 0.0),
    ],
)
def test_signature_jaccard(a: Signature, b: Signature, expected: float) -> None:
    assert a.jaccard(b) == expected


@pytest.mark.parametrize("other", [Signature((1, 2, 3, 4), seed=SEED + 1), Signature((1, 2, 3))])
def test_signature_jaccard_incomparable(other: Signature) -> None:
    with pytest.raises(ValueError):
        Signature((1, 2, 3, 4)).jaccard(other)


def test_signature_estimates_jaccard() -> None:
    a, b = shingles(TITLE, LEAD), shingles(TITLE, LEAD.rsplit(".", 2)[0])
    exact = len(a & b) / len(a | b)
    assert abs(signature(a).jaccard(signature(b)) - exact) < 0.15


# --- band keys -------------------------------------------------------------------------------


def test_band_keys_equal_for_identical_texts() -> None:
    one = band_keys(signature(shingles(TITLE, LEAD)))
    two = band_keys(signature(shingles(TITLE.upper(), LEAD.replace("«", '"').replace("»", '"'))))
    assert one == two
    assert len(one) == BANDS
    assert len(set(one)) == BANDS
    assert all(0 <= key < 1 << 56 for key in one)  # 56 bits: they pack into `band_sets`


def test_band_keys_found_for_shortened_lead() -> None:
    full = band_keys(signature(shingles(TITLE, LEAD)))
    short = band_keys(signature(shingles(TITLE, LEAD.split(". ")[0])))
    assert set(full) & set(short)


def test_band_keys_differ_for_other_story() -> None:
    one = band_keys(signature(shingles(TITLE, LEAD)))
    two = band_keys(signature(shingles(OTHER_TITLE, OTHER_LEAD)))
    assert not set(one) & set(two)


def test_band_keys_carry_band_index() -> None:
    sig = Signature((7,) * NUM_PERM)
    keys = band_keys(sig, 4, 2)
    assert [key >> 48 for key in keys] == [0, 1, 2, 3]
    # Equal rows hash alike; the top byte tells bands apart.
    assert len({key & (1 << 48) - 1 for key in keys}) == 1


def test_band_keys_empty_signature() -> None:
    assert band_keys(signature(set())) == []


def test_band_keys_too_many_rows() -> None:
    with pytest.raises(ValueError):
        band_keys(signature({"а б"}), BANDS, NUM_PERM)


def test_bands_fit_permutations() -> None:
    assert BANDS * ROWS <= NUM_PERM


def test_bands_are_datasketch_optimum() -> None:
    """(b, r) minimise 0.3 x false positives + 0.7 x false negatives around Jaccard 0.3."""
    from datasketch.lsh import _optimal_param

    assert _optimal_param(LSH_THRESHOLD, NUM_PERM, 0.3, 0.7) == (BANDS, ROWS)


# --- verification ----------------------------------------------------------------------------


def test_features_shingle_bytes_round_trip() -> None:
    feats = features(TITLE, LEAD)
    assert Features.shingles_from_bytes(feats.shingles_bytes()) == feats.shingles
    with pytest.raises(ValueError):
        Features.shingles_from_bytes(b"\x00\x01\x02")


VARIANTS = [
    ("identical", TITLE, LEAD, True),
    ("another headline", "На Солнцевской линии заработала станция «Пыхтино»", LEAD, True),
    ("shortened lead", TITLE, LEAD.split(". ")[0] + ".", True),
    ("byline and teaser", TITLE, f"Текст: Ирина Волкова. {LEAD} Читайте также {OTHER_LEAD}", True),
    ("extended lead", TITLE, f"{LEAD} Вестибюли станции оформлены в светлых тонах.", True),
    ("plain quotes, ё", TITLE.replace("«", '"').replace("»", '"'), LEAD.replace("е", "ё", 3), True),
    ("other story", OTHER_TITLE, OTHER_LEAD, False),
    ("same headline, other lead", TITLE, OTHER_LEAD, False),
    ("empty", "", "", False),
]


@pytest.mark.parametrize(
    ("case", "title", "lead", "expected"), VARIANTS, ids=[v[0] for v in VARIANTS]
)
def test_is_duplicate(case: str, title: str, lead: str, expected: bool) -> None:
    assert is_duplicate(features(TITLE, LEAD), features(title, lead)) is expected
    assert is_duplicate(features(title, lead), features(TITLE, LEAD)) is expected


def test_similarity_bounds() -> None:
    base = features(TITLE, LEAD)
    assert similarity(base, base) == pytest.approx(1.0)
    assert similarity(base, features(OTHER_TITLE, OTHER_LEAD)) < 0.2
    assert similarity(base, features("", "")) == 0.0


def test_number_veto_separates_templated_news() -> None:
    template = "В округе запустили маршрут электробуса {}. Интервал в часы пик составит {} минут."
    a = features("Новый маршрут электробуса", template.format("т35", 8))
    b = features("Новый маршрут электробуса", template.format("т77", 10))
    assert not is_duplicate(a, b)
    assert is_duplicate(a, b, Thresholds(number_veto=False))


@pytest.mark.parametrize(
    ("thresholds", "expected"),
    [
        (Thresholds(), True),
        (Thresholds(min_containment=1.01), False),
        (Thresholds(min_score=1.01), False),
        (Thresholds(min_score=0.0, min_containment=0.0), True),
    ],
)
def test_thresholds_decide(thresholds: Thresholds, expected: bool) -> None:
    shortened = features(TITLE, LEAD.split(". ")[0] + ".")
    assert is_duplicate(features(TITLE, LEAD), shortened, thresholds) is expected


def test_default_thresholds() -> None:
    t = Thresholds()
    assert (t.min_score, t.min_containment, t.window) == (0.4, 0.4, timedelta(days=7))


@pytest.mark.parametrize(
    ("delta", "window", "expected"),
    [
        (timedelta(0), timedelta(days=7), True),
        (timedelta(days=7), timedelta(days=7), True),
        (timedelta(days=-7), timedelta(days=7), True),
        (timedelta(days=7, seconds=1), timedelta(days=7), False),
        (timedelta(days=-8), timedelta(days=7), False),
        (timedelta(hours=2), timedelta(hours=1), False),
    ],
)
def test_within_window(delta: timedelta, window: timedelta, expected: bool) -> None:
    assert within_window(T0, T0 + delta, window) is expected


# --- clustering ------------------------------------------------------------------------------


def test_cluster_groups_variants_and_keeps_others_apart() -> None:
    items = [
        ItemText(TITLE, LEAD, T0),
        ItemText(OTHER_TITLE, OTHER_LEAD, T0 + timedelta(hours=1)),
        ItemText(
            "Станция «Пыхтино» открыта", f"Текст: Олег Петров. {LEAD}", T0 + timedelta(hours=2)
        ),
        ItemText(OTHER_TITLE, OTHER_LEAD.split(". ")[0] + ".", T0 + timedelta(hours=3)),
        ItemText(TITLE, LEAD, T0 + timedelta(days=30)),
    ]
    assert cluster(items) == [0, 1, 0, 1, 2]


def test_cluster_empty() -> None:
    assert cluster([]) == []


def test_cluster_empty_texts_stay_apart() -> None:
    items = [ItemText("", "", T0), ItemText("", "", T0)]
    assert cluster(items) == [0, 1]


def test_band_chunks_are_equal_exactly_where_band_keys_are() -> None:
    a = signature(shingles("Собянин открыл станцию метро", "Новая станция в Новой Москве"))
    b = signature(shingles("Собянин открыл станцию метро", "Новая станция в Новой Москве!"))
    c = signature(shingles("В Бирюлёве починили фонтан", "Работы заняли две недели"))
    for x, y in ((a, b), (a, c), (b, c), (a, a)):
        chunks = zip(band_chunks(x.to_bytes()), band_chunks(y.to_bytes()), strict=True)
        same_chunks = [p == q for p, q in chunks]
        same_keys = [p == q for p, q in zip(band_keys(x), band_keys(y), strict=True)]
        assert same_chunks == same_keys
    assert band_chunks(signature(set()).to_bytes()) == []
