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
from lxml.html import HtmlElement
from trafilatura import bare_extraction
from trafilatura.htmlprocessing import convert_to_html
from trafilatura.utils import load_html
from trafilatura.xml import xmltotxt

from storage.sanitize import clean_html

logger = logging.getLogger(__name__)

_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
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
    tree = load_html(html)
    if tree is None:
        return Extracted(None, "", "", None, None, None, None)
    language = _language(tree)
    canonical = _page_canonical(tree)
    try:
        tree.make_links_absolute(url, resolve_base_href=True)
    except ValueError:  # a malformed href somewhere; keep links as they are
        logger.debug("could not absolutize links of %s", url)
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
    if document is None or isinstance(document, dict) or document.body is None:
        return Extracted(None, "", "", None, None, language, canonical)
    text = _plain_text(document.body)
    body_html = etree.tostring(convert_to_html(deepcopy(document.body)), encoding="unicode")
    return Extracted(
        title=(document.title or "").strip() or None,
        text=text,
        html=clean_html(body_html),
        published_at=_parse_date(document.date),
        author=(document.author or "").strip() or None,
        language=language,
        canonical_url=urljoin(url, canonical) if canonical else document.url,
    )


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


def _language(tree: HtmlElement) -> str | None:
    lang = tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
    if not lang:
        metas = tree.xpath('//meta[@http-equiv="content-language"]/@content')
        lang = metas[0] if metas else None
    if not lang:
        return None
    return str(lang).strip().split(",")[0].strip()[:16] or None


def _page_canonical(tree: HtmlElement) -> str | None:
    for xpath in (
        '//link[@rel="canonical"]/@href',
        '//meta[@property="og:url"]/@content',
    ):
        values = [str(v).strip() for v in tree.xpath(xpath) if str(v).strip()]
        if values:
            return values[0]
    return None


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
