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
from urllib.parse import urljoin

from lxml import etree
from trafilatura import bare_extraction
from trafilatura.htmlprocessing import convert_to_html
from trafilatura.utils import load_html
from trafilatura.xml import xmltotxt

from storage.sanitize import clean_html

logger = logging.getLogger(__name__)

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
_SITE_CHROME = etree.XPath("//nav|//footer|//aside|//form|//body/header")
# xmltotxt drops every character str.isprintable() rejects, among them ZERO WIDTH NON-JOINER
# (U+200C, the Persian half-space inside words such as "mi<ZWNJ>konad": without it the word is
# misspelt) and ZERO WIDTH JOINER. They cross it as variation selectors 255 and 256, which are
# printable and unused in running text.
_KEEP_INVISIBLE = str.maketrans({"\u200c": "\U000e01ee", "\u200d": "\U000e01ef"})
_RESTORE_INVISIBLE = str.maketrans({"\U000e01ee": "\u200c", "\U000e01ef": "\u200d"})
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Extracted:
    title: str | None
    text: str
    html: str
    published_at: datetime | None
    author: str | None
    language: str | None
    canonical_url: str | None


def extract_article(html: str, url: str) -> Extracted:
    """Extract the article in ``html`` (already decoded) fetched from ``url``.

    Never raises for bad HTML: an unusable page gives an :class:`Extracted` with empty text.
    """
    head = html[:_HEAD_BYTES]
    language = _language(head)
    base = _base_url(head, url)
    try:
        tree = load_html(html)
        if tree is None:
            return Extracted(None, "", "", None, None, language, None)
        # Site chrome goes before any work: trafilatura drops it from the body anyway, but
        # its metadata pass would first scan every footer link (a third of the time).
        for element in _SITE_CHROME(tree):
            element.drop_tree()
        document = bare_extraction(
            tree,
            url=url,
            with_metadata=True,
            include_comments=False,  # reader comments are not the article
            include_links=True,
            include_images=True,
            include_formatting=True,
            include_tables=True,
            date_extraction_params={"outputformat": _DATE_FORMAT, "original_date": True},
        )
    except (ValueError, TypeError, etree.LxmlError):
        document = None
    if document is None or isinstance(document, dict) or document.body is None:
        return Extracted(None, "", "", None, None, language, None)
    title = (document.title or "").strip() or None
    # Only the extracted body's links are made absolute: doing the whole page (nav, footer)
    # took a third of the extraction time on a typical news page.
    _absolutize(document.body, base)
    _drop_leading_title(document.body, title)
    text = _plain_text(document.body)
    body_html = etree.tostring(convert_to_html(deepcopy(document.body)), encoding="unicode")
    # trafilatura's url is the page's rel=canonical (or og:url), else the url it was given.
    canonical = document.url if document.url and document.url != url else None
    return Extracted(
        title=title,
        text=text,
        html=clean_html(body_html),
        published_at=_parse_date(document.date),
        author=(document.author or "").strip() or None,
        language=language,
        canonical_url=urljoin(url, canonical) if canonical else None,
    )


def _base_url(head: str, url: str) -> str:
    match = _BASE_HREF.search(head)
    return urljoin(url, match.group(1).strip()) if match else url


def _absolutize(body: etree._Element, base: str) -> None:
    """Links (``ref/@target``) and images (``graphic/@src``) of trafilatura's body, absolute."""
    for tag, attribute in (("ref", "target"), ("graphic", "src")):
        for element in body.iter(tag):
            value = element.get(attribute)
            if value:
                try:
                    element.set(attribute, urljoin(base, value.strip()))
                except ValueError:  # a malformed URL: drop it rather than keep it relative
                    del element.attrib[attribute]


def _drop_leading_title(body: etree._Element, title: str | None) -> None:
    """The headline is its own field; the body should not repeat it as its first line."""
    if not title or not len(body):
        return
    first = body[0]
    if first.tag == "head" and " ".join("".join(first.itertext()).split()) == " ".join(
        title.split()
    ):
        if first.tail and first.tail.strip():
            previous_text = body.text or ""
            body.text = previous_text + first.tail
        body.remove(first)


def _plain_text(body: etree._Element) -> str:
    """One line per paragraph; no link or image markup."""
    body = deepcopy(body)
    etree.strip_tags(body, "ref", "hi")
    etree.strip_elements(body, "graphic", with_tail=False)
    for element in body.iter():
        if element.text:
            element.text = element.text.translate(_KEEP_INVISIBLE)
        if element.tail:
            element.tail = element.tail.translate(_KEEP_INVISIBLE)
    _collapse_spaces(body)
    text = xmltotxt(body, include_formatting=False).translate(_RESTORE_INVISIBLE)
    return "\n".join(line.rstrip() for line in text.splitlines()).strip()


def _collapse_spaces(element: etree._Element) -> None:
    """Line breaks and indentation of the page's source are not text, except in code."""
    if element.tag == "code":
        return
    if element.text:
        element.text = _SPACES.sub(" ", element.text)
    for child in element:
        _collapse_spaces(child)
        if child.tail:
            child.tail = _SPACES.sub(" ", child.tail)


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
