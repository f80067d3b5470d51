"""A source's rewrites and dropped paragraphs, applied to an extracted article in an
extraction worker, before its dedup keys are computed (``crawler.processing.process_page``).

The text is one paragraph per line; the HTML is the sanitized fragment. Both get the same
edits: a paragraph one of ``drop_paragraphs`` is found in goes (a line of the text, the
innermost block element of the HTML), then each ``text`` rewrite is applied in order to each
line of the text and to each run of text of the HTML (never to its markup); ``title``
rewrites to the title. Nothing here removes a character the patterns do not match: the
Persian half-space (U+200C) is no whitespace to ``str.split`` or ``str.strip``.

The source's learnt template (``crawler.templates``) goes last, the same way: a paragraph
whose fingerprint is one of its boilerplate paragraphs, from the text and from the HTML.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from html import escape

from lxml import html as lxml_html
from lxml.html import HtmlElement

from crawler.editorial import Editing, compiled
from crawler.element_text import element_text
from crawler.fingerprints import paragraph_key, paragraph_keys

# Elements that hold a paragraph; the innermost one of them holding a match is dropped.
BLOCKS = (
    "p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "div", "td", "th",
    "dd", "dt", "figcaption",
)  # fmt: skip
_WRAPPER = ("<div>", "</div>")
# What a template may leave of a page at least: else it is kept whole. An outlet whose every
# article ends with one long standard paragraph, or a page of boilerplate only, is not blanked.
MIN_KEPT_CHARS = 200
MIN_KEPT_SHARE = 0.5

Rules = Sequence[tuple[str, str]]  # (pattern, replacement)


def edit_article(
    editing: Editing, title: str | None, text: str, html: str
) -> tuple[str | None, str, str]:
    """``title``, ``text`` and ``html`` after the source's dropped paragraphs and rewrites."""
    titles = [(r.pattern, r.replace) for r in editing.rewrites if r.field == "title"]
    texts = [(r.pattern, r.replace) for r in editing.rewrites if r.field == "text"]
    if title and titles:
        title = _rewritten(title, titles).strip() or None
    if texts or editing.drop_paragraphs:
        text = edit_text(text, editing.drop_paragraphs, texts)
        html = with_text(edit_html(html, editing.drop_paragraphs, texts), text)
    return title, text, html


def with_text(html: str, text: str) -> str:
    """``html``, or the paragraphs of ``text`` when the HTML has lost every word the text
    still has: an edit never blanks the republished body of an article that has text."""
    if not text or (
        html.strip()
        and lxml_html.fragment_fromstring(html, create_parent="div").text_content().strip()
    ):
        return html
    return "".join(f"<p>{escape(line)}</p>" for line in text.split("\n") if line)


def edit_text(text: str, drops: Sequence[str], rules: Rules) -> str:
    """The lines of ``text`` that no pattern of ``drops`` is found in, rewritten; a line
    that a rewrite leaves empty goes too."""
    lines = (line for line in text.split("\n") if not _found(line, drops))
    return "\n".join(edited for line in lines if (edited := _rewritten(line, rules).strip()))


def edit_html(fragment: str, drops: Sequence[str], rules: Rules) -> str:
    """``fragment`` without the blocks a pattern of ``drops`` is found in, its text runs
    rewritten; a block a rewrite leaves empty (and without an image) goes too. Returned as
    given when nothing changed."""
    if not fragment.strip():
        return fragment
    root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    changed = _split_lines(root)
    changed = _drop_blocks(root, lambda text: _found(text, drops)) or changed
    if rules:
        changed = _rewrite_runs(root, rules) or changed
    return _serialized(root) if changed else fragment


