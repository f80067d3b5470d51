"""Article page HTML -> title, plain text, sanitized HTML, date, author, language, canonical URL.

trafilatura finds the article body and its metadata; nh3 sanitizes the HTML we keep. The
page is decoded by the caller (Scrapy honours the HTTP header, then the BOM, then the page's
own ``<meta charset>``), so a windows-1256 page that declares its charset only in ``<meta>``
comes out right.
"""

from __future__ import annotations

import logging
import re
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from html import escape
from urllib.parse import urljoin

from htmldate import find_date
from lxml import etree
from lxml import html as lxml_html
from lxml.cssselect import CSSSelector
from lxml.html import HtmlElement
from trafilatura import bare_extraction

from crawler import body_choice
from crawler.body_choice import body_options
from crawler.config import ExtractRules
from crawler.dates import parse_iso_datetime
from crawler.element_text import element_text
from crawler.extracted import Extracted, LeadImage
from crawler.images import lead_image
from crawler.link_lists import drop_link_lists
from crawler.spacing import page_spacing, restore_spacing
from crawler.split_body import widen
from crawler.upstream.trafilatura_parts import (
    Document,
    convert_to_html,
    examine_meta,
    extract_author,
    extract_meta_json,
    extract_title,
    extract_url,
    load_html,
    xmltotxt,
)
from storage.html_policy import clean_html

logger = logging.getLogger(__name__)
body_choice.install()

_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
_HEAD_BYTES = 8192
_HTML_LANG = re.compile(
    r"<html\b[^>]*?\blang\s*=\s*[\"']?\s*([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*)", re.I
)
_CONTENT_LANGUAGE = re.compile(
    r"<meta\b[^>]*http-equiv\s*=\s*[\"']?content-language[\"']?[^>]*content\s*=\s*[\"']?([^\"'>]+)",
    re.I,
)
_BASE_HREF = re.compile(r"<base\b[^>]*\bhref\s*=\s*[\"']([^\"']+)[\"']", re.I)
_CANONICAL_LINK = etree.XPath('//head/link[@rel="canonical"]/@href')
_OG_URL = etree.XPath('//head/meta[@property="og:url"]/@content')
# Forms are left to trafilatura: an ASP.NET page wraps its whole content in one <form>.
_ARTICLE_CHARS = 500  # text a chrome element needs, besides half the page's, to be the page
_SITE_CHROME = etree.XPath("//nav|//footer|//aside|//body/header")
# trafilatura's text passes (xmltotxt, and the trimming of titles and authors) drop every
# character str.isprintable() rejects, among them ZERO WIDTH NON-JOINER (U+200C, the Persian
# half-space inside words such as "pish<ZWNJ>bini": without it the word is misspelt) and ZERO
# WIDTH JOINER. On a page that has them, they cross every pass as variation selectors 255 and
# 256, which are printable and unused in running text, and come back in every field.
_KEEP_INVISIBLE = str.maketrans({"\u200c": "\U000e01ee", "\u200d": "\U000e01ef"})
_RESTORE_INVISIBLE = str.maketrans({"\U000e01ee": "\u200c", "\U000e01ef": "\u200d"})
# Either character in the page, as itself or as an entity (&zwnj; &#8204; &#x200C; ...).
_INVISIBLE = re.compile(r"[\u200c\u200d]|&(?:zwn?j|#0*820[45]|#x0*200[cd]);?", re.I)
_SPACES = re.compile(r"\s+")


def extract_article(
    html: str, url: str, rules: ExtractRules | None = None, feed_image: LeadImage | None = None
) -> Extracted:
    """Extract the article in ``html`` (already decoded) fetched from ``url``.

    ``rules`` (a source's ``[sources.extract]``) remove elements first, and their ``title``,
    ``body``, ``date`` and ``author`` selectors, where they match, win over trafilatura.
    ``feed_image`` (the feed entry's image) is the lead image if given, else the page's own
    (``crawler.images``). Never raises for bad HTML: an unusable page gives an
    :class:`Extracted` with empty text.
    """
    head = html[:_HEAD_BYTES]
    language = _language(head)
    base = _base_url(head, url)
    unusable = Extracted(None, "", "", None, None, language, None, feed_image)
    try:
        tree = load_html(html)
        if tree is None:
            return unusable
        invisible = _INVISIBLE.search(html) is not None
        if invisible:
            _hide_invisible(tree)
        canonical = _page_canonical(tree)
        overrides = _apply_rules(tree, rules, base) if rules else _Overrides()
        _drop_site_chrome(tree)
        image = lead_image(tree, base, feed_image)  # before trafilatura, which changes the tree
        metadata = _metadata(tree, url)
        document = _document(tree, url)
    except (ValueError, TypeError, etree.LxmlError):
        return unusable
    found_title = (metadata.title or "").strip()
    found_author = (metadata.author or "").strip()
    title = overrides.title or found_title or None
    text, body_html = _body(document, overrides, base, title)
    author = overrides.author or found_author or None
    if invisible:
        title, author = _restore_invisible(title), _restore_invisible(author)
        text, body_html = _restore_invisible(text) or "", _restore_invisible(body_html) or ""
        image = _restore_invisible_image(image)
    return Extracted(
        title=title,
        text=text,
        html=body_html,
        published_at=overrides.date or _parse_date(metadata.date),
        author=author,
        language=language,
        canonical_url=urljoin(url, canonical) if canonical else None,
        image=image,
    )


