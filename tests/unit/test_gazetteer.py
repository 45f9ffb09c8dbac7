"""Unit tests for district and okrug mentions: inflections, variants and each context rule."""

from __future__ import annotations

from datetime import date

import pytest

from aggregator.domain import Config, District, Okrug
from aggregator.gazetteer import Gazetteer, Mention, build_gazetteer

_DISTRICTS = {
    "cao": [
        ("arbat", "Арбат"),
        ("basmannyy", "Басманный"),
        ("tverskoy", "Тверской"),
        ("presnenskiy", "Пресненский"),
        ("taganskiy", "Таганский"),
    ],
    "sao": [
        ("aeroport", "Аэропорт"),
        ("sokol", "Сокол"),
        ("begovoy", "Беговой"),
        ("dmitrovskiy", "Дмитровский"),
    ],
    "svao": [("marfino", "Марфино"), ("marina-roshcha", "Марьина Роща"), ("severnyy", "Северный")],
    "vao": [
        ("vostochnyy", "Восточный"),
        ("novokosino", "Новокосино"),
        ("sokolniki", "Сокольники"),
        ("sokolinaya-gora", "Соколиная Гора"),
    ],
    "uvao": [("kuzminki", "Кузьминки"), ("marino", "Марьино"), ("lyublino", "Люблино")],
    "uao": [
        ("biryulevo-zapadnoe", "Бирюлёво Западное"),
        ("donskoy", "Донской"),
        ("moskvoreche-saburovo", "Москворечье-Сабурово"),
        ("orekhovo-borisovo-yuzhnoe", "Орехово-Борисово Южное"),
    ],
    "uzao": [
        ("akademicheskiy", "Академический"),
        ("yuzhnoe-butovo", "Южное Бутово"),
        ("cheremushki", "Черёмушки"),
        ("prospekt-vernadskogo", "Проспект Вернадского"),
    ],
    "zelao": [("kryukovo", "Крюково"), ("staroe-kryukovo", "Старое Крюково")],
    "nao": [
        ("vnukovo", "Внуково"),
        ("kommunarka", "Коммунарка"),
        ("shcherbinka", "Щербинка"),
        ("filimonkovskiy", "Филимонковский"),
    ],
    "tao": [("troitsk", "Троицк")],
}
_SETTLEMENTS = {
    "nao": [
        ("moskovskiy", "Московский"),
        ("sosenskoe", "Сосенское"),
        ("filimonkovskoe", "Филимонковское"),
        ("go-shcherbinka", "Щербинка"),
        ("mosrentgen", "Мосрентген"),
        ("vnukovskoe", "Внуковское"),
    ],
    "tao": [("kievskiy", "Киевский"), ("pervomayskoe", "Первомайское"), ("go-troitsk", "Троицк")],
}
_OKRUGS = [
    ("cao", "ЦАО", "Центральный"),
    ("sao", "САО", "Северный"),
    ("svao", "СВАО", "Северо-Восточный"),
    ("vao", "ВАО", "Восточный"),
    ("uvao", "ЮВАО", "Юго-Восточный"),
    ("uao", "ЮАО", "Южный"),
    ("uzao", "ЮЗАО", "Юго-Западный"),
    ("zao", "ЗАО", "Западный"),
    ("zelao", "ЗелАО", "Зеленоградский"),
    ("nao", "НАО", "Новомосковский"),
    ("tao", "ТАО", "Троицкий"),
]


def _config() -> Config:
    districts = [
        District(slug, name, okrug) for okrug, items in _DISTRICTS.items() for slug, name in items
    ] + [
        District(slug, name, okrug, "settlement", date(2024, 5, 8))
        for okrug, items in _SETTLEMENTS.items()
        for slug, name in items
    ]
    okrugs = [
        Okrug(
            slug,
            f"{short} административный округ",
            abbr,
            short,
            tuple(d.slug for d in districts if d.okrug == slug),
        )
        for slug, abbr, short in _OKRUGS
    ]
    return Config(tuple(okrugs), tuple(districts), (), ())


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return build_gazetteer(_config())


def _slugs(gazetteer: Gazetteer, text: str) -> list[str]:
    return [m.slug for m in gazetteer.mentions("", text)]


def _case(text: str, *slugs: str) -> tuple[str, list[str]]:
    return text, list(slugs)


