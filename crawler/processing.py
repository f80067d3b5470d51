"""The page pipeline: the CPU-bound work on one page or feed, run in an extraction worker.

Decoding, extraction and dedup keys for a page; feedparser for a feed. Everything here is sent
to a worker process by reference (an importable module), so it imports the extraction stack
(trafilatura, lxml, numpy, feedparser) inside the functions: the crawler process imports this
module, never that stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crawler.extracted import Extracted, LeadImage, Page

if TYPE_CHECKING:
    from crawler.config import ExtractRules
    from crawler.editorial import Editing
    from crawler.feed_parser import ParsedFeed


EMPTIED = "rewrite / drop_paragraphs: no text left"


def process_page(
    body: bytes,
    content_type: str | None,
    url: str,
    feed_html: str | None = None,
    near_keys: bool = True,
    rules: ExtractRules | None = None,
    editing: Editing | None = None,
    entry_url: str | None = None,
    entry_title: str | None = None,
    template: frozenset[int] | None = None,
    entry_language: str | None = None,
    entry_image: LeadImage | None = None,
) -> Page:
    """Decode (HTTP header, BOM, then ``<meta charset>``, like Scrapy), extract, edit, judge,
    compute keys.

    A page with no extractable text falls back to the feed entry's own content (and title).
    ``editing`` (a source's rules) drops paragraphs and rewrites before the keys are
    computed, so the keys are those of the text stored; then says which filter, if any,
    drops the article, judging the entry's canonical ``entry_url`` and ``entry_title`` (when
    the entry has one) as they were judged before the fetch. ``template`` (the source's
    boilerplate paragraph fingerprints; None: the source learns none) drops those paragraphs
    after the editing, before the keys; the page's own fingerprints come back to learn from.

    The language is the page's declaration, else the feed's (``entry_language``), checked
    against the final text (``crawler.language``): the filters judge that one.

    ``entry_image`` (the entry's enclosure, Media RSS or sitemap image, with its caption) is
    the lead image; else the page's (``crawler.images``).
    """
    from w3lib.encoding import html_to_unicode

    from crawler.extract import extract_article
    from crawler.fingerprints import TextKeys, text_keys
    from crawler.language import final_language

    _, html = html_to_unicode(content_type, body)
    extracted = extract_article(html, url, rules, entry_image)
    title, text, body_html, paragraphs, dropped, emptied = _edited(
        extracted, feed_html, entry_title, editing, template
    )
    if not text:
        # A page whose every line the source's rules dropped is judged, not failed: recorded
        # once, rather than fetched and reported again at each poll.
        return Page(extracted, "", "", None, title, EMPTIED if emptied else None)
    keys = text_keys(text)
    if not near_keys:
        keys = TextKeys(keys.content_hash, None)
    language, source = final_language(extracted.language or entry_language, text)
    filtered = None
    if editing is not None:
        judged = (entry_url or url, entry_title or title)
        filtered = editing.after_extraction(*judged, text, language)
    return Page(
        extracted, text, body_html, keys, title, filtered, paragraphs, dropped, language, source
    )


def _edited(
    extracted: Extracted,
    feed_html: str | None,
    entry_title: str | None,
    editing: Editing | None,
    template: frozenset[int] | None,
) -> tuple[str | None, str, str, tuple[int, ...], int, bool]:
    """The title, text and HTML of a page (the feed's content when the page has no text)
    after the source's editing and template: with the page's paragraph fingerprints, how
    many of them the template dropped, and whether the editing left no text of some."""
    from crawler.extract import html_text
    from storage.html_policy import clean_html

    title, text, body_html = extracted.title or entry_title, extracted.text, extracted.html
    emptied = False
    if not text and feed_html:
        body_html = clean_html(feed_html)
        text = html_text(body_html)
    if editing is not None:
        from crawler.rewriting import edit_article

        had_text = bool(text)
        title, text, body_html = edit_article(editing, title, text, body_html)
        emptied = had_text and not text
    paragraphs: tuple[int, ...] = ()
    dropped = 0
    if template is not None and text:
        from crawler.rewriting import drop_template

        text, body_html, paragraphs, dropped = drop_template(text, body_html, template)
    return title, text, body_html, paragraphs, dropped, emptied


def process_feed(body: bytes, url: str, content_type: str | None) -> ParsedFeed:
    from crawler.feed_parser import parse_feed

    return parse_feed(body, url, content_type)


_WARM_PAGE = (
    b"<html><head><title>Warm</title></head><body><article><h1>Warm</h1>"
    + b"<p>"
    + b"Words to warm the extractor up with, in a paragraph. " * 8
    + b"</p>"
    + b"</article></body></html>"
)
_WARM_FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Warm</title>'
    b"<item><title>Warm</title><link>http://localhost/warm</link></item></channel></rss>"
)


def warm() -> None:
    """Import and initialize what the work above needs: the zygote does it once, before
    forking the workers, by processing a tiny page and feed (first calls also load
    feedparser, trafilatura's settings and the hash permutations: ~0.05 s per process; and
    the language model, ~0.6 s, as the warm page's text is detected)."""
    import crawler.config  # the type of [sources.extract] rules sent along with pages
    import crawler.rewriting  # a source's rewrites, applied in the workers

    process_page(_WARM_PAGE, "text/html; charset=utf-8", "http://localhost/warm")
    process_feed(_WARM_FEED, "http://localhost/feed", "application/rss+xml")
    del crawler


def run_call(function: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
    """One call in a worker: (True, result), or (False, the exception) for its caller."""
    try:
        return True, function(*args)
    except Exception as exc:
        return False, exc
