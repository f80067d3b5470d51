"""What the page pipeline hands back to the crawler process: plain records, light to import.

The crawler process reads these from the extraction workers; importing them must not import
the extraction stack (trafilatura, lxml, numpy).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from crawler.fingerprints import TextKeys
    from crawler.language import LanguageSource


@dataclass(frozen=True)
class LeadImage:
    """An article's lead image: an absolute http(s) URL, and the page's caption and credit."""

    url: str
    caption: str | None = None
    credit: str | None = None


class ImageFields(TypedDict):
    """A lead image as an article record's fields."""

    image: str | None
    image_caption: str | None
    image_credit: str | None


def image_fields(image: LeadImage | None) -> ImageFields:
    if image is None:
        return ImageFields(image=None, image_caption=None, image_credit=None)
    return ImageFields(image=image.url, image_caption=image.caption, image_credit=image.credit)


@dataclass(frozen=True)
class Extracted:
    """What extraction found on one page."""

    title: str | None
    text: str
    html: str
    published_at: datetime | None
    author: str | None
    language: str | None
    canonical_url: str | None
    image: LeadImage | None = None  # the feed's image (with the page's caption), else the page's


@dataclass(frozen=True)
class Page:
    """An article page after extraction and the source's rewrites, with its dedup keys."""

    extracted: Extracted
    text: str
    html: str
    keys: TextKeys | None  # None when the page has no text
    title: str | None = None  # the page's, else the feed entry's; rewritten
    filtered: str | None = None  # the editorial rule that drops the article, if any
    # The fingerprints of its paragraphs before the source's template dropped any (to learn
    # the template from; empty when the source learns none), and how many it dropped.
    paragraphs: tuple[int, ...] = ()
    template_dropped: int = 0
    # The final language (declared, or detected from the text: crawler.language) and which.
    language: str | None = None
    language_source: LanguageSource | None = None
