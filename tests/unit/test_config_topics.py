"""Topic config: patterns, exclusions and feed categories load, and their errors carry file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aggregator.classify import compile_topics
from aggregator.config import check_config, load_config

ROOT = Path(__file__).resolve().parents[2]

TOPICS = """\
topics:
  - slug: transport
    name: Транспорт
    keywords: [автобус, станция метро]
    patterns:
      - 'мцд-?\\d'
    exclude: [автобусная экскурсия]
    categories: [Транспорт и дороги]
  - slug: culture
    name: Культура
    keywords: [музей, экскурсия]
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    shutil.copytree(ROOT / "config", directory)
    return directory


def write_topics(directory: Path, text: str) -> Path:
    path = directory / "topics.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def issues_of(directory: Path) -> list[str]:
    config, issues = check_config(directory)
    assert config is None
    return [str(issue) for issue in issues]


def test_patterns_exclusions_and_categories_load(config_dir: Path) -> None:
    write_topics(config_dir, TOPICS)
    transport = load_config(config_dir).topic("transport")
    assert transport is not None
    assert transport.patterns == ("мцд-?\\d",)
    assert transport.exclude == ("автобусная экскурсия",)
    assert transport.categories == ("Транспорт и дороги",)
    culture = load_config(config_dir).topic("culture")
    assert culture is not None and (culture.patterns, culture.exclude) == ((), ())


def test_loaded_rules_drive_the_matcher(config_dir: Path) -> None:
    write_topics(config_dir, TOPICS)
    matcher = compile_topics(load_config(config_dir).topics)
    assert matcher.match("Поезда МЦД-4 пойдут чаще", "") == ("transport",)
    assert matcher.match("Новый автобус до станции", "") == ("transport",)
    # the exclusion vetoes transport; culture keeps its own keyword
    assert matcher.match("Автобусная экскурсия по Лефортову", "") == ("culture",)
    # a feed's own category assigns the topic without any keyword
    assert matcher.match("Итоги недели", "", ["транспорт и дороги"]) == ("transport",)
    assert matcher.match("Итоги недели", "", ["Спорт"]) == ()


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("'мцд-(\\d'", "bad regular expression"),
        ("'[а-я'", "bad regular expression"),
        ("'(метро)?'", "matches empty text"),
        ("''", "at least 1 character"),
    ],
)
def test_bad_pattern_is_reported_on_its_line(config_dir: Path, pattern: str, message: str) -> None:
    text = TOPICS.replace("'мцд-?\\d'", pattern)
    path = write_topics(config_dir, text)
    line = text.splitlines().index(f"      - {pattern}") + 1
    issues = issues_of(config_dir)
    assert len(issues) == 1, issues
    assert issues[0].startswith(f"{path}:{line}: topics[0].patterns[0]: "), issues
    assert message in issues[0]


def test_every_bad_field_is_reported(config_dir: Path) -> None:
    text = TOPICS.replace("exclude: [автобусная экскурсия]", "exclude: [автобусная экскурсия, '']")
    text = text.replace("categories: [Транспорт и дороги]", "categories: Транспорт")
    text += "    patterns: ['(']\n    colour: green\n"
    path = write_topics(config_dir, text)
    lines = text.splitlines()
    issues = issues_of(config_dir)
    expected = {
        (lines.index("    exclude: [автобусная экскурсия, '']") + 1, "topics[0].exclude[1]"),
        (lines.index("    categories: Транспорт") + 1, "topics[0].categories"),
        (lines.index("    patterns: ['(']") + 1, "topics[1].patterns[0]"),
        (lines.index("    colour: green") + 1, "unknown key 'colour'"),
    }
    assert len(issues) == len(expected), issues
    for line, fragment in expected:
        assert any(i.startswith(f"{path}:{line}: ") and fragment in i for i in issues), (
            line,
            fragment,
            issues,
        )


def test_shipped_topics_use_the_new_fields() -> None:
    topics = load_config(ROOT / "config").topics
    assert any(t.exclude for t in topics)
    assert any(t.categories for t in topics)