def drop_template(
    text: str, html: str, boilerplate: Set[int]
) -> tuple[str, str, tuple[int, ...], int]:
    """``text`` and ``html`` without the paragraphs whose fingerprint is in ``boilerplate``,
    the fingerprints of every paragraph of ``text`` (before), and how many lines went.

    Nothing goes when what would remain is under ``MIN_KEPT_CHARS`` or under
    ``MIN_KEPT_SHARE`` of the text: then the page is kept as it is.
    """
    keys = paragraph_keys(text)
    if boilerplate.isdisjoint(keys):
        return text, html, keys, 0
    lines = text.split("\n")
    kept = [line for line in lines if paragraph_key(line) not in boilerplate]
    remaining = "\n".join(kept)
    if len(remaining) < max(MIN_KEPT_CHARS, len(text) * MIN_KEPT_SHARE):
        return text, html, keys, 0
    if html.strip():
        root = lxml_html.fragment_fromstring(html, create_parent="div")
        split = _split_lines(root)
        if _drop_blocks(root, lambda block: paragraph_key(block) in boilerplate) or split:
            html = with_text(_serialized(root), remaining)
    return remaining, html, keys, len(lines) - len(kept)


def _split_lines(root: HtmlElement) -> bool:
    """Each block whose lines are separated by ``<br>`` as one block per line, as the text
    has them (one line each), so that dropping a line drops that line only; whether any was
    split."""
    split = False
    for block in _innermost_blocks(root):
        if not any(child.tag == "br" for child in block):
            continue
        lines = [_empty_like(block)]
        lines[0].text = block.text
        for child in list(block):
            if child.tag == "br":
                lines.append(_empty_like(block))
                lines[-1].text = child.tail
            else:
                lines[-1].append(child)  # its tail goes with it
        for line in lines:
            if line.text_content().strip() or len(line):
                block.addprevious(line)
        block.getparent().remove(block)
        split = True
    return split


def _empty_like(block: HtmlElement) -> HtmlElement:
    element: HtmlElement = lxml_html.Element(block.tag, dict(block.attrib))
    return element


def _drop_blocks(root: HtmlElement, drop: Callable[[str], bool]) -> bool:
    """Drop the innermost blocks under ``root`` whose text ``drop`` says; whether any went."""
    dropped = [block for block in _innermost_blocks(root) if drop(element_text(block))]
    for block in dropped:
        block.drop_tree()
    return bool(dropped)


def _serialized(root: HtmlElement) -> str:
    serialized: str = lxml_html.tostring(root, encoding="unicode")
    return serialized.removeprefix(_WRAPPER[0]).removesuffix(_WRAPPER[1])


def _rewrite_runs(root: HtmlElement, rules: Rules) -> bool:
    """Rewrite every run of text under ``root``; drop the paragraphs this empties. Whether
    anything changed."""
    before = {block: text for block in _innermost_blocks(root) if (text := element_text(block))}
    changed = False
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # a comment or processing instruction
        for node in ("text", "tail") if element is not root else ("text",):
            value = getattr(element, node)
            if value and (edited := _rewritten(value, rules)) != value:
                setattr(element, node, edited)
                changed = True
    for block, text in before.items():
        # What the text's line became: a match across inline markup ("Read more at
        # <a>PressTV</a>") is no run's, so such a block takes its line's text, plain.
        wanted = " ".join(_rewritten(text, rules).split())
        if element_text(block) != wanted:
            for child in list(block):
                block.remove(child)
            block.text = wanted
            changed = True
        if block.tag not in ("td", "th") and not wanted and not block.xpath(".//img"):
            block.drop_tree()
    return changed


def _innermost_blocks(root: HtmlElement) -> list[HtmlElement]:
    """The block elements under ``root`` that hold no other block element."""
    return [
        element
        for element in root.iterdescendants(*BLOCKS)
        if next(element.iterdescendants(*BLOCKS), None) is None
    ]


def _found(value: str, patterns: Sequence[str]) -> bool:
    return any(compiled(pattern).search(value) for pattern in patterns)


def _rewritten(value: str, rules: Rules) -> str:
    for pattern, replace in rules:
        value = compiled(pattern).sub(replace, value)
    return value
