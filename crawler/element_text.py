"""An element's text as the article's text has it (whitespace runs as one space), and how much
of it is link text: what the passes over trafilatura's body (``crawler.spacing``,
``crawler.link_lists``, ``crawler.split_body``, the leading-title check of
``crawler.extract``) and the editing of stored blocks (``crawler.rewriting``) measure blocks
by."""

from __future__ import annotations

from lxml import etree


def element_text(element: etree._Element) -> str:
    """``element``'s text, its descendants' included, whitespace runs as one space."""
    return " ".join("".join(element.itertext()).split())


def link_share(element: etree._Element, link_tag: str) -> float:
    """The share of ``element``'s text inside ``link_tag`` elements (``a`` on a page,
    ``ref`` in trafilatura's body); 0 for an element without text."""
    total = len(element_text(element))
    if not total:
        return 0.0
    return sum(len(element_text(link)) for link in element.iter(link_tag)) / total
