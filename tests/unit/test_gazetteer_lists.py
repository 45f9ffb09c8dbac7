"""Gazetteer rules for lists, shared nouns, flights, settlement words after a name and the
adjective «зеленоградский», over the shipped districts.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.config import load_config
from aggregator.gazetteer import Gazetteer, build_gazetteer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return build_gazetteer(load_config(ROOT / "config"))


CASES = [
    # a shared noun names both districts, in either word order
    (
        "Северное и Южное Медведково свяжет новый маршрут",
        ["severnoe-medvedkovo", "yuzhnoe-medvedkovo"],
    ),
    (
        "Жителей Северного и Южного Медведкова позвали на субботник",
        ["severnoe-medvedkovo", "yuzhnoe-medvedkovo"],
    ),
    (
        "В Бирюлёве Западном и Восточном обновят остановки",
        ["biryulevo-zapadnoe", "biryulevo-vostochnoe"],
    ),
    ("В Южном Бутове и Северном Бутове", ["yuzhnoe-butovo", "severnoe-butovo"]),
    # a list after a plural district word: each name counts in the nominative
    ("Районы Арбат и Пресненский получат новые скверы", ["arbat", "presnenskiy"]),
    ("В районах Сокол, Аэропорт и Беговой отремонтируют дороги", ["sokol", "aeroport", "begovoy"]),
    # … but not without the plural word, and not beyond the list
    ("На Арбате и Тверской улице перекроют движение", []),
    ("В районе Арбат и на Тверской улице", ["arbat"]),
    ("Жители районов Сокол и Аэропорт, а также Тверской бульвар", ["sokol", "aeroport"]),
    # a settlement word after the name counts like one before it
    ("В Краснопахорском поселении построили школу", ["krasnopakhorskoe"]),
    ("В поселении Краснопахорское построили школу", ["krasnopakhorskoe"]),
    ("В Краснопахорском районе построили школу", ["krasnopakhorskiy"]),
    # a flight from or to Внуково is the airport
    ("Рейс из Внукова экстренно сел", []),
    ("Самолёт до Внукова задержали из-за тумана", []),
    ("Во Внукове открыли новую школу", ["vnukovo"]),
    ("Жители Внукова выбрали проект сквера", ["vnukovo"]),
    # the adjective of Зеленоград names the okrug, but not the street in САО
    ("Зеленоградские школьники победили на олимпиаде", ["zelao"]),
    ("Зеленоградский технопарк расширят", ["zelao"]),
    ("На Зеленоградской улице откроют кафе", []),
    ("В Зеленоградском административном округе", ["zelao"]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_rule(gazetteer: Gazetteer, text: str, expected: list[str]) -> None:
    assert list(gazetteer.slugs(text, "")) == expected


def test_shared_noun_mention_points_at_its_own_word(gazetteer: Gazetteer) -> None:
    text = "Северное и Южное Медведково"
    mentions = gazetteer.mentions("", text)
    assert [(m.slug, m.text) for m in mentions] == [
        ("severnoe-medvedkovo", "Северное"),
        ("yuzhnoe-medvedkovo", "Южное Медведково"),
    ]
    assert all(text[m.start : m.end] == m.text for m in mentions)
