"""Config loading: the shipped config is valid; every kind of error comes with its file and line."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from aggregator.config import check_config, load_config, summary
from aggregator.config.loader import _url_identity
from aggregator.config.models import parse_duration
from aggregator.domain import CITY, ServiceSettings
from aggregator.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
FEED = "  - url: {url}\n    title: {title}\n    district: {district}\n"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    shutil.copytree(ROOT / "config", directory)
    return directory


def write_feeds(directory: Path, body: str) -> None:
    (directory / "feeds.yaml").write_text("feeds:\n" + body, encoding="utf-8")


def feed(
    url: str = "https://a.example/feed/", title: str = "Газета", district: str = "marino"
) -> str:
    return FEED.format(url=url, title=title, district=district)


def only_issue(directory: Path) -> str:
    config, issues = check_config(directory)
    assert config is None
    assert len(issues) == 1, issues
    return str(issues[0])


def test_shipped_config_is_complete() -> None:
    config = load_config(ROOT / "config")
    assert len(config.okrugs) == 12
    assert sum(1 for d in config.districts if d.kind == "district") == 132
    assert sum(1 for d in config.districts if d.kind == "settlement") == 21
    vnukovo = config.district("vnukovo")
    assert vnukovo is not None and vnukovo.okrug == "nao"
    assert {t.slug for t in config.topics} >= {"transport", "housing", "education"}
    assert any(s.enabled for s in config.sources) and any(not s.enabled for s in config.sources)
    assert summary(config).startswith("config OK: 12 okrugs, 132 districts")


def test_okrug_area_includes_its_districts() -> None:
    config = load_config(ROOT / "config")
    area = config.area("uvao")
    assert area is not None and {"uvao", "marino", "kuzminki", "lyublino"} <= area
    assert config.area("marino") == frozenset({"marino"})
    assert config.area("atlantida") is None
    assert config.source_areas("marino") == ("marino", "uvao")
    assert config.source_areas("city") == ()


def test_unknown_district_slug(config_dir: Path) -> None:
    write_feeds(config_dir, feed() + feed(url="https://b.example/rss", district="atlantida"))
    message = only_issue(config_dir)
    assert message.startswith(f"{config_dir / 'feeds.yaml'}:7:")
    assert "atlantida" in message


def test_duplicate_feed_url_differing_only_in_case_and_slash(config_dir: Path) -> None:
    write_feeds(config_dir, feed() + feed(url="HTTPS://A.example/feed"))
    message = only_issue(config_dir)
    assert ":5:" in message and "duplicate feed URL" in message and "line 2" in message


@pytest.mark.parametrize("value", ["10 minutes", "0s", "30s", "8d", "abc", "-5m"])
def test_bad_refresh_interval(config_dir: Path, value: str) -> None:
    write_feeds(config_dir, feed() + f"    refresh: {value}\n")
    message = only_issue(config_dir)
    assert ":5:" in message and "refresh" in message


def test_unknown_key(config_dir: Path) -> None:
    write_feeds(config_dir, feed() + "    colour: red\n")
    message = only_issue(config_dir)
    assert ":5:" in message and "unknown key 'colour'" in message


def test_missing_required_key(config_dir: Path) -> None:
    write_feeds(config_dir, "  - url: https://a.example/feed/\n    district: marino\n")
    message = only_issue(config_dir)
    assert ":2:" in message and "title" in message


def test_yaml_syntax_error(config_dir: Path) -> None:
    write_feeds(config_dir, feed() + "  - url: [unclosed\n")
    message = only_issue(config_dir)
    assert "feeds.yaml:" in message and "YAML syntax error" in message


def test_missing_file(config_dir: Path) -> None:
    (config_dir / "topics.yaml").unlink()
    assert only_issue(config_dir).endswith("topics.yaml:0: file not found")


def test_service_file_is_optional(config_dir: Path) -> None:
    (config_dir / "service.yaml").unlink()
    assert load_config(config_dir).service.feed_size == 50


def test_service_settings_are_read(config_dir: Path) -> None:
    (config_dir / "service.yaml").write_text("default_refresh: 5m\nfeed_size: 20\n")
    service = load_config(config_dir).service
    assert (service.default_refresh, service.feed_size) == (timedelta(minutes=5), 20)


def test_polling_settings_are_read(config_dir: Path) -> None:
    (config_dir / "service.yaml").write_text(
        "per_host_concurrency: 3\nmin_interval: 2m\nmax_interval: 12h\nbackoff_cap: 2d\n"
    )
    service = load_config(config_dir).service
    assert service.per_host_concurrency == 3
    assert (service.min_interval, service.max_interval, service.backoff_cap) == (
        timedelta(minutes=2),
        timedelta(hours=12),
        timedelta(days=2),
    )


def test_polling_settings_default() -> None:
    service = ServiceSettings()
    assert service.per_host_concurrency == 2
    assert service.backoff_cap == timedelta(hours=24)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("min_interval: 2h\nmax_interval: 1h\n", "min_interval (2:00:00) is longer than"),
        ("max_interval: 30s\n", "min_interval (0:01:00) is longer than max_interval (0:00:30)"),
        ("backoff_cap: 30s\n", "backoff_cap (0:00:30) is shorter than min_interval"),
        ("min_interval: 0s\n", "min_interval: the duration must be positive"),
        ("per_host_concurrency: 0\n", "per_host_concurrency: Input should be greater than"),
    ],
)
def test_bad_polling_settings(config_dir: Path, text: str, expected: str) -> None:
    (config_dir / "service.yaml").write_text(text)
    message = only_issue(config_dir)
    assert message.startswith(str(config_dir / "service.yaml")) or "service.yaml" in message
    assert expected in message


def test_duplicate_topic_slug(config_dir: Path) -> None:
    (config_dir / "topics.yaml").write_text(
        "topics:\n  - {slug: sport, name: Спорт, keywords: [спорт]}\n"
        "  - {slug: sport, name: Ещё спорт, keywords: [футбол]}\n",
        encoding="utf-8",
    )
    assert "duplicate topic slug 'sport'" in only_issue(config_dir)


def test_duplicate_district_slug(config_dir: Path) -> None:
    path = config_dir / "districts.yaml"
    text = path.read_text(encoding="utf-8").replace("slug: yakimanka", "slug: arbat")
    path.write_text(text, encoding="utf-8")
    assert "duplicate area slug 'arbat'" in only_issue(config_dir)


def test_every_error_is_reported_across_files(config_dir: Path) -> None:
    write_feeds(
        config_dir,
        feed(district="atlantida")
        + "    refresh: never\n"
        + feed(url="https://b.example/")
        + "    colour: red\n",
    )
    (config_dir / "topics.yaml").write_text("topics:\n  - slug: Bad Slug\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(config_dir)
    lines = [str(issue) for issue in raised.value.issues]
    assert len(lines) >= 4, lines
    assert any("feeds.yaml:4:" in line and "atlantida" in line for line in lines)
    assert any("feeds.yaml:5:" in line and "refresh" in line for line in lines)
    assert any("feeds.yaml:9:" in line and "colour" in line for line in lines)
    assert any("topics.yaml:2:" in line for line in lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1H", timedelta(hours=1)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        (600, timedelta(minutes=10)),
    ],
)
def test_parse_duration(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "m", "15", "1m30h", "1.5h", "-1m", "15мин", True])
def test_parse_duration_rejects(text: str | bool) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("https://a.example/feed/", "https://a.example/feed", True),
        ("https://a.example/feed/", "HTTPS://A.EXAMPLE/feed/", True),
        ("https://газета.рф/feed/", "https://xn--80aahjj1e.xn--p1ai/feed/", True),
        ("https://a.example/Feed/", "https://a.example/feed/", False),
        ("https://a.example/feed/", "http://a.example/feed/", False),
        ("https://a.example/feed/?page=2", "https://a.example/feed/", False),
        ("https://a.example:8443/feed/", "https://a.example/feed/", False),
    ],
)
def test_url_identity(first: str, second: str, same: bool) -> None:
    assert (_url_identity(first) == _url_identity(second)) is same


def test_shipped_feeds_city_outlets_enabled_guessed_ones_not() -> None:
    config = load_config(ROOT / "config")
    for source in config.sources:
        assert source.enabled is (source.district == CITY), source
        assert source.district == CITY or config.area(source.district) is not None
    assert any(".рф" in s.url or ".москва" in s.url for s in config.sources)
    settlement = config.district("kokoshkino")
    assert settlement is not None and settlement.kind == "settlement"
    assert settlement.valid_until == date(2024, 5, 8) and settlement.okrug == "nao"
    okrug_of = {d.slug: d.okrug for d in config.districts}
    assert all(okrug_of[slug] == o.slug for o in config.okrugs for slug in o.districts)
