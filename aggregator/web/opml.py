"""The OPML subscription list of every output, grouped: config in, OPML 2.0 bytes out (pure).

Groups: the whole city, then each okrug (its own feed, then its districts and former
settlements), then topics, then the sysadmin's named outputs. Readers import it in one click.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from aggregator.domain import Config, District
from aggregator.web.feeds import FORMATS, FeedSpec, all_spec, area_spec, named_spec, topic_spec

OPML_TYPE = "text/x-opml; charset=utf-8"

FORMAT_TYPES = {"atom": "atom", "rss": "rss", "json": "json"}


def build_opml(config: Config, fmt: str = "atom", now: datetime | None = None) -> bytes:
    """OPML 2.0 listing every okrug, district, topic and named output in the given format."""
    base = config.service.public_url.rstrip("/")
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "Москва: ленты районов, округов и тем"
    if now is not None:
        ET.SubElement(head, "dateCreated").text = now.strftime("%a, %d %b %Y %H:%M:%S %z")
    body = ET.SubElement(root, "body")

    def feed(parent: ET.Element, spec: FeedSpec) -> ET.Element:
        return ET.SubElement(
            parent,
            "outline",
            type=FORMAT_TYPES.get(fmt, "rss"),
            text=spec.title,
            title=spec.title,
            xmlUrl=f"{base}{spec.path}.{fmt}",
            htmlUrl=f"{base}/{spec.anchor}",
        )

    feed(ET.SubElement(body, "outline", text="Вся Москва", title="Вся Москва"), all_spec())
    okrugs = ET.SubElement(body, "outline", text="Округа и районы", title="Округа и районы")
    for okrug in config.okrugs:
        group = ET.SubElement(okrugs, "outline", text=okrug.name, title=okrug.name)
        spec = area_spec(config, okrug.slug)
        if spec is not None:
            feed(group, spec)
        members = [d for d in map(config.district, okrug.districts) if d is not None]
        for district in sorted(members, key=_district_order):
            spec = area_spec(config, district.slug)
            if spec is not None:
                feed(group, spec)
    topics = ET.SubElement(body, "outline", text="Темы", title="Темы")
    for topic in config.topics:
        spec = topic_spec(config, topic.slug)
        if spec is not None:
            feed(topics, spec)
    if config.outputs:
        named = ET.SubElement(body, "outline", text="Подборки", title="Подборки")
        for output in config.outputs:
            spec = named_spec(config, output)
            feed(named, spec)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def opml_response(config: Config, request: Request) -> Response:
    """/opml: every output in the format `?format=` names (Atom by default)."""
    fmt = request.query_params.get("format", "atom")
    headers = {"Content-Disposition": 'inline; filename="moscow-district-feeds.opml"'}
    body = build_opml(config, fmt if fmt in FORMATS else "atom")
    return Response(body, media_type=OPML_TYPE, headers=headers)


def _district_order(district: District) -> tuple[int, str]:
    """Current districts first, then former settlements; each by Russian name (ё as е)."""
    return (district.kind != "district", district.name.replace("ё", "е").replace("Ё", "Е"))
