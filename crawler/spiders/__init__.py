"""Spiders: ``feeds`` crawls a source (feeds, sitemaps, listings); ``page`` fetches one page."""

from __future__ import annotations

from scrapy.http import Response


def content_type(response: Response) -> str | None:
    """The response's Content-Type header as text, or None."""
    return (response.headers.get("Content-Type") or b"").decode("latin-1") or None