def _body(
    document: Document | None, overrides: _Overrides, base: str, title: str | None
) -> tuple[str, str]:
    """(text, sanitized HTML) of the body: a source's ``body`` rule's, else trafilatura's."""
    if overrides.body_html is not None:
        return html_text(overrides.body_html), overrides.body_html
    if document is None or document.body is None:
        return "", ""
    # Only the extracted body's links are made absolute: doing the whole page (nav,
    # footer) took a third of the extraction time on a typical news page.
    _absolutize(document.body, base)
    _drop_leading_title(document.body, title)
    text = _plain_text(document.body)
    converted = convert_to_html(deepcopy(document.body))
    return text, clean_html(etree.tostring(converted, encoding="unicode"))


def _drop_site_chrome(tree: HtmlElement) -> None:
    """Menus, footers and sidebars go before any work: trafilatura drops them from the body
    anyway, but its metadata pass would first scan every footer link (a third of the time).
    Never one that holds half of the page's text or more, if that is an article's worth:
    then it is the page. (A page whose only text is a menu still has no article.)"""
    found = _SITE_CHROME(tree)
    if not found:
        return
    total = len(tree.text_content())
    for element in found:
        size = len(element.text_content())
        if size * 2 < total or size < _ARTICLE_CHARS:
            element.drop_tree()


def _document(tree: HtmlElement, url: str, widened: bool = True) -> Document | None:
    """trafilatura's extraction of the article body (as its XML tree), without metadata, with
    the spaces it lost around links and bold or italic runs put back (``crawler.spacing``)
    and without the blocks that are mostly links (``crawler.link_lists``)."""
    spacing = page_spacing(tree)  # before trafilatura, which changes the tree
    document = bare_extraction(tree, options=body_options(url))
    if not isinstance(document, Document):
        return None
    if document.body is not None:
        restore_spacing(document.body, spacing)
        drop_link_lists(document.body)
        if widened:  # an article body split around ads or a side rail, whole again
            document.body = widen(tree, document.body, lambda page: _document(page, url, False))
    return document


def _metadata(tree: HtmlElement, url: str) -> Document:
    """The title, author and date of the page: trafilatura's ``extract_metadata`` without the
    fields newsrelay does not keep (site name, categories, tags, licence), which took a
    tenth of the extraction time. Same sources in the same order: ``<meta>`` tags, then
    JSON-LD, then the page's own elements; htmldate for the date."""
    metadata = examine_meta(tree)
    if metadata.author and " " not in metadata.author:  # as trafilatura: a handle, not a name
        metadata.author = None
    try:
        metadata = extract_meta_json(tree, metadata)
    except Exception:  # trafilatura guards its JSON-LD reader the same way
        logger.debug("JSON-LD metadata unreadable: %s", url)
    if not metadata.title:
        metadata.title = extract_title(tree)
    if not metadata.author:
        metadata.author = extract_author(tree)
    if not metadata.url:
        metadata.url = extract_url(tree, url)
    # The page's URL may carry its date (/2026/11/20/...).
    metadata.date = find_date(tree, url=metadata.url, outputformat=_DATE_FORMAT, original_date=True)
    metadata.clean_and_trim()
    return metadata


@dataclass(frozen=True)
class _Overrides:
    title: str | None = None
    body_html: str | None = None
    date: datetime | None = None
    author: str | None = None


def _apply_rules(tree: HtmlElement, rules: ExtractRules, base: str) -> _Overrides:
    """Drop ``remove`` matches from ``tree``; read what the other selectors match.

    The headline, byline and date are fields of their own: the elements they were read from
    are left out of the ``body`` blocks that contain them, as generic extraction drops the
    leading headline from its body.
    """
    for selector in rules.remove:
        for element in _css(selector)(tree):
            element.drop_tree()
    title, title_at = _selected_text(tree, rules.title)
    date, date_at = _selected_date(tree, rules.date)
    author, author_at = _selected_text(tree, rules.author)
    body_html = None
    if rules.body and (blocks := _css(rules.body)(tree)):
        in_body = set(blocks)
        for field in (title_at, date_at, author_at):
            if field is not None and any(a in in_body for a in field.iterancestors()):
                field.drop_tree()  # its tail text stays
        parts = []
        for block in blocks:
            block = deepcopy(block)
            block.make_links_absolute(base)
            parts.append(lxml_html.tostring(block, encoding="unicode"))
        body_html = clean_html("".join(parts))
    return _Overrides(title=title, body_html=body_html, date=date, author=author)


@lru_cache(maxsize=256)
def _css(selector: str) -> CSSSelector:
    return CSSSelector(selector, translator="html")


