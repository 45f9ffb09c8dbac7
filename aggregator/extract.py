"""An article page's main text, for sources with `full_text: true`: the only trafilatura user.

Pure: page bytes in, sanitizable HTML paragraphs out. The district press template's
«Читайте также», bylines, photo credits and share blocks are removed before extraction
(`htmlsource.strip_boilerplate`), because an extractor keeps them when they look like prose.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from html import escape

from aggregator.htmlsource import strip_boilerplate

__all__ = ["article_html"]

# trafilatura logs every page it finds too short at WARNING; that is our None, not a problem.
logging.getLogger("trafilatura").setLevel(logging.ERROR)


def article_html(content: bytes, headers: Mapping[str, str], url: str) -> str | None:
    """The article body as <p> paragraphs, or None when no body can be found."""
    # Imported on first use: trafilatura and what it loads (lxml, htmldate, justext) add ~12 MB
    # to every process, and most deployments have no full-text source.
    import trafilatura

    cleaned = strip_boilerplate(content, headers)
    text = trafilatura.extract(
        cleaned,
        url=url,
        output_format="txt",
        include_comments=False,
        include_tables=False,
        include_images=False,
        favor_precision=True,
        deduplicate=False,
    )
    if not text:
        return None
    paragraphs = [line.strip() for line in text.splitlines() if line.strip()]
    return "".join(f"<p>{escape(line, quote=False)}</p>" for line in paragraphs) or None
