"""Atom and RSS rendering: feed fields, entry identity, source lists, escaping, XML safety."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import feedparser
import pytest

from aggregator.domain import OutputFeed, Story, StorySource
from aggregator.identity import story_uuid
from aggregator.render import (
    AREA_SCHEME,
    SOURCES_HEADING,
    TOPIC_SCHEME,
    content_html,
    entry_id,
    render_atom,
    render_rss,
    xml_safe,
)

Renderer = Callable[..., bytes]
RENDERERS = [pytest.param(render_atom, id="atom"), pytest.param(render_rss, id="rss")]

META = OutputFeed(
    id="http://127.0.0.1:8080/feeds/district/kuzminki",
    title="Кузьминки: новости района",
    subtitle="Новости района Кузьминки (ЮВАО) из районных и окружных изданий",
    self_url="http://127.0.0.1:8080/feeds/district/kuzminki.atom",
    html_url="http://127.0.0.1:8080/#kuzminki",
    updated=datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
)

KURIER = StorySource(
    outlet="Юго-Восточный курьер",
    feed_url="https://uv-kurier.example/feed/",
    link="https://uv-kurier.example/news/park-kuzminki",
    district="uvao",
)
GAZETA = StorySource(
    outlet="Кузьминки сегодня",
    feed_url="https://kuzminki-segodnya.example/rss",
    link="https://kuzminki-segodnya.example/2026/11/park",
    district="kuzminki",
)
NO_LINK = StorySource(
    outlet="Управа района", feed_url="https://uprava.example/rss", link=None, district="kuzminki"
)


def story(key: str = "story-1", **changes: Any) -> Story:
    base = Story(
        id=1,
        key=key,
        title="В парке «Кузьминки» обновят освещение вдоль прудов",
        link="https://uv-kurier.example/news/park-kuzminki",
        summary="До конца года в парке установят 120 новых фонарей.",
        content_html="<p>До конца года в парке установят <b>120</b> новых фонарей.</p>",
        published=datetime(2026, 11, 26, 7, 15, tzinfo=UTC),
        updated=datetime(2026, 11, 26, 8, 0, tzinfo=UTC),
        sources=(KURIER,),
        areas=("kuzminki", "uvao"),
        topics=("improvement",),
    )
    return replace(base, **changes)


def parse(render: Renderer, stories: Sequence[Story], **kwargs: Any) -> Any:
    parsed = feedparser.parse(render(META, stories, **kwargs))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


def entry_content(entry: Any) -> str:
    contents = entry.get("content")
    if contents:
        return str(contents[0]["value"])
    return str(entry.get("summary", ""))


# --- feed level ----------------------------------------------------------------------------


@pytest.mark.parametrize("render", RENDERERS)
@pytest.mark.parametrize("stories", [[], [story()], [story("a"), story("b")]], ids=["0", "1", "2"])
def test_output_parses_back_without_bozo(render: Renderer, stories: list[Story]) -> None:
    parsed = parse(render, stories)
    assert len(parsed.entries) == len(stories)


def test_atom_feed_fields() -> None:
    feed = parse(render_atom, [story()]).feed
    assert feed.id == META.id
    assert feed.title == META.title
    assert feed.subtitle == META.subtitle
    assert feed.updated_parsed[:6] == (2026, 11, 27, 9, 30, 0)
    links = {link.rel: link.href for link in feed.links}
    assert links == {"self": META.self_url, "alternate": META.html_url}
    assert feed.generator == "moscow-district-feeds"


def test_rss_feed_fields() -> None:
    parsed = parse(render_rss, [story()])
    feed = parsed.feed
    assert parsed.version == "rss20"
    assert feed.title == META.title
    assert feed.subtitle == META.subtitle
    assert feed.link == META.html_url
    assert any(ln.rel == "self" and ln.href == META.self_url for ln in feed.links)
    assert feed.updated_parsed[:6] == (2026, 11, 27, 9, 30, 0)
    assert b"<lastBuildDate>Fri, 27 Nov 2026 09:30:00 +0000</lastBuildDate>" in render_rss(
        META, [story()]
    )


def test_rendering_is_deterministic() -> None:
    stories = [story("a"), story("b", sources=(KURIER, GAZETA))]
    assert render_atom(META, stories) == render_atom(META, stories)
    assert render_rss(META, stories) == render_rss(META, stories)


# --- entries -------------------------------------------------------------------------------


@pytest.mark.parametrize("render", RENDERERS)
def test_entry_id_is_the_story_uuid(render: Renderer) -> None:
    entry = parse(render, [story("key-42")]).entries[0]
    assert entry.id == f"urn:uuid:{story_uuid('key-42')}"
    assert entry.id == entry_id(story("key-42"))


def test_rss_guid_is_not_a_permalink() -> None:
    assert b'<guid isPermaLink="false">urn:uuid:' in render_rss(META, [story()])


@pytest.mark.parametrize("render", RENDERERS)
def test_entry_ids_are_unique_and_a_story_appears_once(render: Renderer) -> None:
    stories = [story("a"), story("b"), story("a", title="Повтор той же истории"), story("c")]
    ids = [entry.id for entry in parse(render, stories).entries]
    assert len(ids) == 3 == len(set(ids))
    assert ids == [entry_id(story(k)) for k in ("a", "b", "c")]


def test_entry_ids_are_the_same_in_atom_and_rss() -> None:
    stories = [story("a"), story("b")]
    atom = [e.id for e in parse(render_atom, stories).entries]
    rss = [e.id for e in parse(render_rss, stories).entries]
    assert atom == rss


@pytest.mark.parametrize("render", RENDERERS)
def test_entry_fields(render: Renderer) -> None:
    entry = parse(render, [story()]).entries[0]
    assert entry.title == "В парке «Кузьминки» обновят освещение вдоль прудов"
    assert entry.link == "https://uv-kurier.example/news/park-kuzminki"
    assert entry.published_parsed[:5] == (2026, 11, 26, 7, 15)
    assert entry.author == "Юго-Восточный курьер"
    assert "120" in entry.summary


def test_atom_entry_updated() -> None:
    entry = parse(render_atom, [story()]).entries[0]
    assert entry.updated_parsed[:5] == (2026, 11, 26, 8, 0)


@pytest.mark.parametrize("render", RENDERERS)
def test_naive_datetimes_are_taken_as_utc(render: Renderer) -> None:
    naive = story(published=datetime(2026, 11, 20, 12, 0), updated=datetime(2026, 11, 20, 12, 5))
    entry = parse(render, [naive]).entries[0]
    assert entry.published_parsed[:5] == (2026, 11, 20, 12, 0)


@pytest.mark.parametrize("render", RENDERERS)
def test_story_without_link_or_sources_still_renders(render: Renderer) -> None:
    bare = story(link=None, sources=(), areas=(), topics=(), summary="", content_html="")
    entry = parse(render, [bare]).entries[0]
    assert entry.title


@pytest.mark.parametrize("render", RENDERERS)
def test_categories_for_areas_and_topics(render: Renderer) -> None:
    labels = {"kuzminki": "Кузьминки", "uvao": "ЮВАО", "improvement": "Благоустройство"}
    tags = parse(render, [story()], labels=labels).entries[0].tags
    if render is render_atom:
        assert [(t.term, t.scheme, t.label) for t in tags] == [
            ("kuzminki", AREA_SCHEME, "Кузьминки"),
            ("uvao", AREA_SCHEME, "ЮВАО"),
            ("improvement", TOPIC_SCHEME, "Благоустройство"),
        ]
    else:
        assert [(t.term, t.scheme) for t in tags] == [
            ("Кузьминки", AREA_SCHEME),
            ("ЮВАО", AREA_SCHEME),
            ("Благоустройство", TOPIC_SCHEME),
        ]


@pytest.mark.parametrize("render", RENDERERS)
def test_categories_without_labels_use_slugs_once(render: Renderer) -> None:
    dup = story(areas=("kuzminki", "kuzminki"), topics=("sport",))
    terms = [t.term for t in parse(render, [dup]).entries[0].tags]
    assert terms == ["kuzminki", "sport"]


# --- content and sources -------------------------------------------------------------------

CONTENT_CASES = [
    # (sources, expected fragments, forbidden fragments)
    ((KURIER,), ["120"], [SOURCES_HEADING]),
    ((KURIER, KURIER), ["120"], [SOURCES_HEADING]),
    (
        (KURIER, GAZETA),
        [
            SOURCES_HEADING,
            '<a href="https://uv-kurier.example/news/park-kuzminki">',
            "Кузьминки сегодня",
        ],
        [],
    ),
    ((KURIER, NO_LINK), [SOURCES_HEADING, "<li>Управа района</li>"], []),
    (
        (KURIER, replace(GAZETA, link="javascript:alert(1)")),
        ["<li>Кузьминки сегодня</li>"],
        ["javascript:"],
    ),
    (
        (KURIER, replace(GAZETA, outlet='Газета "<Кузьминки>" & Ко')),
        ["Газета &quot;&lt;Кузьминки&gt;&quot; &amp; Ко"],
        ["<Кузьминки>"],
    ),
    (
        (KURIER, replace(GAZETA, link='https://k.example/a?x=1&y="2"')),
        ['href="https://k.example/a?x=1&amp;y=&quot;2&quot;"'],
        [],
    ),
]


@pytest.mark.parametrize(("sources", "present", "absent"), CONTENT_CASES)
def test_content_html_source_list(
    sources: tuple[StorySource, ...], present: list[str], absent: list[str]
) -> None:
    html = content_html(story(sources=sources))
    for fragment in present:
        assert fragment in html
    for fragment in absent:
        assert fragment not in html


def test_content_falls_back_to_escaped_summary() -> None:
    html = content_html(story(content_html="", summary="Цены <ниже> & выше"))
    assert html == "<p>Цены &lt;ниже&gt; &amp; выше</p>"


def test_content_keeps_sanitized_story_html_as_is() -> None:
    html = content_html(story(content_html="<p>Текст <em>статьи</em></p>", sources=(KURIER,)))
    assert html == "<p>Текст <em>статьи</em></p>"


@pytest.mark.parametrize("render", RENDERERS)
def test_rendered_content_lists_every_source(render: Renderer) -> None:
    entry = parse(render, [story(sources=(KURIER, GAZETA, NO_LINK))]).entries[0]
    body = entry_content(entry)
    assert SOURCES_HEADING in body
    for outlet in ("Юго-Восточный курьер", "Кузьминки сегодня", "Управа района"):
        assert outlet in body


# --- hostile text --------------------------------------------------------------------------

HOSTILE_TITLES = [
    "</title><script>alert('x')</script>",
    "Цены & тарифы <2027>",
    "]]> конец CDATA",
    "«Кавычки» \"двойные\" и 'одинарные'",
    "&amp; уже экранировано",
    "<![CDATA[ внутри ]]>",
]


@pytest.mark.parametrize("render", RENDERERS)
@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_hostile_titles_round_trip_as_text(render: Renderer, title: str) -> None:
    document = render(META, [story(title=title)])
    assert b"<script>" not in document
    entry = parse(render, [story(title=title)]).entries[0]
    assert entry.title == title


@pytest.mark.parametrize("render", RENDERERS)
def test_hostile_feed_title(render: Renderer) -> None:
    meta = replace(META, title="Лента <b>&</b>")
    parsed = feedparser.parse(render(meta, [story()]))
    assert parsed.bozo == 0
    assert parsed.feed.title == "Лента <b>&</b>"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("обычный текст", "обычный текст"),
        ("табуляция\tи\nперевод\rстроки", "табуляция\tи\nперевод\rстроки"),
        ("нуль\x00байт", "нульбайт"),
        ("escape\x1b[31m", "escape[31m"),
        ("вертикальная\x0bтабуляция\x0c", "вертикальнаятабуляция"),
        ("не-символ\ufffe\uffff", "не-символ"),
        ("суррогат\ud800", "суррогат"),
        ("эмодзи 🚇 остаётся", "эмодзи 🚇 остаётся"),
    ],
)
def test_xml_safe(raw: str, clean: str) -> None:
    assert xml_safe(raw) == clean


@pytest.mark.parametrize("render", RENDERERS)
def test_invalid_xml_characters_are_stripped(render: Renderer) -> None:
    dirty = story(
        title="Ремонт\x00 подъездов\x08 на улице\x1f Юных Ленинцев",
        summary="Работы\x0b завершат в декабре\ufffe",
        content_html="<p>Работы\x01 завершат</p>",
        sources=(replace(KURIER, outlet="Курьер\x02"), GAZETA),
        link="https://uv-kurier.example/news/remont\x07",
    )
    entry = parse(render, [dirty]).entries[0]
    assert entry.title == "Ремонт подъездов на улице Юных Ленинцев"
    assert "\x0b" not in entry.summary
    assert "Курьер" in entry_content(entry)
