"""HTML news pages to a `ParsedFeed`: CSS selectors or the district press preset (selectolax).

Pure: page bytes, headers, the source's settings and `now` in, parsed entries out, so items of
HTML sources go through the same normalize → dedupe → classify → store path as feed items.
The only module that imports selectolax.

The `district-press` preset reads the template shared by most okrug and district papers: an
item is the block around one "Опубликовано DD Mon YYYY в HH:MM | Текст: <outlet>" line, its
headline is the first heading in that block, and its date comes from that line only (a page
header showing today's date is never taken). «Читайте также» blocks are removed first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from aggregator.dates import parse_date, search_date
from aggregator.domain import HtmlSelectors, ParsedEntry, ParsedFeed, Source
from aggregator.errors import ParseError

__all__ = [
    "PRESETS",
    "FeedLink",
    "feed_links",
    "parse_html",
    "parse_html_source",
    "selector_problem",
    "strip_boilerplate",
]

DISTRICT_PRESS = "district-press"
PRESETS = frozenset({DISTRICT_PRESS})

FEED_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/feed+json", "application/rdf+xml"}
)

_DATELINE = re.compile(
    r"опубликовано:?\s+(?P<date>.+?)(?:\s*\|\s*(?:текст|автор):?\s*(?P<author>.*))?", re.I
)
_REGION = re.compile(r"москва\.\s+[\w -]{3,30}\s+административный\s+округ\.?", re.I)
_SEE_ALSO = re.compile(r"читайте\s+также:?", re.I)
_BYLINE = re.compile(r"(?:текст|фото|автор|источник\s+фото)\s*:\s*\S.{0,80}", re.I)
_SHARE_CLASS = re.compile(r"share|social|likes|subscribe", re.I)
_HEADINGS = "h1, h2, h3, h4"
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([\w-]+)", re.I)


@dataclass(frozen=True)
class FeedLink:
    """A feed a page announces with <link rel="alternate">."""

    url: str
    title: str
    type: str


def selector_problem(css: str) -> str | None:
    """None if `css` is a selector the parser accepts, else a message saying why not."""
    try:
        LexborHTMLParser("<p></p>").css(css)
    except SelectolaxError:
        return f"not a valid CSS selector: {css!r}"
    return None


def parse_html_source(
    content: bytes, headers: Mapping[str, str], url: str, source: Source, now: datetime
) -> ParsedFeed:
    """Items of an `html` source's page; raise ParseError when the page yields none."""
    if source.preset is not None and source.preset != DISTRICT_PRESS:
        raise ParseError(url, f"unknown preset {source.preset!r}")
    return parse_html(content, headers, url, source.selectors, now)


def parse_html(
    content: bytes,
    headers: Mapping[str, str],
    url: str,
    selectors: HtmlSelectors | None,
    now: datetime,
) -> ParsedFeed:
    """The page's items by `selectors`, or by the district press preset when None."""
    tree = _tree(content, headers)
    base = _base_url(tree, url)
    if selectors is None:
        entries = _district_press(tree, base, url, now)
        how = "the district-press preset found no 'Опубликовано' line"
    else:
        entries = _selected(tree, base, selectors, now)
        how = f"no item matched the selectors (item: {selectors.item!r})"
    if not entries:
        raise ParseError(url, f"HTML page, no items: {how}")
    return ParsedFeed(title=_page_title(tree), link=url, version="html", entries=tuple(entries))


def feed_links(content: bytes, headers: Mapping[str, str], url: str) -> list[FeedLink]:
    """The feeds a page announces in <link rel="alternate" type="…rss+xml|atom+xml…">."""
    tree = _tree(content, headers)
    base = _base_url(tree, url)
    found: dict[str, FeedLink] = {}
    for node in tree.css("link[href]"):
        rel = (node.attributes.get("rel") or "").lower().split()
        kind = (node.attributes.get("type") or "").split(";")[0].strip().lower()
        href = (node.attributes.get("href") or "").strip()
        if "alternate" in rel and kind in FEED_TYPES and href:
            absolute = urljoin(base, href)
            title = _clean(node.attributes.get("title") or "")
            found.setdefault(absolute, FeedLink(absolute, title, kind))
    return list(found.values())


def strip_boilerplate(content: bytes, headers: Mapping[str, str]) -> str:
    """An article page's HTML without «Читайте также», share blocks and byline lines.

    Run before body extraction: an extractor keeps such blocks when they look like text.
    """
    tree = _tree(content, headers)
    _drop_see_also(tree)
    for node in tree.css("[class], [id]"):
        names = f"{node.attributes.get('class') or ''} {node.attributes.get('id') or ''}"
        if _SHARE_CLASS.search(names):
            node.decompose()
    for node in list(_deepest(tree, _is_meta_line)):
        node.decompose()
    return tree.html or ""