def _selected_text(
    tree: HtmlElement, selector: str | None
) -> tuple[str | None, HtmlElement | None]:
    """The text of the first match that has any, and that match."""
    if not selector:
        return None, None
    for element in _css(selector)(tree):
        text = " ".join(element.text_content().split())
        if text:
            return text, element
    return None, None


def _selected_date(
    tree: HtmlElement, selector: str | None
) -> tuple[datetime | None, HtmlElement | None]:
    """The date in the first match that has one (its datetime/content attribute, or its
    text), and that match."""
    if not selector:
        return None, None
    for element in _css(selector)(tree):
        for value in (element.get("datetime"), element.get("content"), element.text_content()):
            if value and (parsed := _parse_any_date(value.strip())):
                return parsed, element
    return None, None


def _parse_any_date(value: str) -> datetime | None:
    if parsed := parse_iso_datetime(value):
        return parsed
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        pass
    found = find_date(f"<html><body><p>{escape(value)}</p></body></html>", outputformat="%Y-%m-%d")
    return _parse_date(found) if found else None


def html_text(fragment: str) -> str:
    """Block-level text of an HTML fragment, one paragraph per line."""
    if not fragment.strip():
        return ""
    root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    blocks = [
        " ".join(block.text_content().split())
        for block in root.iter("p", "li", "h2", "h3", "h4", "blockquote")
    ]
    text = "\n".join(b for b in blocks if b)
    return text or " ".join(root.text_content().split())


def _base_url(head: str, url: str) -> str:
    match = _BASE_HREF.search(head)
    return urljoin(url, match.group(1).strip()) if match else url


def _absolutize(body: etree._Element, base: str) -> None:
    """Links (``ref/@target``) and images (``graphic/@src``, from a source's ``body`` rule's
    fragment never: those are made absolute by lxml) of trafilatura's body, absolute."""
    for tag, attribute in (("ref", "target"), ("graphic", "src")):
        for element in body.iter(tag):
            value = element.get(attribute)
            if value and not value.startswith(("http://", "https://")):  # most already are
                try:
                    element.set(attribute, urljoin(base, value.strip()))
                except ValueError:  # a malformed URL: drop it rather than keep it relative
                    del element.attrib[attribute]


def _drop_leading_title(body: etree._Element, title: str | None) -> None:
    """The headline is its own field; the body should not repeat it as its first line."""
    if not title or not len(body):
        return
    first = body[0]
    if first.tag == "head" and element_text(first) == " ".join(title.split()):
        if first.tail and first.tail.strip():
            previous_text = body.text or ""
            body.text = previous_text + first.tail
        body.remove(first)


def _plain_text(body: etree._Element) -> str:
    """One line per paragraph; no link or image markup."""
    body = deepcopy(body)
    etree.strip_tags(body, "ref", "hi")
    etree.strip_elements(body, "graphic", with_tail=False)
    # Line breaks and indentation of the page's source are not text, except inside code.
    code = {e for c in body.iter("code") for e in c.iter()}
    for element in body.iter():
        if element.text and element not in code:
            element.text = _SPACES.sub(" ", element.text)
        if element.tail and element is not body:
            parent = element.getparent()
            element.tail = element.tail if parent in code else _SPACES.sub(" ", element.tail)
    text = xmltotxt(body, include_formatting=False)
    return "\n".join(line.rstrip() for line in text.splitlines()).strip()


def _hide_invisible(tree: HtmlElement) -> None:
    """ZWNJ and ZWJ in the page's text and attributes, as printable stand-ins."""
    for element in tree.iter():
        if element.text and ("\u200c" in element.text or "\u200d" in element.text):
            element.text = element.text.translate(_KEEP_INVISIBLE)
        if element.tail and ("\u200c" in element.tail or "\u200d" in element.tail):
            element.tail = element.tail.translate(_KEEP_INVISIBLE)
        for name, value in element.attrib.items():
            if "\u200c" in value or "\u200d" in value:
                element.set(name, value.translate(_KEEP_INVISIBLE))


def _restore_invisible(text: str | None) -> str | None:
    return text.translate(_RESTORE_INVISIBLE) if text else text


def _restore_invisible_image(image: LeadImage | None) -> LeadImage | None:
    if image is None:
        return None
    url = _restore_invisible(image.url) or image.url
    return LeadImage(url, _restore_invisible(image.caption), _restore_invisible(image.credit))


def _page_canonical(tree: HtmlElement) -> str | None:
    """The page's own ``<link rel=canonical>``, else its ``og:url``."""
    for found in (_CANONICAL_LINK(tree), _OG_URL(tree)):
        values = [str(v).strip() for v in found if str(v).strip()]
        if values:
            return values[0]
    return None


def _language(head: str) -> str | None:
    match = _HTML_LANG.search(head) or _CONTENT_LANGUAGE.search(head)
    return match.group(1).split(",")[0].strip()[:16] or None if match else None


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    for fmt in (_DATE_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
