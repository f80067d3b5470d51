"""Article page HTML -> title, plain text, sanitized HTML, date, author, language, canonical URL.

trafilatura finds the article body and its metadata; nh3 sanitizes the HTML we keep. The
page is decoded by the caller (Scrapy honours the HTTP header, then the BOM, then the page's
own ``<meta charset>``), so a windows-1256 page that declares its charset only in ``<meta>``
comes out right.
"""

from __future__ import annotations

import logging
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin

import nh3
from lxml import etree
from lxml.html import HtmlElement
from trafilatura import bare_extraction
from trafilatura.htmlprocessing import convert_to_html
from trafilatura.utils import load_html
from trafilatura.xml import xmltotxt

logger = logging.getLogger(__name__)

# What a republishing site may show: structure, emphasis, links and images. No scripts,
# styles, forms, iframes or event handlers; links only to http(s) and mailto.
ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
        "ul", "ol", "li", "blockquote", "pre", "code",
        "b", "strong", "i", "em", "u", "sub", "sup", "del",
        "a", "img", "figure", "figcaption",
        "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


@dataclass(frozen=True)
class Extracted:
    title: str | None
    text: str
    html: str
    published_at: datetime | None
    author: str | None
    language: str | None
    canonical_url: str | None


def sanitize_html(html: str) -> str:
    """Allowlist sanitizing: safe to embed in a republishing page."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
    ).strip()


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
        html=sanitize_html(body_html),
        published_at=_parse_date(document.date),
        author=(document.author or "").strip() or None,
        language=language,
        canonical_url=urljoin(url, canonical) if canonical else document.url,
    )


def _plain_text(body: etree._Element) -> str:
    """Paragraphs separated by newlines; no link or image markup."""
    body = deepcopy(body)
    etree.strip_tags(body, "ref", "hi")
    etree.strip_elements(body, "graphic", with_tail=False)
    return xmltotxt(body, include_formatting=False).strip()


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
