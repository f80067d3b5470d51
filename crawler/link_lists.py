"""Blocks of an extracted body that are links and little else: "related stories", "more from
this section", a row of menu links or tags that trafilatura kept with the article.

trafilatura tests link density before extraction, on the page's elements; what it keeps can
still end with a list of headlines, each a link, or a paragraph that strings links together.
Their text is somebody else's headlines, not the article. A block (paragraph, list, table,
heading, quote) goes when it holds at least two links and link text makes
``LINK_SHARE`` of its text or more; a paragraph that cites two sources in a sentence of its
own does not. Its tail (text after it inside its parent) stays.
"""

from __future__ import annotations

from lxml import etree

from crawler.element_text import element_text

LINK_SHARE = 0.8
_BLOCKS = ("p", "list", "table", "head", "quote")


def drop_link_lists(body: etree._Element) -> None:
    """Remove from trafilatura's ``body`` the blocks that are mostly link text."""
    for block in list(body.iter(*_BLOCKS)):
        parent = block.getparent()
        if parent is not None and _mostly_links(block):
            _remove_keeping_tail(block, parent)


def _mostly_links(block: etree._Element) -> bool:
    links = list(block.iter("ref"))
    if len(links) < 2:
        return False
    total = len(element_text(block))
    return total > 0 and sum(len(element_text(link)) for link in links) >= LINK_SHARE * total


def _remove_keeping_tail(block: etree._Element, parent: etree._Element) -> None:
    if block.tail and block.tail.strip():
        previous = block.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + block.tail
        else:
            parent.text = (parent.text or "") + block.tail
    parent.remove(block)
