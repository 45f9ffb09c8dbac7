"""District and okrug mentions in Russian news text, matched on stems with context rules.

Names are compiled once from `Config` into stem phrases (inflected forms, ё/е, swapped word
order of «Бирюлёво Западное», okrug abbreviations and full okrug names). Each name has a
policy that says when a match counts:

==============  =============================================  ===================================
policy          names                                          counts when
==============  =============================================  ===================================
plain           distinctive nouns and phrases: Марьино,        always, unless a station, park or
                Южное Бутово, Марьина Роща, Кузьминки,         airport word stands just before it
                Новокосино, Внуково, Москворечье-Сабурово      («станция Новокосино», «метро
                                                               Марьино», «парк Кузьминки», «усадьба
                                                               Люблино», «аэропорт Внуково»)
adjective       districts named by a masculine adjective:      followed by «район» in any case
                Басманный, Тверской, Донской, Беговой,         («в Басманном районе», «Тверского и
                Академический, Дмитровский                     Пресненского районов»), or in the
                                                               nominative after a district word
                                                               («района Донской», «МО Беговой»);
                                                               «Тверская улица», «Донской
                                                               монастырь», «Академический театр»
                                                               do not count
strict          very common adjectives: Восточный, Северный    only nominative after «район»,
                                                               «поселок» or «муниципальный округ»:
                                                               «район Восточный», «в районе
                                                               Северный», «поселок Восточный»
context         names that are mostly something else:          only nominative after a district
                Аэропорт, Сокол (stations, an airport),        word: «район Аэропорт», «жители
                Арбат (a street), Проспект Вернадского         района Сокол», «управа района
                (an avenue)                                    Арбат»; «на Арбате», «у метро Сокол»
                                                               and «в аэропорту» do not count
settlement      former settlements (until 2024-05-08) whose    only after a settlement word:
                names are common words: Московский,            «поселение Московский», «в поселении
                Киевский, Первомайское; and those sharing a    Первомайское», «поселок Киевский»;
                stem with a district (Краснопахорское,         the others are plain; a settlement
                Филимонковское) unless in the neuter           that has the exact name of a current
                nominative                                     district (Щербинка, Троицк) yields
                                                               the district
abbr            okrug abbreviations: ЦАО, ЮВАО, ЗелАО, ТиНАО   written in capitals; «ЗАО «Компания»»
                                                               (a joint-stock company) does not
                                                               count; ТиНАО names both НАО and ТАО
okrug           full and short okrug names: «Юго-Восточный     always; the short name alone
                административный округ», «в Северном           («Юго-Восточный курьер») does not
                округе», Зеленоград                            count
okrug-adj       «зеленоградский» in any form                   unless a street word follows
                («Зеленоградские школьники»)                   («Зеленоградская улица» is in САО)
==============  =============================================  ===================================

Three rules widen these policies:

- *Lists after a plural district word*: in «районы Арбат и Пресненский», «в районах Сокол,
  Аэропорт и Беговой» every name of the list counts in the nominative, as if «район» stood
  before each.
- *Shared noun*: «Северное и Южное Медведково» names both Медведково districts, «Бирюлёво
  Западное и Восточное» both Бирюлёво ones.
- *Flights*: «рейс из Внукова», «самолёт до Внукова» name the airport, not the district; so do a
  settlement word after a settlement name («в Краснопахорском поселении») the other way round:
  it counts like one before it.

The longest name wins at each position, so «Марьина Роща» never yields Марьино and «Северный
административный округ» never yields the district Северный. A single-word noun name does not match
adjective forms of its stem («Троицкий собор» is not Троицк). Марфино and Марьино have different
stems and never collide.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from aggregator.domain import Config
from aggregator.textnorm import Words, analyze, normalize_text, stem_forms, stem_word

__all__ = ["Gazetteer", "Mention", "build_gazetteer"]

Policy = Literal[
    "plain", "adjective", "strict", "context", "settlement", "abbr", "okrug", "okrug-adj"
]

STRICT_NAMES = frozenset({"восточный", "северный"})
CONTEXT_NAMES = frozenset({"аэропорт", "сокол", "арбат", "проспект вернадского"})
COMMON_SETTLEMENTS = frozenset({"московский", "киевский", "первомайское"})
OKRUG_ALIASES: dict[str, tuple[str, ...]] = {"зеленоград": ("zelao",)}
JOINT_OKRUG_ABBRS: dict[str, tuple[str, ...]] = {"тинао": ("nao", "tao")}
OKRUG_ADJECTIVES: dict[str, tuple[str, ...]] = {"зеленоградский": ("zelao",)}

_ADJ_ENDINGS = ("ый", "ий", "ой", "ое", "ее", "ая", "яя")
# Adjective endings a noun name never takes: «троицкий» is not a form of «Троицк».
_NOUN_REJECT = ("ий", "ый", "ая", "ое", "ие", "ые", "ых", "их", "ую", "ого", "его", "ими", "ыми")
_MASC_NOMINATIVE = ("ый", "ий", "ой")

_DISTRICT_WORDS = frozenset(stem_word(w) for w in ("район", "управа", "округ", "мо"))
_SETTLEMENT_WORDS = frozenset(
    {stem_word(w) for w in ("поселение", "город", "г", "деревня")} | stem_forms("поселок") | {"пос"}
)
_STRICT_WORDS = frozenset({stem_word("район"), stem_word("округ")} | stem_forms("поселок"))
_BLOCKING_WORDS = frozenset(
    stem_word(w)
    for w in (
        "метро",
        "станция",
        "мцк",
        "мцд",
        "платформа",
        "м",
        "вокзал",
        "парк",
        "лесопарк",
        "усадьба",
        "заповедник",
        "аэропорт",
        "рейс",
    )
)
_FLIGHT_WORDS = frozenset(stem_word(w) for w in ("рейс", "самолет", "вылет", "перелет", "борт"))
_FLIGHT_PREPOSITIONS = frozenset({"из", "в", "во", "до"})
_SETTLEMENT_AFTER = stem_forms("поселение") | stem_forms("поселок")
_STREET_WORDS = frozenset(
    stem_word(w)
    for w in ("улица", "шоссе", "проспект", "переулок", "проезд", "бульвар", "площадь", "аллея")
)
_PLURAL_RAYON = frozenset({"районы", "районов", "районах", "районам", "районами"})
# Noun forms only: Snowball also stems «районный» (суд) to «район».
_RAYON = frozenset("район" + end for end in ("", "а", "у", "ом", "е", "ы", "ов", "ам", "ами", "ах"))
_AND = frozenset({"и", "или"})


@dataclass(frozen=True)
class Mention:
    """One mention of a district, settlement or okrug; `text` is the matched original text."""

    slug: str
    kind: Literal["district", "okrug"]
    text: str
    rule: str
    start: int = 0
    end: int = 0
    in_title: bool = False


@dataclass(frozen=True)
class _Name:
    slugs: tuple[str, ...]
    kind: Literal["district", "okrug"]
    phrase: tuple[frozenset[str], ...]  # accepted stems per position
    nominative: tuple[str, ...]  # the normalized words of the name as written
    policy: Policy


class _Tok(NamedTuple):  # a tuple: built for every word of every item, 3x faster than a dataclass
    word: str
    stem: str
    start: int
    end: int


def _is_adjective(word: str) -> bool:
    return word.endswith(_ADJ_ENDINGS)


def _words(name: str) -> list[str]:
    return normalize_text(name).replace("-", " ").split()


def _phrase(words: Iterable[str]) -> tuple[frozenset[str], ...]:
    return tuple(stem_forms(w) for w in words)


class Gazetteer:
    """Compiled district and okrug names; `mentions` finds them in a title and a text."""

    def __init__(self, names: Iterable[_Name], okrug_of: dict[str, str]) -> None:
        self._index: dict[str, list[_Name]] = {}
        for name in names:
            for first in name.phrase[0]:
                self._index.setdefault(first, []).append(name)
        for bucket in self._index.values():
            bucket.sort(key=lambda n: -len(n.phrase))
        self._okrug_of = okrug_of
        self._adjective_stems = frozenset(
            stem
            for bucket in self._index.values()
            for n in bucket
            if n.policy == "adjective"
            for stem in n.phrase[0]
        )

    def mentions(self, title: str, text: str) -> list[Mention]:
        """Every mention in the title, then in the text, in order of appearance."""
        return self.mentions_of(analyze(title), analyze(text))

    def mentions_of(self, title: Words, text: Words) -> list[Mention]:
        """`mentions` of texts already analyzed."""
        return self._scan(title, in_title=True) + self._scan(text, in_title=False)

    def slugs(self, title: str, text: str) -> tuple[str, ...]:
        """The distinct slugs mentioned, in order of first mention."""
        return tuple(dict.fromkeys(m.slug for m in self.mentions(title, text)))

    def areas(self, title: str, text: str) -> tuple[str, ...]:
        """The mentioned slugs with the okrug of each mentioned district added."""
        return self.areas_of(analyze(title), analyze(text))

    def areas_of(self, title: Words, text: Words) -> tuple[str, ...]:
        """`areas` of texts already analyzed."""
        out: dict[str, None] = {}
        for mention in self.mentions_of(title, text):
            out[mention.slug] = None
            okrug = self._okrug_of.get(mention.slug)
            if okrug:
                out[okrug] = None
        return tuple(out)

    def _scan(self, words: Words, *, in_title: bool) -> list[Mention]:
        text = words.text
        toks = [
            _Tok(word, stem, start, end)
            for word, stem, (start, end) in zip(words.words, words.stems, words.spans, strict=True)
        ]
        found: list[Mention] = []
        chain_end = -1  # the token after the last name of a list opened by «районы»
        i = 0
        while i < len(toks):
            size = 0
            listed = i == chain_end or (i == chain_end + 1 and toks[i - 1].word in _AND)
            for name in self._index.get(toks[i].stem, ()):
                size = len(name.phrase)
                if _matches(name, toks, i) and self._accepts(name, toks, i, text, listed=listed):
                    spans = [(name, i, i + size)]
                    spans += self._shared_noun(name, toks, i)
                    for named, a, b in sorted(spans, key=lambda s: s[1]):
                        start, end = toks[a].start, toks[b - 1].end
                        found.extend(
                            Mention(
                                s, named.kind, text[start:end], named.policy, start, end, in_title
                            )
                            for s in named.slugs
                        )
                    if name.kind == "district" and (listed or _after_plural_rayon(toks, i)):
                        chain_end = i + size
                    size = max(b for _, _, b in spans) - i
                    break
                size = 0
            i += size or 1
        return found

    def _shared_noun(self, name: _Name, toks: list[_Tok], i: int) -> list[tuple[_Name, int, int]]:
        """«Северное и Южное Медведково», «Бирюлёво Западное и Восточное»: the other name."""
        if len(name.phrase) != 2 or name.kind != "district":
            return []
        if i >= 2 and toks[i - 1].word in _AND:
            for other in self._index.get(toks[i - 2].stem, ()):
                if len(other.phrase) == 2 and other.phrase[1] == name.phrase[1] and other != name:
                    return [(other, i - 2, i - 1)]
        j = i + 2
        if j + 1 < len(toks) and toks[j].word in _AND:
            for other in self._index.get(toks[i].stem, ()):
                if (
                    len(other.phrase) == 2
                    and other.phrase[0] == name.phrase[0]
                    and toks[j + 1].stem in other.phrase[1]
                    and other != name
                ):
                    return [(other, j + 1, j + 2)]
        return []

    def _accepts(
        self, name: _Name, toks: list[_Tok], i: int, text: str, *, listed: bool = False
    ) -> bool:
        j = i + len(name.phrase)
        before = [t.stem for t in toks[max(0, i - 1) : i]]
        exact = all(t.word == w for t, w in zip(toks[i:j], name.nominative, strict=True))
        if listed and exact and name.kind == "district":
            return True
        if name.policy == "plain":
            return not (before and before[0] in _BLOCKING_WORDS) and not _after_flight(toks, i)
        if name.policy == "okrug-adj":
            return not (j < len(toks) and toks[j].stem in _STREET_WORDS)
        if name.policy == "okrug":
            return True
        if name.policy == "abbr":
            original = text[toks[i].start : toks[i].end]
            after = text[toks[i].end : toks[i].end + 3].lstrip()
            return original != original.lower() and not after.startswith(("«", '"', "“"))
        if name.policy == "context":
            return exact and any(s in _DISTRICT_WORDS for s in before)
        if name.policy == "strict":
            return exact and any(s in _STRICT_WORDS for s in before)
        if name.policy == "settlement":
            after = toks[j].stem if j < len(toks) else ""
            return (
                any(s in _SETTLEMENT_WORDS for s in before)
                or after in _SETTLEMENT_AFTER
                or (
                    exact
                    and name.nominative[-1] not in COMMON_SETTLEMENTS
                    and not _rayon_follows(toks, j, self._adjective_stems)
                )
            )
        # adjective
        if exact and any(s in _DISTRICT_WORDS for s in before):
            return True
        return _rayon_follows(toks, j, self._adjective_stems)


def _after_plural_rayon(toks: list[_Tok], i: int) -> bool:
    return i >= 1 and toks[i - 1].word in _PLURAL_RAYON


def _after_flight(toks: list[_Tok], i: int) -> bool:
    """«рейс из Внукова», «самолёт до Внукова»: the airport, not the district."""
    return i >= 2 and toks[i - 1].word in _FLIGHT_PREPOSITIONS and toks[i - 2].stem in _FLIGHT_WORDS


def _rayon_follows(toks: list[_Tok], j: int, adjective_stems: frozenset[str]) -> bool:
    """True when «район» follows, possibly after «и» and other district adjectives."""
    for tok in toks[j : j + 5]:
        if tok.word in _RAYON:
            return True
        if tok.word not in _AND and tok.stem not in adjective_stems:
            return False
    return False


def _matches(name: _Name, toks: list[_Tok], i: int) -> bool:
    j = i + len(name.phrase)
    if j > len(toks):
        return False
    for k, stems in enumerate(name.phrase):
        if toks[i + k].stem not in stems:
            return False
    if name.policy == "abbr":
        return toks[i].word == name.nominative[0]
    if len(name.phrase) == 1 and not _is_adjective(name.nominative[0]):
        return not toks[i].word.endswith(_NOUN_REJECT) or toks[i].word == name.nominative[0]
    return True


def _district_names(config: Config) -> list[_Name]:
    current = {normalize_text(d.name) for d in config.districts if d.kind == "district"}
    single_district_stems = {
        stem_word(normalize_text(d.name))
        for d in config.districts
        if d.kind == "district" and len(_words(d.name)) == 1
    }
    names: list[_Name] = []
    for district in config.districts:
        norm = normalize_text(district.name)
        if district.kind == "settlement" and norm in current:
            continue  # the current district of the same name takes the mention
        words = _words(district.name)
        policy: Policy = "plain"
        if norm in CONTEXT_NAMES:
            policy = "context"
        elif norm in STRICT_NAMES:
            policy = "strict"
        elif district.kind == "settlement":
            clash = len(words) == 1 and stem_word(words[0]) in single_district_stems
            if norm in COMMON_SETTLEMENTS or clash:
                policy = "settlement"
        elif len(words) == 1 and words[0].endswith(_MASC_NOMINATIVE):
            policy = "adjective"
        variants = [words]
        if len(words) == 2 and " " in norm and any(_is_adjective(w) for w in words):
            variants.append(words[::-1])  # «Бирюлёво Западное» and «Западное Бирюлёво»
        for variant in variants:
            names.append(
                _Name((district.slug,), "district", _phrase(variant), tuple(variant), policy)
            )
    return names


def _okrug_names(config: Config) -> list[_Name]:
    names: list[_Name] = []
    okrug_word = _words("округ")
    for okrug in config.okrugs:
        slug = (okrug.slug,)
        abbr = [normalize_text(okrug.abbr)]
        names.append(_Name(slug, "okrug", (frozenset({stem_word(abbr[0])}),), tuple(abbr), "abbr"))
        for words in (_words(okrug.name), _words(okrug.short_name) + okrug_word):
            names.append(_Name(slug, "okrug", _phrase(words), tuple(words), "okrug"))
    known = {o.slug for o in config.okrugs}
    for alias, slugs in OKRUG_ALIASES.items():
        if set(slugs) <= known:
            names.append(_Name(slugs, "okrug", _phrase([alias]), (alias,), "okrug"))
    for adjective, slugs in OKRUG_ADJECTIVES.items():
        if set(slugs) <= known:
            names.append(_Name(slugs, "okrug", _phrase([adjective]), (adjective,), "okrug-adj"))
    for abbr_word, slugs in JOINT_OKRUG_ABBRS.items():
        if set(slugs) <= known:
            stem = frozenset({stem_word(abbr_word)})
            names.append(_Name(slugs, "okrug", (stem,), (abbr_word,), "abbr"))
    return names


def build_gazetteer(config: Config) -> Gazetteer:
    """Compile the district, settlement and okrug names of `config` once."""
    okrug_of = {d.slug: d.okrug for d in config.districts}
    return Gazetteer([*_district_names(config), *_okrug_names(config)], okrug_of)