# --- the district press preset -------------------------------------------------------------


def _district_press(
    tree: LexborHTMLParser, base: str, page_url: str, now: datetime
) -> list[ParsedEntry]:
    _drop_see_also(tree)
    datelines = list(_deepest(tree, lambda text: bool(_DATELINE.fullmatch(text))))
    ancestors = [_ancestor_ids(node) for node in datelines]
    entries = []
    for index, dateline in enumerate(datelines):
        shared = set().union(*(ids for i, ids in enumerate(ancestors) if i != index))
        nodes = _item_nodes(dateline, shared)
        single = len(datelines) == 1
        entry = _press_entry(nodes, dateline, base, page_url if single else None, now)
        if entry is not None:
            entries.append(entry)
    return entries


def _item_nodes(dateline: LexborNode, shared: set[int]) -> list[LexborNode]:
    """The elements of one item: its own wrapper, or in a flat list the dateline and what follows.

    The wrapper is the largest ancestor of the dateline holding no other dateline (below
    <body>). Without one that also holds a headline, the item runs from the dateline's block to
    the next okrug line or dateline among its siblings.
    """
    block = dateline
    parent = dateline.parent
    while parent is not None and parent.tag not in ("body", "html") and parent.mem_id not in shared:
        block = parent
        parent = parent.parent
    if block.css_first(_HEADINGS) is not None:
        return [block]
    nodes = [block]
    current = block.next
    while current is not None:
        text = _text(current) if current.tag != "-text" else ""
        if _DATELINE.fullmatch(text) or _REGION.fullmatch(text):
            break
        if current.tag not in ("-text", "-comment"):
            nodes.append(current)
        current = current.next
    return nodes


def _press_entry(
    nodes: list[LexborNode], dateline: LexborNode, base: str, page_url: str | None, now: datetime
) -> ParsedEntry | None:
    match = _DATELINE.fullmatch(_text(dateline))
    heading = _first(nodes, _HEADINGS)
    if match is None or heading is None:
        return None
    bound = nodes[0] if len(nodes) == 1 else (nodes[0].parent or nodes[0])
    link = _link_of(heading, bound, base) or page_url
    skip = {dateline.mem_id, heading.mem_id}
    paragraphs = [
        p.html or ""
        for p in _all(nodes, "p")
        if p.mem_id not in skip
        and not _contains(p, skip)
        and not _is_meta_line(_text(p))
        and _text(p)
    ]
    image = _first(nodes, "img[src]")
    return ParsedEntry(
        guid=None,
        link=link,
        title=escape(_text(heading), quote=False),
        summary_html=paragraphs[0] if paragraphs else "",
        content_html=(_image_html(image, base) if image is not None else "") + "".join(paragraphs),
        published=parse_date(match["date"], now=now) or search_date(match["date"], now=now),
        updated=None,
        author=(match["author"] or "").strip() or None,
    )


def _all(nodes: list[LexborNode], css: str) -> list[LexborNode]:
    """Elements matching `css` among `nodes` and inside them, in document order."""
    found: list[LexborNode] = []
    for node in nodes:
        found += node.css(css)  # lexbor's css() includes the node itself when it matches
    return found


def _first(nodes: list[LexborNode], css: str) -> LexborNode | None:
    found = _all(nodes, css)
    return found[0] if found else None


def _is_meta_line(text: str) -> bool:
    """The okrug line, the dateline, a byline or a photo credit: not the article's text."""
    return bool(_DATELINE.fullmatch(text) or _BYLINE.fullmatch(text) or _REGION.fullmatch(text))


def _drop_see_also(tree: LexborHTMLParser) -> None:
    """Remove every «Читайте также» block: a wrapper holding it, or the heading and what follows."""
    for heading in list(_deepest(tree, lambda text: bool(_SEE_ALSO.fullmatch(text)))):
        block = heading
        while block.parent is not None and block.parent.tag not in ("body", "html"):
            if not _SEE_ALSO.match(_text(block.parent)):
                break
            block = block.parent
        if _SEE_ALSO.fullmatch(_text(block)):
            # a bare heading: the teasers are the siblings after it
            doomed = [block, *_following_siblings(block)]
        else:
            doomed = [block]
        for node in doomed:
            node.decompose()


# --- CSS selectors -------------------------------------------------------------------------


