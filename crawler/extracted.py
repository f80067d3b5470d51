"""What extraction hands back, and ISO dates: light enough for the crawler process.

The crawler process reads :class:`Extracted` results that workers send back, and parses
sitemap dates; neither should make it import the extraction stack (trafilatura, lxml).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Extracted:
    title: str | None
    text: str
    html: str
    published_at: datetime | None
    author: str | None
    language: str | None
    canonical_url: str | None


def parse_iso_datetime(value: str | None) -> datetime | None:
    """An ISO 8601 / W3C datetime (``2026-11-20``, ``...T10:30:00+03:30``, ``...Z``), in a
    zone (UTC when it names none)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
