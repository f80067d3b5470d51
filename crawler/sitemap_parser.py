"""Sitemaps: urlsets (news sitemaps included) and sitemap indexes, gzipped or not.

Parsed with lxml's recovering iterparse and entities not resolved (like Scrapy's own
Sitemap class), but keeping what that class drops: the ``news:publication_date`` and
``news:title`` of Google News sitemaps, which say how fresh an entry is, their
``news:language``, and the first ``image:image`` (its ``image:loc`` and ``image:caption``),
which the entry hands on like a feed's language and image enclosure.
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin

from lxml import etree
from scrapy.utils.sitemap import sitemap_urls_from_robots

from crawler.dates import parse_iso_datetime
from crawler.feed_parser import FeedEntry
from crawler.images import absolute_image_url

MAX_ENTRIES = 50_000  # the sitemap protocol's own limit per file


@dataclass(frozen=True)
class SitemapEntry:
    loc: str
    published_at: datetime | None = None  # news:publication_date, else lastmod
    title: str | None = None
    language: str | None = None  # news:language, as declared
    image: str | None = None  # the first image:image's image:loc, absolute
    image_caption: str | None = None  # and its image:caption
    updated_at: datetime | None = None  # lastmod, else news:publication_date

    def feed_entry(self) -> FeedEntry:
        """The entry as a feed's: its language a declaration, its image the lead image."""
        return FeedEntry(
            self.loc,
            title=self.title,
            published_at=self.published_at,
            language=self.language,
            image=self.image,
            image_caption=self.image_caption,
            updated_at=self.updated_at,
        )


@dataclass(frozen=True)
class Sitemap:
    kind: str  # urlset | sitemapindex | robots | unknown
    entries: list[SitemapEntry]
    error: str | None = None


def parse_sitemap(body: bytes, url: str, max_bytes: int) -> Sitemap:
    """Parse a downloaded sitemap, sitemap index or robots.txt (its ``Sitemap:`` lines)."""
    if url.rstrip("/").endswith("/robots.txt"):
        locs = list(sitemap_urls_from_robots(body, base_url=url))
        if not locs:
            return Sitemap("robots", [], error="robots.txt names no sitemap")
        return Sitemap("robots", [SitemapEntry(loc) for loc in locs])
    try:
        body = _gunzip(body, max_bytes)
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        return Sitemap("unknown", [], error=f"bad gzip data: {exc}")
    # Blank lines before the XML declaration are common (WordPress plugins print them); the
    # recovering parser then loses entities: "?a=1&amp;b=2" would become "?a=1b=2".
    body = body.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    try:
        events = etree.iterparse(
            io.BytesIO(body),
            events=("end",),
            recover=True,
            resolve_entities=False,
            no_network=True,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        entries: list[SitemapEntry] = []
        root_kind = "unknown"
        for _, element in events:
            name = _local(element.tag)
            if name in ("url", "sitemap"):
                entry = _entry(element, url)
                if entry is not None and len(entries) < MAX_ENTRIES:
                    entries.append(entry)
                element.clear()
            elif name in ("urlset", "sitemapindex"):
                root_kind = name
    except etree.XMLSyntaxError as exc:
        return Sitemap("unknown", [], error=f"not a sitemap: {exc}")
    if root_kind == "unknown":
        return Sitemap("unknown", [], error="not a sitemap: no <urlset> or <sitemapindex>")
    return Sitemap(root_kind, entries)


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    """Inflate a gzipped sitemap (``.xml.gz``), refusing to grow past ``max_bytes``."""
    if not body.startswith(b"\x1f\x8b"):
        return body
    with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
        data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"inflates to more than {max_bytes} bytes")
    return data


def _entry(element: etree._Element, base: str) -> SitemapEntry | None:
    loc = lastmod = published = title = language = image = caption = None
    for child in element.iter():
        name = _local(child.tag)
        text = (child.text or "").strip()
        if name == "loc" and loc is None and text and child.getparent() is element:
            loc = text  # the url's own <loc>, not an image:loc
        elif name == "lastmod" and text:
            lastmod = text
        elif name == "publication_date" and text:
            published = text
        elif name == "title" and text and "sitemap-news" in str(child.tag):
            title = text  # news:title, not image:title or video:title
        elif name == "language" and text and "sitemap-news" in str(child.tag):
            language = text
        elif name == "image" and image is None and "sitemap-image" in str(child.tag):
            image, caption = _image(child, base)
    if not loc:
        return None
    published_at = parse_iso_datetime(published or lastmod)
    updated_at = parse_iso_datetime(lastmod or published)
    return SitemapEntry(
        urljoin(base, loc), published_at, title, language, image, caption, updated_at
    )


def _image(element: etree._Element, base: str) -> tuple[str | None, str | None]:
    """(absolute URL, caption) of an ``image:image``; (None, None) without a usable loc."""
    loc = caption = None
    for child in element:
        name, text = _local(child.tag), (child.text or "").strip()
        if name == "loc" and text and loc is None:
            loc = text
        elif name == "caption" and text and caption is None:
            caption = " ".join(text.split())
    url = absolute_image_url(base, loc) if loc else None
    return (url, caption) if url else (None, None)


def _local(tag: object) -> str:
    return tag.partition("}")[2] or tag if isinstance(tag, str) else ""
