"""An article's lead image, found in its page: the feed's image when the feed names one, else
the page's ``og:image`` / ``twitter:image``, else the first large image of the article body;
with the caption and credit of the ``<figure>`` that shows it, when the page has one.

Runs in the extraction workers (lxml), on the page's tree after a source's ``remove`` rules
and the site chrome (menus, footers, sidebars) are gone, before trafilatura: the body is
extracted with images off, so they are looked for here. ``og:image:alt`` is not a caption:
it describes the picture for someone who cannot see it, and a caption says what the reader
is looking at and why, so it is not used.
"""

from __future__ import annotations

import re
from copy import deepcopy
from urllib.parse import urljoin, urlsplit

from lxml import etree
from lxml.html import HtmlElement

from crawler.extracted import LeadImage

# The page's own choice, strongest first. Some sites use name= for Open Graph, some
# property= for Twitter cards: both are read.
_META_IMAGES = etree.XPath(
    "//head/meta[@property=$name or @name=$name]/@content", smart_strings=False
)
_META_NAMES = (
    "og:image",
    "og:image:url",
    "og:image:secure_url",
    "twitter:image",
    "twitter:image:src",
)
# Where the article body is, most specific first: the first that the page has is searched
# alone (a page with an <article> shows other stories' thumbnails outside it); the whole
# page, its chrome already gone, last.
_BODY = etree.XPath("(//article | //main | //body)")
MIN_SIDE = 200  # pixels: a width or height attribute below it is an icon, a button, a pixel
# A file or class that names what is not a photograph of the story.
_NOT_A_PHOTO = re.compile(
    r"(?:^|[^a-z])(?:icons?|logos?|sprites?|pixel|spacer|blank|avatars?|badges?|emoji|"
    r"beacon|tracking|tracker|placeholder|loading|spinner)(?:[^a-z]|$)"
)
_CREDIT = re.compile(r"credit|copyright|byline|photographer", re.I)
_CAPTION_CHARS = 1000


def lead_image(
    tree: HtmlElement, base: str, feed_image: LeadImage | None = None
) -> LeadImage | None:
    """The article's lead image (absolute http(s) URL), with its caption and credit when a
    ``<figure>`` of the page shows it. ``feed_image`` (the entry's enclosure, media:content,
    media:thumbnail or sitemap image) wins; the page's figure then gives its caption and
    credit, and the entry's own fill what the page does not say."""
    if feed_image:
        found = _described(tree, base, feed_image.url)
        caption = found.caption or feed_image.caption
        return LeadImage(found.url, caption, found.credit or feed_image.credit)
    for name in _META_NAMES:
        for value in _META_IMAGES(tree, name=name):
            url = absolute_image_url(base, str(value))
            if url and not _looks_like_chrome(url, ""):
                return _described(tree, base, url)
    containers = {str(e.tag): e for e in reversed(_BODY(tree))}  # the first of each kind
    body = containers.get("article", containers.get("main", containers.get("body")))
    for img in body.iter("img") if body is not None else ():
        url = _large_image(img, base)
        if url:
            caption, credit = _figure_text(img)
            return LeadImage(url, caption, credit)
    return None


def absolute_image_url(base: str, value: str) -> str | None:
    """``value`` resolved against ``base``, if that is an http(s) URL of something that may be
    a photograph (not an inline ``data:`` image, not an .svg drawing)."""
    value = value.strip()
    if not value or value.lower().startswith("data:"):
        return None
    try:
        url = urljoin(base, value)
        parts = urlsplit(url)
    except ValueError:  # a malformed URL (a bad IPv6 literal, say)
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return None if parts.path.lower().endswith(".svg") else url


def _large_image(img: HtmlElement, base: str) -> str | None:
    """The address of ``img`` when it may be the story's picture: no side given under
    ``MIN_SIDE``, not named like an icon or a tracking pixel. Lazy-loaded images keep the
    real address in ``data-src`` and a placeholder in ``src``."""
    for name in ("width", "height"):
        size = re.match(r"\s*(\d+)", img.get(name) or "")
        if size and int(size.group(1)) < MIN_SIDE:
            return None
    src = img.get("src") or ""
    if not src.strip() or src.strip().lower().startswith("data:"):
        src = img.get("data-src") or img.get("data-original") or ""
    url = absolute_image_url(base, src)
    if url is None or _looks_like_chrome(url, img.get("class") or ""):
        return None
    return url


def _looks_like_chrome(url: str, classes: str) -> bool:
    path = urlsplit(url).path.lower()
    return bool(_NOT_A_PHOTO.search(path) or _NOT_A_PHOTO.search(classes.lower()))


def _described(tree: HtmlElement, base: str, url: str) -> LeadImage:
    """``url`` with the caption and credit of the first figure of the page that shows it."""
    for img in tree.iter("img"):
        for name in ("src", "data-src", "data-original"):
            value = img.get(name)
            if value and absolute_image_url(base, value) == url:
                caption, credit = _figure_text(img)
                return LeadImage(url, caption, credit)
    return LeadImage(url)


def _figure_text(img: HtmlElement) -> tuple[str | None, str | None]:
    """(caption, credit) of the ``<figure>`` holding ``img``: its ``<figcaption>`` without the
    credit, and the credit from an element of the figure whose class or itemprop says so
    (``credit``, ``copyright``, ``byline``, ``photographer``)."""
    figure = next(img.iterancestors("figure"), None)
    if figure is None:
        return None, None
    credit_at = _credit_element(figure)
    credit = _words(credit_at.text_content()) if credit_at is not None else None
    figcaption = next(figure.iter("figcaption"), None)
    if figcaption is None:
        return None, credit
    figcaption = deepcopy(figcaption)
    if (in_caption := _credit_element(figcaption)) is not None:
        in_caption.drop_tree()  # its tail, the caption's own text, stays
    return _words(figcaption.text_content()), credit


def _credit_element(root: HtmlElement) -> HtmlElement | None:
    for element in root.iterdescendants(etree.Element):
        marks = f"{element.get('class', '')} {element.get('itemprop', '')}"
        if element.tag != "img" and _CREDIT.search(marks):
            return element
    return None


def _words(text: str) -> str | None:
    return " ".join(text.split())[:_CAPTION_CHARS] or None