INFLECTIONS = [
    _case("В Южном Бутове открыли школу", "yuzhnoe-butovo"),
    _case("Жители Южного Бутова", "yuzhnoe-butovo"),
    _case("Бутово Южное", "yuzhnoe-butovo"),
    _case("Марьина Роща", "marina-roshcha"),
    _case("в Марьиной Роще", "marina-roshcha"),
    _case("жителей Марьиной рощи", "marina-roshcha"),
    _case("Москворечье-Сабурово", "moskvoreche-saburovo"),
    _case("в Москворечье-Сабурове", "moskvoreche-saburovo"),
    _case("Москворечье Сабурово", "moskvoreche-saburovo"),
    _case("Бирюлёво Западное", "biryulevo-zapadnoe"),
    _case("в Бирюлеве Западном", "biryulevo-zapadnoe"),
    _case("в Западном Бирюлёве", "biryulevo-zapadnoe"),
    _case("в Орехове-Борисове Южном", "orekhovo-borisovo-yuzhnoe"),
    _case("жители Кузьминок", "kuzminki"),
    _case("в Кузьминках", "kuzminki"),
    _case("в Черёмушках и жителей Черемушек", "cheremushki", "cheremushki"),
    _case("в Марьине", "marino"),
    _case("Марьино", "marino"),
    _case("в Марфине", "marfino"),
    _case("Марфино и Марьино", "marfino", "marino"),
    _case("в Мосрентгене", "mosrentgen"),
    _case("Мосрентген", "mosrentgen"),
    _case("в Старом Крюкове", "staroe-kryukovo"),
    _case("в Крюкове", "kryukovo"),
    _case("в Соколиной Горе", "sokolinaya-gora"),
    _case("в Сокольниках", "sokolniki"),
    _case(
        "Троицкий собор",
    ),
    _case("в Троицке", "troitsk"),
    _case(
        "",
    ),
]


@pytest.mark.parametrize(("text", "expected"), INFLECTIONS)
def test_inflected_names(gazetteer: Gazetteer, text: str, expected: list[str]) -> None:
    assert _slugs(gazetteer, text) == expected


CONTEXT_RULES = [
    # Аэропорт and Сокол: only after a district word, in the nominative
    _case("в районе Аэропорт", "aeroport"),
    _case("управа района Аэропорт", "aeroport"),
    _case("жители района «Сокол»", "sokol"),
    _case("муниципального округа Сокол", "sokol"),
    _case("у метро Сокол"),
    _case("в аэропорту Шереметьево"),
    _case("в районе аэропорта"),
    _case("Сокол летал над парком"),
    # Арбат: the street is not the district
    _case("на Арбате"),
    _case("улица Арбат"),
    _case("Старый Арбат"),
    _case("район Арбат", "arbat"),
    _case("Совет депутатов района Арбат", "arbat"),
    # Проспект Вернадского: the avenue is not the district
    _case("на проспекте Вернадского"),
    _case("управа района Проспект Вернадского", "prospekt-vernadskogo"),
    # Восточный, Северный: only after район or поселок
    _case("район Восточный", "vostochnyy"),
    _case("в поселке Восточный", "vostochnyy"),
    _case("в районе Северный", "severnyy"),
    _case("Восточный ветер"),
    _case("Северный филиал"),
    _case("в Северном районе"),
    _case("в районе Восточного вокзала"),
    # Кузьминки, Люблино, Сокольники: parks and estates
    _case("парк Кузьминки"),
    _case("в парке «Кузьминки»"),
    _case("усадьба Люблино"),
    _case("в парке Сокольники"),
    _case("в районе Кузьминки", "kuzminki"),
    # Новокосино, Марьино: stations
    _case("станция Новокосино"),
    _case("у станции метро «Новокосино»"),
    _case("метро Марьино"),
    _case("в Новокосине", "novokosino"),
    _case("станция Крюково"),
    # Внуково: the airport
    _case("аэропорт Внуково"),
    _case("в аэропорту «Внуково»"),
    _case("район Внуково", "vnukovo"),
    _case("во Внукове открыли школу", "vnukovo"),
    # adjective names: only with район
    _case("в Басманном районе", "basmannyy"),
    _case("Басманный район", "basmannyy"),
    _case("управа Басманного района", "basmannyy"),
    _case("района Басманный", "basmannyy"),
    _case("Басманный суд"),
    _case("Басманный районный суд"),
    _case("Тверская улица"),
    _case("на Тверской"),
    _case("Тверской бульвар"),
    _case("в Тверском районе", "tverskoy"),
    _case("Донской монастырь"),
    _case("в Донском районе", "donskoy"),
    _case("Академический театр"),
    _case("Академический район", "akademicheskiy"),
    _case("Беговая улица"),
    _case("района Беговой", "begovoy"),
    _case("на Дмитровском шоссе"),
    _case("в районе Дмитровского шоссе"),
    _case("в Дмитровском районе", "dmitrovskiy"),
    _case("Тверского и Пресненского районов", "tverskoy", "presnenskiy"),
    _case("в Басманном, Таганском и Тверском районах", "basmannyy", "taganskiy", "tverskoy"),
]


