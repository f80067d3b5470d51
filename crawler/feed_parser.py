"""Feed bytes -> entries, with feedparser. Scrapy downloads; feedparser never fetches.

feedparser's ``bozo`` flag is only a warning: its loose parser still yields the entries of
most malformed feeds (and of feeds served as text/html). A feed is broken when it yields no
entries and feedparser did not recognise an RSS or Atom document in it.
"""

from __future__ import annotations

import calendar
import io
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from crawler.extracted import LeadImage
from crawler.media_rss import image_notes

_IMAGE_FILE = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)(?:$|[?#])", re.I)


@dataclass(frozen=True)
class FeedEntry:
    """What a feed says about one article; the page fills in the rest."""

    link: str
    guid: str | None = None
    title: str | None = None
    published_at: datetime | None = None
    author: str | None = None
    content_html: str | None = None
    # As the feed declares it: the entry's xml:lang (Atom), else the feed's <language>.
    language: str | None = None
    image: str | None = None  # an image enclosure, media:content or media:thumbnail
    image_caption: str | None = None  # what the feed or sitemap says the image shows
    image_credit: str | None = None  # Media RSS media:credit of the image

    @property
    def lead_image(self) -> LeadImage | None:
        """The entry's image, with what the entry says of it (a page's figure says more)."""
        if not self.image:
            return None
        return LeadImage(self.image, self.image_caption, self.image_credit)

    # The latest time the feed gives the entry (atom:updated, else its publication date): when
    # it moves after the article was stored, the page is fetched again (a correction).
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ParsedFeed:
    entries: list[FeedEntry]
    title: str | None = None
    error: str | None = None  # set when the document is not a usable feed
    ttl_seconds: int | None = None  # RSS <ttl>: how long the feed may be cached


def parse_feed(body: bytes, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse a downloaded feed. Relative links resolve against ``url``.

    ``io.BytesIO`` matters: given bytes or str, feedparser may treat the value as a path or
    URL and open it. feedparser is imported here: the crawler process itself never parses a
    feed (its workers do), and should not pay for the import.
    """
    import feedparser

    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    feed = parsed.feed if isinstance(parsed.feed, dict) else {}
    language = _text(feed.get("language"))
    entries = [e for raw in parsed.entries if (e := _entry(raw, url, language)) is not None]
    entries = _with_image_notes(entries, body, url)
    title = feed.get("title")
    if entries or parsed.entries or parsed.get("version"):
        # A recognised RSS/Atom document with no items is an empty feed, not a broken one.
        return ParsedFeed(entries, title, ttl_seconds=_ttl(parsed.feed))
    reason = parsed.get("bozo_exception") or "no RSS or Atom document found"
    return ParsedFeed([], title, error=f"not a feed: {_describe(reason)}")


def _entry(raw: Any, feed_url: str, feed_language: str | None = None) -> FeedEntry | None:
    link = raw.get("link") or _alternate_link(raw)
    if not link:
        guid = raw.get("id")
        # RSS 2.0: a guid that is a permalink is the article's address.
        if guid and str(guid).startswith(("http://", "https://")):
            link = guid
    if not link:
        return None
    return FeedEntry(
        link=urljoin(feed_url, str(link).strip()),
        guid=_text(raw.get("id")),
        title=_text(raw.get("title")),
        published_at=_timestamp(raw.get("published_parsed") or raw.get("updated_parsed")),
        author=_text(raw.get("author")),
        content_html=_content(raw),
        language=_text((raw.get("title_detail") or {}).get("language")) or feed_language,
        image=_image(raw, feed_url),
        updated_at=_updated(raw),
    )


def _updated(raw: Any) -> datetime | None:
    """The later of the entry's updated and published times (feedparser gives ``updated``
    the publication date when the entry has no ``<updated>``)."""
    times = [_timestamp(raw.get(key)) for key in ("updated_parsed", "published_parsed")]
    return max((t for t in times if t is not None), default=None)


def _ttl(feed: Any) -> int | None:
    value = str(feed.get("ttl", "")).strip() if isinstance(feed, dict) else ""
    return int(value) * 60 if value.isdigit() else None


def _alternate_link(raw: Any) -> str | None:
    for link in raw.get("links", []):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return str(link["href"])
    return None


def _image(raw: Any, feed_url: str) -> str | None:
    """The entry's picture, as an absolute http(s) URL: an enclosure of an image type (RSS
    ``<enclosure>``, Atom ``rel="enclosure"``), else Media RSS ``media:content`` that is an
    image, else ``media:thumbnail``. An enclosure or media:content without a type counts
    when its file name says image."""
    enclosures = [(e.get("href"), e.get("type"), None) for e in raw.get("enclosures", [])]
    media = [(m.get("url"), m.get("type"), m.get("medium")) for m in raw.get("media_content", [])]
    candidates = enclosures + media
    for href, media_type, medium in candidates:
        typed = (media_type or "").lower().startswith("image/") or medium == "image"
        untyped = not media_type and not medium and _IMAGE_FILE.search(str(href or ""))
        if href and (typed or untyped) and (url := _http_url(feed_url, str(href))):
            return url
    for thumbnail in raw.get("media_thumbnail", []):
        if thumbnail.get("url") and (url := _http_url(feed_url, str(thumbnail["url"]))):
            return url
    return None


def _http_url(base: str, value: str) -> str | None:
    try:
        url = urljoin(base, value.strip())
    except ValueError:
        return None
    return url if urlsplit(url).scheme in ("http", "https") else None


def _content(raw: Any) -> str | None:
    for content in raw.get("content", []):
        if content.get("value"):
            return str(content["value"])
    summary = raw.get("summary")
    return str(summary) if summary else None


def _timestamp(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _describe(reason: object) -> str:
    text = str(reason).strip().splitlines()[0] if str(reason).strip() else ""
    return f"{type(reason).__name__}: {text}" if isinstance(reason, Exception) else str(reason)


def _with_image_notes(entries: list[FeedEntry], body: bytes, url: str) -> list[FeedEntry]:
    """Each entry with the caption and credit the feed gives for its image (Media RSS, read
    by ``crawler.media_rss``: feedparser loses which picture they belong to)."""
    notes = image_notes(body, url)
    return [
        replace(e, image_caption=n.caption, image_credit=n.credit)
        if e.image and (n := notes.get(e.image))
        else e
        for e in entries
    ]
