"""Unit tests for the Russian text helpers in aggregator.textnorm."""

from __future__ import annotations

import random

import pytest

from aggregator.textnorm import (
    analyze,
    normalize_text,
    split_hyphens,
    stem_forms,
    stem_word,
    stems,
    token_spans,
    tokens,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("Бирюлёво", "бирюлево"),
        ("ЁЛКА во дворе", "елка во дворе"),
        ("  много   пробелов\n\tи\nстрок ", "много пробелов и строк"),
        ("Москворечье-Сабурово", "москворечье-сабурово"),
        ("Москворечье‑Сабурово", "москворечье-сабурово"),
        ("Парк — открыт", "парк открыт"),
        ("Парк - открыт", "парк открыт"),
        ("«Жилищник» района!", "жилищник района"),
        ("МЦД-2: 15 станций.", "мцд-2 15 станций"),
        ("кто-то, где-нибудь?", "кто-то где-нибудь"),
        ("-дефис в начале", "дефис в начале"),
        ("ЮВАО/ЮАО", "ювао юао"),
        ("Москва 24 (M24)", "москва 24 m24"),
    ],
)
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("...", []),
        ("В ЦАО открыли МЦД", ["в", "цао", "открыли", "мцд"]),
        ("Южное Бутово", ["южное", "бутово"]),
        ("жители Москворечья-Сабурова", ["жители", "москворечья-сабурова"]),
        ("«Московское долголетие»", ["московское", "долголетие"]),
        ("Ёлки, палки", ["елки", "палки"]),
        ("2024 год", ["2024", "год"]),
        ("e-mail", ["e-mail"]),
    ],
)
def test_tokens(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


def test_token_spans_point_into_the_original_text() -> None:
    text = "В Бирюлёве-Западном — «праздник»"
    spans = token_spans(text)
    assert [word for word, _, _ in spans] == ["в", "бирюлеве-западном", "праздник"]
    assert [text[start:end] for _, start, end in spans] == ["В", "Бирюлёве-Западном", "праздник"]


def test_token_spans_survive_letters_that_lowercase_to_two() -> None:
    text = "İstanbul и Ёлки—Палки"  # «İ».lower() is two characters: offsets must not shift
    spans = token_spans(text)
    assert [text[start:end] for _, start, end in spans] == ["İstanbul", "и", "Ёлки—Палки"]
    assert [word for word, _, _ in spans] == ["i\u0307stanbul", "и", "елки-палки"]


def test_token_spans_agree_with_tokens() -> None:
    text = "ЮВАО: в Кузьминках‑2 открыли «Жилищник»."
    assert [word for word, _, _ in token_spans(text)] == tokens(text)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([], []),
        (["мцд-2"], ["мцд", "2"]),
        (["москворечье-сабурово", "район"], ["москворечье", "сабурово", "район"]),
        (["a--b"], ["a", "b"]),
    ],
)
def test_split_hyphens(words: list[str], expected: list[str]) -> None:
    assert split_hyphens(words) == expected


@pytest.mark.parametrize(
    "forms",
    [
        ["электробус", "электробусы", "электробусов", "электробусами"],
        ["школа", "школы", "школе", "школ", "школами"],
        ["поликлиника", "поликлиники", "поликлинике", "поликлиникой"],
        ["южное", "южном", "южного"],
        ["бутово", "бутове", "бутова"],
        ["марьина", "марьиной"],
        ["роща", "рощи", "роще", "рощей"],
        ["басманный", "басманном", "басманного", "басманному"],
        ["аэропорт", "аэропорта", "аэропорту"],
    ],
)
def test_stems_unify_inflected_forms(forms: list[str]) -> None:
    assert len(set(stems(forms))) == 1


@pytest.mark.parametrize(
    ("left", "right"),
    [("марфино", "марьино"), ("школа", "шкаф"), ("сокол", "соколиный")],
)
def test_stems_keep_different_words_apart(left: str, right: str) -> None:
    assert stem_word(left) != stem_word(right)


def test_stems_handle_hyphenated_words_part_by_part() -> None:
    assert stems(["москворечья-сабурова"]) == stems(["москворечье-сабурово"])
    assert stems(["москворечье-сабурово", "район"])[1] == stem_word("район")


def test_stems_preserve_order_and_length() -> None:
    words = ["в", "южном", "бутове", "открыли", "школу"]
    assert len(stems(words)) == len(words)
    assert stems(words)[2] == stem_word("бутово")


def test_stems_accept_any_iterable() -> None:
    assert stems(iter(["школы"])) == [stem_word("школа")]


@pytest.mark.parametrize(
    ("word", "oblique"),
    [
        ("кузьминки", "кузьминок"),
        ("пятиэтажка", "пятиэтажек"),
        ("новостройка", "новостроек"),
        ("остановка", "остановок"),
        ("площадка", "площадок"),
        ("каток", "катка"),
        ("боец", "бойцов"),
        ("черемушки", "черемушек"),
    ],
)
def test_stem_forms_bridge_fleeting_vowels(word: str, oblique: str) -> None:
    assert stem_word(oblique) in stem_forms(word)
    assert stem_word(word) in stem_forms(word)


def test_analyze_splits_hyphenated_words_then_stems_each_part() -> None:
    text = "В Москворечье‑Сабурове открыли МЦД-2"
    found = analyze(text)
    assert found.tokens == ["в", "москворечье-сабурове", "открыли", "мцд-2"]
    assert found.words == ["в", "москворечье", "сабурове", "открыли", "мцд", "2"]
    assert found.stems == [stem_word(word) for word in found.words]
    assert [text[start:end] for start, end in found.spans] == [
        "В",
        "Москворечье",
        "Сабурове",
        "открыли",
        "МЦД",
        "2",
    ]


# Without «İ»: `tokens` splits a word at the combining dot its lowercase form has, where
# `token_spans`, and so `analyze`, keeps the word whole (a Turkish letter, not Russian news).
_ALPHABET = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБЁЖЯabcXYZ0123456789-‐‑–— ,.«»\n"


@pytest.mark.parametrize("seed", range(5))
def test_analyze_agrees_with_the_helpers_it_replaces(seed: int) -> None:
    """Every reader of `analyze` used `tokens`, `split_hyphens`, `stems` or `token_spans`."""
    rng = random.Random(seed)
    for _ in range(400):
        text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 40)))
        found = analyze(text)
        assert found.text == text
        assert found.tokens == tokens(text)
        assert found.words == split_hyphens(tokens(text))
        assert found.stems == stems(found.words)
        assert len(found.spans) == len(found.words)
        for word, (start, end) in zip(found.words, found.spans, strict=True):
            assert analyze(text[start:end]).words == [word]