@pytest.mark.parametrize(("text", "expected"), CONTEXT_RULES)
def test_context_rules(gazetteer: Gazetteer, text: str, expected: list[str]) -> None:
    assert _slugs(gazetteer, text) == expected


SETTLEMENTS = [
    _case("поселение Московский", "moskovskiy"),
    _case("в поселении Московский", "moskovskiy"),
    _case("Московский вокзал"),
    _case("московские школы"),
    _case("поселок Киевский", "kievskiy"),
    _case("Киевский вокзал"),
    _case("в поселении Первомайское", "pervomayskoe"),
    _case("Первомайское шествие"),
    _case("в Сосенском", "sosenskoe"),
    _case("поселение Сосенское", "sosenskoe"),
    _case("Внуковское", "vnukovskoe"),
    _case("Филимонковское поселение", "filimonkovskoe"),
    _case("в поселении Филимонковское", "filimonkovskoe"),
    _case("Филимонковский район", "filimonkovskiy"),
    _case("в Филимонковском районе", "filimonkovskiy"),
    # a settlement with a current district's name yields the district
    _case("в Щербинке", "shcherbinka"),
    _case("Троицк", "troitsk"),
]


@pytest.mark.parametrize(("text", "expected"), SETTLEMENTS)
def test_settlements(gazetteer: Gazetteer, text: str, expected: list[str]) -> None:
    assert _slugs(gazetteer, text) == expected


OKRUGS = [
    _case("В ЮВАО открыли школу", "uvao"),
    _case("префектура СВАО", "svao"),
    _case("в ЗелАО", "zelao"),
    _case("в ТиНАО", "nao", "tao"),
    _case("ЗАО «Мосинжпроект»"),
    _case('ЗАО "Ромашка"'),
    _case("в ЗАО", "zao"),
    _case("цао"),
    _case("в Юго-Восточном административном округе", "uvao"),
    _case("Юго-Восточный административный округ", "uvao"),
    _case("в Северном округе", "sao"),
    _case("Северный административный округ", "sao"),
    _case("Восточный административный округ", "vao"),
    _case("в Троицком административном округе", "tao"),
    _case("Юго-Восточный курьер"),
    _case("в Зеленограде", "zelao"),
]


@pytest.mark.parametrize(("text", "expected"), OKRUGS)
def test_okrugs(gazetteer: Gazetteer, text: str, expected: list[str]) -> None:
    assert _slugs(gazetteer, text) == expected


def test_mention_carries_original_text_offsets_and_rule(gazetteer: Gazetteer) -> None:
    text = "Жители Марьиной Рощи и ЮВАО"
    found = gazetteer.mentions("", text)
    assert found == [
        Mention("marina-roshcha", "district", "Марьиной Рощи", "plain", 7, 20, False),
        Mention("uvao", "okrug", "ЮВАО", "abbr", 23, 27, False),
    ]
    assert [text[m.start : m.end] for m in found] == [m.text for m in found]


def test_title_mentions_come_first_and_are_flagged(gazetteer: Gazetteer) -> None:
    found = gazetteer.mentions("В Марьине", "и в Марфине")
    assert [(m.slug, m.in_title) for m in found] == [("marino", True), ("marfino", False)]


def test_slugs_are_distinct_in_order(gazetteer: Gazetteer) -> None:
    assert gazetteer.slugs("Марьино", "в Марьине и Марфине, снова Марьино") == ("marino", "marfino")


def test_areas_add_the_okrug_of_each_district(gazetteer: Gazetteer) -> None:
    assert gazetteer.areas("В Марьине", "и в ЦАО") == ("marino", "uvao", "cao")


def test_longest_name_wins(gazetteer: Gazetteer) -> None:
    assert _slugs(gazetteer, "в Марьиной Роще") == ["marina-roshcha"]
    assert _slugs(gazetteer, "Восточный административный округ") == ["vao"]