def _selected(
    tree: LexborHTMLParser, base: str, selectors: HtmlSelectors, now: datetime
) -> list[ParsedEntry]:
    entries = []
    for item in tree.css(selectors.item):
        title_node = item.css_first(selectors.title)
        if title_node is None or not _text(title_node):
            continue
        if selectors.link is not None:
            link_node = item.css_first(selectors.link)
            link = _href(link_node, base) if link_node is not None else None
        else:
            link = _link_of(title_node, item, base)
        summary = item.css_first(selectors.summary) if selectors.summary else None
        summary_html = (summary.html or "") if summary is not None else ""
        image = _image_html(item, base, selectors.image) if selectors.image else ""
        entries.append(
            ParsedEntry(
                guid=None,
                link=link,
                title=escape(_text(title_node), quote=False),
                summary_html=summary_html,
                content_html=image + summary_html,
                published=_selected_date(item, selectors.date, now),
                updated=None,
            )
        )
    return entries


def _selected_date(item: LexborNode, css: str | None, now: datetime) -> datetime | None:
    node = item.css_first(css) if css else None
    if node is None:
        return None
    text = node.attributes.get("datetime") or _text(node)
    return parse_date(text, now=now) or search_date(text, now=now)


# --- tree helpers --------------------------------------------------------------------------


def _tree(content: bytes, headers: Mapping[str, str]) -> LexborHTMLParser:
    return LexborHTMLParser(_decode(content, headers))


def _decode(content: bytes, headers: Mapping[str, str]) -> str:
    """Text by the charset of Content-Type, else of a <meta> tag, else UTF-8 (then cp1251)."""
    declared = re.search(r"charset=[\"']?([\w-]+)", headers.get("content-type", ""), re.I)
    meta = _META_CHARSET.search(content[:4096])
    names = [m.group(1) for m in (declared, meta) if m is not None]
    candidates = [n.decode("ascii") if isinstance(n, bytes) else n for n in names]
    for charset in [*candidates, "utf-8"]:
        try:
            return content.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return content.decode("windows-1251", errors="replace")


def _base_url(tree: LexborHTMLParser, url: str) -> str:
    base = tree.css_first("base[href]")
    href = (base.attributes.get("href") or "").strip() if base is not None else ""
    return urljoin(url, href) if href else url


def _page_title(tree: LexborHTMLParser) -> str:
    node = tree.css_first("title")
    return _text(node) if node is not None else ""


def _text(node: LexborNode) -> str:
    return _clean(node.text(deep=True, separator=" "))


def _clean(text: str) -> str:
    return " ".join(text.replace("\xa0", " ").split())


def _deepest(tree: LexborHTMLParser, matches: Callable[[str], bool]) -> Iterable[LexborNode]:
    """Elements whose text satisfies `matches` and that hold no other such element."""
    root = tree.body
    if root is None:
        return []
    found = [node for node in root.traverse() if node.tag != "-text" and matches(_text(node))]
    holders: set[int] = set()
    for node in found:
        holders |= _ancestor_ids(node)
    return [node for node in found if node.mem_id not in holders]


def _ancestor_ids(node: LexborNode) -> set[int]:
    ids = set()
    parent = node.parent
    while parent is not None:
        ids.add(parent.mem_id)
        parent = parent.parent
    return ids


def _contains(node: LexborNode, ids: set[int]) -> bool:
    return any(inner.mem_id in ids for inner in node.traverse())


def _following_siblings(node: LexborNode) -> list[LexborNode]:
    siblings = []
    current = node.next
    while current is not None:
        siblings.append(current)
        current = current.next
    return siblings


def _link_of(title: LexborNode, block: LexborNode, base: str) -> str | None:
    """The link of a headline: its own <a>, an <a> around it, else None."""
    if title.tag == "a":
        return _href(title, base)
    inner = title.css_first("a[href]")
    if inner is not None:
        return _href(inner, base)
    parent = title.parent
    while parent is not None and parent.mem_id != block.mem_id:
        if parent.tag == "a":
            return _href(parent, base)
        parent = parent.parent
    return None


def _href(node: LexborNode, base: str) -> str | None:
    href = (node.attributes.get("href") or "").strip()
    if not href and node.tag != "a":
        inner = node.css_first("a[href]")
        href = (inner.attributes.get("href") or "").strip() if inner is not None else ""
    return urljoin(base, href) if href else None


def _image_html(block: LexborNode, base: str, css: str = "img[src]") -> str:
    node = block.css_first(css)
    if node is None:
        return ""
    if node.tag != "img":
        node = node.css_first("img[src]")
    src = (node.attributes.get("src") or "").strip() if node is not None else ""
    if not src:
        return ""
    alt = (node.attributes.get("alt") or "") if node is not None else ""
    return f'<p><img src="{escape(urljoin(base, src))}" alt="{escape(alt)}"></p>'
