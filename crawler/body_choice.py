"""trafilatura's choice between its own body and readability's, made on the text newsrelay keeps.

trafilatura extracts a body with its own rules, then (``compare_extraction``) weighs it
against readability-lxml's: readability's wins when it is more than twice as long, among
other tests. The length it gives its own body can be more than newsrelay keeps of it:

- with links kept, it counts the rows of links (a menu, "related stories") that
  ``crawler.link_lists`` drops afterwards. On a page laid out in tables, such a row can make
  a fragment of the article outweigh readability's whole article;
- it is measured before trafilatura removes an element that repeats the one before it and
  the elements it marked as consumed, so it can count text the body no longer holds.

Here the comparison is given the length of the body's own text without those rows; the body
itself, when it is kept, is unchanged.

trafilatura has no option for this. ``trafilatura.core`` calls ``compare_extraction`` by its
module-level name, so :func:`install` wraps that name (see ``crawler/upstream/
trafilatura_parts.py``), and the wrapper acts only on extractions whose options are
:class:`KeptTextOptions`: every other trafilatura call in the process is left as it was.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from lxml import etree
from lxml.html import HtmlElement

from crawler.link_lists import drop_link_lists
from crawler.upstream.trafilatura_parts import Extractor, compare_extraction, trafilatura_core

_upstream_compare = compare_extraction


class KeptTextOptions(Extractor):
    """trafilatura's options for newsrelay's extraction: the body choice counts kept text."""


def body_options(url: str) -> KeptTextOptions:
    """What newsrelay asks of trafilatura for a page's body."""
    return KeptTextOptions(
        url=url,
        with_metadata=False,  # read by crawler.extract._metadata
        # Not "python": that also renders the body as text (a tenth of the time, thrown away)
        output_format="xml",
        comments=False,  # reader comments are not the article
        links=True,
        # Off: with images on, trafilatura keeps captions, credits and "related" thumbnails:
        # lower on every set of `make bench-extract`. The lead image is metadata.
        images=False,
        formatting=True,
        tables=True,
    )


def install() -> None:
    """Route trafilatura's body comparison through :func:`_compare` (idempotent)."""
    # trafilatura.core imports the name without re-exporting it: hence the ignore.
    trafilatura_core.compare_extraction = _compare  # type: ignore[attr-defined]


def _compare(
    cleaned_tree: HtmlElement,
    raw_tree: HtmlElement,
    body: etree._Element,
    text: str,
    options: Extractor,
) -> tuple[Any, str]:
    if not isinstance(options, KeptTextOptions):
        return _upstream_compare(cleaned_tree, raw_tree, body, text, options)
    kept = _kept_text(body)
    if len(kept) >= len(text):
        return _upstream_compare(cleaned_tree, raw_tree, body, text, options)
    chosen, chosen_text = _upstream_compare(cleaned_tree, raw_tree, body, kept, options)
    # trafilatura's own body kept: its text stays whole (the rows go later, with the rest).
    return (body, text) if chosen is body else (chosen, chosen_text)


def _kept_text(body: etree._Element) -> str:
    """The body's text as trafilatura measures it, without the blocks that are mostly links."""
    if body.find(".//ref") is not None:
        body = deepcopy(body)
        drop_link_lists(body)
    return " ".join(body.itertext()).strip()
