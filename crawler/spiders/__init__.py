"""Spiders: ``source`` crawls a source (feeds, sitemaps, listings); ``page`` fetches one page."""

from __future__ import annotations

from scrapy.http import Response


def content_type(response: Response) -> str | None:
    """The response's Content-Type header as text, or None."""
    return (response.headers.get("Content-Type") or b"").decode("latin-1") or None


def is_html(media_type: str) -> bool:
    """Whether a page of this Content-Type can hold an article (HTML, XHTML, plain text)."""
    media = media_type.split(";", 1)[0].strip().lower()
    return media in ("text/html", "application/xhtml+xml", "text/plain", "") or media.endswith(
        "+xml"
    )
