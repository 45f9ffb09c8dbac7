"""Broken config fixtures: each reports exactly its problems, every one with file and line.

A fixture in tests/data/config/ named `<file>-<case>.yaml` replaces `<file>.yaml` in a copy of
the shipped config; the table lists every issue expected as (line, a fragment of the message).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aggregator.config import check_config, load_config
from aggregator.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "data" / "config"

CASES: list[tuple[str, list[tuple[int, str]]]] = [
    (
        "outputs-bad.yaml",
        [
            (13, "outputs[3].name: bad slug 'Bad Name'"),
            (19, "unknown key 'colour' in outputs[4].filter"),
        ],
    ),
    (
        "outputs-cross.yaml",
        [
            (5, "outputs[0].filter.districts: unknown district or okrug slug 'atlantida'"),
            (7, "outputs[1].name: 'all' is reserved"),
            (9, "duplicate output name 'kuzminki-sport' (first on line 2)"),
            (12, "outputs[2].filter.topics: unknown topic slug 'pogoda'"),
            (16, "outputs[3].filter.q: no words to search"),
        ],
    ),
    (
        "feeds-unknown-key.yaml",
        [(5, "unknown key 'colour' in feeds[0]"), (10, "unknown key 'note' in feeds[1]")],
    ),
    (
        "feeds-wrong-types.yaml",
        [
            (3, "feeds[0].title: Input should be a valid string"),
            (8, "feeds[1].enabled: Input should be a valid boolean"),
            (9, "feeds[2].url: Input should be a valid string"),
        ],
    ),
    (
        "feeds-missing-keys.yaml",
        [(2, "feeds[0].url: required key is missing"), (4, "feeds[1].district: required key")],
    ),
    (
        "feeds-unknown-district.yaml",
        [(7, "unknown district or okrug slug 'atlantida'"), (13, "slug 'maryino'")],
    ),
    (
        "feeds-duplicate-url.yaml",
        [
            (8, "duplicate feed URL 'https://gazeta-brateevo.example/feed' (first on line 2)"),
            (11, "duplicate feed URL 'https://xn--80aejkacegflnf5aqfq4n.xn--p1ai/feed'"),
        ],
    ),
    (
        "feeds-bad-refresh.yaml",
        [
            (9, "feeds[1].refresh: not a duration: 'скоро'"),
            (13, "feeds[2].refresh: the interval must be between 1 minute and 7 days"),
            (17, "feeds[3].refresh: the interval must be between 1 minute and 7 days"),
            (25, "feeds[5].refresh: not a duration: '30m1h'"),
        ],
    ),
    (
        "feeds-syntax-error.yaml",
        [(7, "while parsing a flow sequence (line 6), expected ',' or ']'")],
    ),
    (
        "feeds-top-level-list.yaml",
        [(1, "expected a mapping with the keys feeds, found a list")],
    ),
    (
        "topics-bad-slugs.yaml",
        [
            (5, "topics[1].slug: bad slug 'Culture'"),
            (8, "duplicate topic slug 'sport' (first on line 2)"),
            (11, "topics[3].slug: bad slug '-parks'"),
            (13, "topics[3].keywords: List should have at least 1 item"),
            (16, "duplicate key 'name' (first on line 15)"),
        ],
    ),
    (
        "districts-bad.yaml",
        [
            (8, "unknown key 'okrug' in okrugs[0].districts[1]"),
            (14, "duplicate area slug 'marino' (first on line 7)"),
            (15, "'city' is reserved for city-wide sources"),
            (16, "duplicate area slug 'uvao' (first on line 2)"),
            (22, "okrugs[2].settlements[0].valid_until: required key is missing"),
        ],
    ),
    (
        "service-bad.yaml",
        [
            (1, "public_url: not an http(s) URL: 'feeds.example'"),
            (2, "default_refresh: the interval must be between 1 minute and 7 days"),
            (3, "concurrency: Input should be greater than or equal to 1"),
            (4, "read_timeout: Input should be a valid number"),
            (6, "unknown key 'max_connections'"),
        ],
    ),
]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    shutil.copytree(ROOT / "config", directory)
    return directory


@pytest.mark.parametrize(("fixture", "expected"), CASES, ids=[name for name, _ in CASES])
def test_broken_fixture_reports_every_issue(
    config_dir: Path, fixture: str, expected: list[tuple[int, str]]
) -> None:
    target = config_dir / (fixture.split("-", 1)[0] + ".yaml")
    shutil.copyfile(FIXTURES / fixture, target)
    if target.name == "districts.yaml":
        # The shipped feeds name districts this small file lacks; keep them out of the picture.
        (config_dir / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
    config, issues = check_config(config_dir)
    assert config is None
    assert [(issue.file, issue.line) for issue in issues] == [
        (str(target), line) for line, _ in expected
    ]
    for issue, (_, fragment) in zip(issues, expected, strict=True):
        assert fragment in issue.message


def _line_of(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


def test_three_planted_errors_in_two_files_are_all_reported(config_dir: Path) -> None:
    feeds, topics = config_dir / "feeds.yaml", config_dir / "topics.yaml"
    text = feeds.read_text(encoding="utf-8")
    text = text.replace("    district: svao\n", "    district: svaoo\n", 1)
    text = text.replace("    refresh: 10m\n", "    refresh: 10 минут\n", 1)
    feeds.write_text(text, encoding="utf-8")
    topic_text = topics.read_text(encoding="utf-8").replace(
        "  - slug: sport\n", "  - slug: Sport\n"
    )
    topics.write_text(topic_text, encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        load_config(config_dir)

    found = [(issue.file, issue.line) for issue in raised.value.issues]
    assert found == sorted(
        [
            (str(feeds), _line_of(text, "    district: svaoo")),
            (str(feeds), _line_of(text, "    refresh: 10 минут")),
            (str(topics), _line_of(topic_text, "  - slug: Sport")),
        ]
    )
    report = str(raised.value)
    assert "svaoo" in report and "10 минут" in report and "'Sport'" in report


@pytest.mark.parametrize(
    ("name", "line", "message"),
    [
        ("districts.yaml", 0, "file not found"),
        ("feeds.yaml", 0, "file not found"),
        ("topics.yaml", 0, "file not found"),
    ],
)
def test_missing_required_file(config_dir: Path, name: str, line: int, message: str) -> None:
    (config_dir / name).unlink()
    _, issues = check_config(config_dir)
    assert [(i.file, i.line, i.message) for i in issues] == [
        (str(config_dir / name), line, message)
    ]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", 1, "feeds: required key is missing"),
        ("feeds: {}\n", 1, "feeds: Input should be a valid list"),
        ("feeds:\n  - https://a.example/feed/\n", 2, "feeds[0]: Input should be a valid dict"),
        ("just a string\n", 1, "expected a mapping with the keys feeds, found a str"),
        ("feeds: []\nfeeds: []\n", 2, "duplicate key 'feeds' (first on line 1)"),
        ("feeds:\n\t- x\n", 2, "YAML syntax error"),
        (
            "feeds: []\n---\nfeeds: []\n",
            2,
            "expected a single document in the stream (line 1), but found another document",
        ),
    ],
)
def test_feeds_file_shape(config_dir: Path, text: str, line: int, fragment: str) -> None:
    (config_dir / "feeds.yaml").write_text(text, encoding="utf-8")
    _, issues = check_config(config_dir)
    assert len(issues) == 1, issues
    assert (issues[0].line, issues[0].file) == (line, str(config_dir / "feeds.yaml"))
    assert fragment in issues[0].message


def test_path_is_reported_as_given(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(config_dir.parent)
    (config_dir / "topics.yaml").unlink()
    _, issues = check_config("config")
    assert [str(issue) for issue in issues] == ["config/topics.yaml:0: file not found"]
