"""A second look at trafilatura's body when the article was split into sibling containers
and only one part was taken.

Some pages split the article body into sibling containers with ads, share buttons or a side
rail between them (``<div class="article_body">`` twice around a rail); trafilatura's content
rules, or its comparison with readability, then keep one part and drop the lead or the end.
go-trafilatura and rs-trafilatura look again in that case; so does this, only when the page
has a good deal more paragraph text than the body:

1. the element of the page that holds the extracted text is found (the deepest one holding
   nearly all of the page's text that the body repeats);
2. it, or its parent or grandparent, with its siblings of the same tag whose text is
   paragraphs, not links, and that are not named as an author's profile, a promotion, a
   sidebar or comments, is extracted again as one article, without what lies between them.

A second extraction is kept only if it has more text than the first; more than twice as much
only if little of it is link text. Reader comments are never part of it.

(Walking up to the parent or grandparent when it holds much more paragraph text, the other
fallback of those ports, was measured and not kept: see the README.)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from copy import deepcopy
from typing import Any

from lxml import etree
from lxml.html import HtmlElement, document_fromstring

from crawler.element_text import element_text, link_share

logger = logging.getLogger(__name__)

MIN_MISSING = 300  # characters of the page's paragraph text the body must leave out
MATCH_SHARE = 0.9  # the chosen element holds this share of the page text the body repeats
MIN_NODE_TEXT = 25  # shorter text nodes are not matched (dates, "Share", menu items)
LINK_SHARE = 0.3  # paragraphs (and siblings) with more link text than this are not article
MIN_GAIN = 1.1  # a second extraction must have this much more text than the first
LINKS_IF_DOUBLED = 0.2  # more than twice the text: only with less link text than this
MIN_ADDED = 200  # characters of paragraph text merged siblings must add
LEVELS = 2  # ancestors of the chosen element whose siblings are looked at
# The page's paragraph elements, for what is article text.
_PARAGRAPHS = ("p",)
# Wraps a candidate so trafilatura's first content rule takes all of it.
_WRAPPER_CLASS = "entry-content"

# Reader comments: trafilatura's own patterns miss many ("commentlist", "lf_comment").
_COMMENTS = etree.XPath(
    "//body//*[re:test(@id, 'comment|disqus|respond|reply', 'i')"
    " or re:test(@class, 'comment|disqus|respond|reply', 'i')]",
    namespaces={"re": "http://exslt.org/regular-expressions"},
)
_HEADLINE = etree.XPath(".//h1|.//h2")
# Siblings not merged into the article, by their class or id.
_ASIDE = re.compile(
    r"author|profile|\bbio|vcard|promo|sidebar|widget|related|share|social|comment|disqus"
    r"|respond|reply",
    re.I,
)
Extract = Callable[[HtmlElement], Any]  # a page -> an object with its body in .body, or None


def widen(tree: HtmlElement, body: etree._Element, extract: Extract) -> etree._Element:
    """A fuller body than ``body`` from ``tree`` (the page trafilatura read), else ``body``.

    ``extract`` runs the same extraction as the first on a page (its result holds ``.body``). A page
    this second look fails on keeps its first body: the caller turns these errors into an
    empty article, which a fallback must never cost."""
    try:
        return _widen(tree, body, extract)
    except (ValueError, TypeError, AssertionError, etree.LxmlError):
        logger.debug("split-body merge skipped", exc_info=True)
        return body


def _widen(tree: HtmlElement, body: etree._Element, extract: Extract) -> etree._Element:
    found = element_text(body)
    paragraphs = _article_text(tree, frozenset())
    if paragraphs - len(found) < MIN_MISSING:
        return body
    chosen = _chosen(tree, found)
    if chosen is None:
        return body
    comments = _comments(tree, chosen)
    skip = frozenset(p for c in comments for p in c.iter(*_PARAGRAPHS))
    best, best_length = body, len(found)
    for candidate in _candidates(chosen, skip):
        new = getattr(extract(_page_of(candidate, comments)), "body", None)
        if new is None:
            continue
        length = len(element_text(new))
        if length < MIN_GAIN * best_length:
            continue
        if length > 2 * len(found) and link_share(new, "ref") > LINKS_IF_DOUBLED:
            continue
        best, best_length = new, length
    return best


def _comments(tree: HtmlElement, chosen: HtmlElement) -> list[HtmlElement]:
    """The page's reader comments, never ``chosen`` nor what holds it (a page or an article
    whose class says "comments-open")."""
    holders = {chosen, *chosen.iterancestors()}
    return [c for c in _COMMENTS(tree) if c not in holders]


def _candidates(chosen: HtmlElement, skip: frozenset[HtmlElement]) -> list[list[HtmlElement]]:
    """Groups of the page's elements to extract in place of ``chosen``: ``chosen`` or one
    of its ``LEVELS`` nearest ancestors, with its siblings of the same tag that look like
    article text (in page order). Paragraphs in ``skip`` (reader comments) are not article
    text."""
    found: list[list[HtmlElement]] = []
    node = chosen
    for _ in range(LEVELS + 1):
        parent = node.getparent()
        if parent is None or parent.tag in ("body", "html"):
            break
        group = [s for s in parent if s is node or _mergeable(s, node, skip)]
        added = sum(_article_text(s, skip) for s in group if s is not node)
        if len(group) > 1 and added >= MIN_ADDED:
            found.append(group)
        node = parent
    return found


def _mergeable(sibling: HtmlElement, node: HtmlElement, skip: frozenset[HtmlElement]) -> bool:
    """Same tag, not named as beside the article, paragraphs not links, and no headline of
    its own (then it is another story: the next one appended, or a blog's other posts)."""
    return (
        sibling.tag == node.tag
        and not _aside(sibling)
        and not _HEADLINE(sibling)
        and _like_article(sibling, skip)
    )


def _aside(element: HtmlElement) -> bool:
    """Named as what goes beside an article: an author's profile, a promotion, a sidebar."""
    return bool(_ASIDE.search(f"{element.get('class', '')} {element.get('id', '')}"))


def _like_article(element: HtmlElement, skip: frozenset[HtmlElement]) -> bool:
    """Mostly paragraphs, and not mostly links."""
    total = len(element_text(element))
    return (
        total > 0
        and _article_text(element, skip) >= 0.5 * total
        and link_share(element, "a") <= LINK_SHARE
    )


def _chosen(tree: HtmlElement, found: str) -> HtmlElement | None:
    """The deepest element of ``tree`` holding ``MATCH_SHARE`` of the page's text nodes
    that ``found`` repeats."""
    held: dict[HtmlElement, int] = {}
    total = 0
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        for piece, owner in ((element.text, element), (element.tail, element.getparent())):
            if not piece or owner is None:
                continue
            piece = " ".join(piece.split())
            if len(piece) < MIN_NODE_TEXT or piece not in found:
                continue
            total += len(piece)
            for holder in owner.iterancestors():
                held[holder] = held.get(holder, 0) + len(piece)
            held[owner] = held.get(owner, 0) + len(piece)
    if not total:
        return None
    best, depth = None, -1
    for element, size in held.items():
        if size >= MATCH_SHARE * total:
            level = sum(1 for _ in element.iterancestors())
            if level > depth:
                best, depth = element, level
    return best


def _page_of(group: list[HtmlElement], comments: list[HtmlElement]) -> HtmlElement:
    """A page of copies of ``group``'s elements, without reader comments."""
    page = document_fromstring(f'<html><body><div class="{_WRAPPER_CLASS}"></div></body></html>')
    wrapper = page.find(".//div")
    assert wrapper is not None
    dropped = set(comments)
    for element in group:
        copy = deepcopy(element)
        copy.tail = None
        for original, twin in zip(list(element.iter()), list(copy.iter()), strict=True):
            if original in dropped and twin is not copy:
                twin.drop_tree()
        if element not in dropped:
            wrapper.append(copy)
    return page


def _article_text(element: HtmlElement, skip: frozenset[HtmlElement]) -> int:
    """Characters of paragraph text in ``element`` that is not mostly links, nor in
    ``skip``."""
    total = 0
    for paragraph in element.iter(*_PARAGRAPHS):
        if paragraph in skip:
            continue
        size = len(element_text(paragraph))
        if size and link_share(paragraph, "a") <= LINK_SHARE:
            total += size
    return total
