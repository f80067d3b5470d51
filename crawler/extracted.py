"""What the page pipeline hands back to the crawler process: plain records, light to import.

The crawler process reads these from the extraction workers; importing them must not import
the extraction stack (trafilatura, lxml, numpy).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crawler.fingerprints import TextKeys
    from crawler.language import LanguageSource


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
