"""The spaces around links and bold or italic runs that trafilatura's extraction loses.

With links kept, trafilatura trims the text either side of a link or of a formatting element
inside another one (``<i>(posted from <a>The Blog</a>) </i>`` in a ``<div>`` comes out as
"posted fromThe Blog"), and "from" and "The" become one word: in the text, in the HTML, in
search and in the dedup keys. The page says where it had a space: this reads it off the page
before extraction and puts back, in the extracted body, a space the page had and the body
lost. Never a space the page did not have; an element whose text occurs on the page with and
without a space on one side is left as it is on that side.
"""

from __future__ import annotations

from lxml import etree
from lxml.html import HtmlElement

from crawler.element_text import element_text

# The page's elements trafilatura turns into ``ref`` (a) and ``hi`` (the rest).
_PAGE_INLINE = ("a", "em", "i", "b", "strong", "u", "kbd", "samp", "tt", "var", "sub", "sup")
_BODY_INLINE = ("ref", "hi")

# (a space before it, a space after it), None where the page does not say or disagrees
Spacing = dict[str, tuple[bool | None, bool | None]]


def page_spacing(tree: HtmlElement) -> Spacing:
    """Whether the page has whitespace before and after each link or formatting element,
    by its text."""
    found: Spacing = {}
    for element in tree.iter(*_PAGE_INLINE):
        key = element_text(element)
        if not key:
            continue
        previous, parent = element.getprevious(), element.getparent()
        if previous is not None:
            before_text = previous.tail
        else:
            before_text = parent.text if parent is not None else None
        before = before_text[-1].isspace() if before_text else None
        after = element.tail[0].isspace() if element.tail else None
        known = found.get(key)
        if known is not None:
            before = before if known[0] == before else None
            after = after if known[1] == after else None
        found[key] = (before, after)
    return found


def restore_spacing(body: etree._Element, spacing: Spacing) -> None:
    """Put back into trafilatura's ``body`` the spaces the page had around its links and
    formatting elements."""
    if not spacing:
        return
    for element in body.iter(*_BODY_INLINE):
        before, after = spacing.get(element_text(element), (None, None))
        if before:
            _space_before(element)
        if after and element.tail and not element.tail[0].isspace():
            element.tail = " " + element.tail


def _space_before(element: etree._Element) -> None:
    previous = element.getprevious()
    if previous is not None:
        if previous.tail:
            if not previous.tail[-1].isspace():
                previous.tail += " "
        elif previous.tag != "lb":  # after a line break, the element starts its line
            previous.tail = " "
        return
    parent = element.getparent()
    if parent is not None and parent.text and not parent.text[-1].isspace():
        parent.text += " "
