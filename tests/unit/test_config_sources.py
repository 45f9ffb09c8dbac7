"""Source kinds in feeds.yaml: html sources with selectors or a preset, full text, IDN hosts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aggregator.config import check_config, load_config
from aggregator.domain import HtmlSelectors

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    shutil.copytree(ROOT / "config", directory)
    return directory


def write_feeds(directory: Path, body: str) -> str:
    (directory / "feeds.yaml").write_text("feeds:\n" + body, encoding="utf-8")
    return str(directory / "feeds.yaml")


HTML_SOURCES = """\
  - url: https://uv-kurier.ru/news/
    title: «Юго-Восточный курьер»
    district: uvao
    kind: html
    preset: district-press
    full_text: true
  - url: https://xn--80aejkacegflnf5aqfq4n.xn--p1ai/novosti/
    title: «Марьинский вестник»
    district: marino
    kind: html
    selectors:
      item: article.news-card
      title: h2
      date: .meta
      summary: p.lead
  - url: https://gazeta-bibirevo.ru/feed/
    title: Районная газета «Бибирево»
    district: bibirevo
"""


def test_html_sources_are_loaded(config_dir: Path) -> None:
    write_feeds(config_dir, HTML_SOURCES)
    press, maryino, feed = load_config(config_dir).sources

    assert (press.kind, press.preset, press.selectors, press.full_text) == (
        "html",
        "district-press",
        None,
        True,
    )
    assert maryino.selectors == HtmlSelectors(
        item="article.news-card", title="h2", date=".meta", summary="p.lead"
    )
    assert (feed.kind, feed.preset, feed.selectors, feed.full_text) == ("feed", None, None, False)


def test_punycode_hosts_are_shown_in_unicode(config_dir: Path) -> None:
    write_feeds(config_dir, HTML_SOURCES)
    maryino = load_config(config_dir).sources[1]
    assert maryino.url == "https://марьинскийвестник.рф/novosti/"


def test_one_host_in_unicode_and_punycode_is_a_duplicate(config_dir: Path) -> None:
    body = HTML_SOURCES.replace("gazeta-bibirevo.ru/feed/", "марьинскийвестник.рф/novosti/")
    path = write_feeds(config_dir, body)
    _, issues = check_config(config_dir)
    assert [str(issue) for issue in issues] == [
        f"{path}:17: duplicate feed URL 'https://xn--80aejkacegflnf5aqfq4n.xn--p1ai/novosti'"
        " (first on line 8)"
    ]


@pytest.mark.parametrize(
    ("entry", "line", "message"),
    [
        (
            "kind: html",
            2,
            "feeds[0]: an html source needs either `selectors` or `preset` (not both)",
        ),
        (
            "kind: html\n    preset: district-press\n    selectors: {item: li, title: a}",
            2,
            "feeds[0]: an html source needs either `selectors` or `preset` (not both)",
        ),
        ("preset: district-press", 2, "feeds[0]: `selectors` and `preset` need `kind: html`"),
        ("kind: rss", 5, "feeds[0].kind: Input should be 'feed' or 'html'"),
        (
            "kind: html\n    preset: wordpress",
            6,
            "feeds[0].preset: unknown preset 'wordpress' (known: district-press)",
        ),
        (
            "kind: html\n    selectors:\n      item: 'div[['\n      title: h2",
            7,
            "feeds[0].selectors.item: not a valid CSS selector: 'div[['",
        ),
        (
            "kind: html\n    selectors:\n      title: h2",
            7,
            "feeds[0].selectors.item: required key is missing",
        ),
        (
            "kind: html\n    selectors:\n      item: li\n      title: h2\n      author: .by",
            9,
            "unknown key 'author' in feeds[0].selectors",
        ),
        (
            "full_text: sometimes",
            5,
            "feeds[0].full_text: Input should be a valid boolean, unable to interpret input",
        ),
    ],
)
def test_bad_source_settings_are_reported_with_their_line(
    config_dir: Path, entry: str, line: int, message: str
) -> None:
    body = (
        f"  - url: https://a.example/news/\n    title: Газета\n    district: marino\n    {entry}\n"
    )
    path = write_feeds(config_dir, body)
    _, issues = check_config(config_dir)
    assert [str(issue) for issue in issues] == [f"{path}:{line}: {message}"]
