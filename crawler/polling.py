"""Polling a feed politely: its HTTP validators, and the earliest time it wants to be polled again.

A feed answers a conditional GET (``If-None-Match`` / ``If-Modified-Since``) with 304 when
nothing changed; it may also say how long to leave it alone (RSS ``<ttl>``, ``Cache-Control:
max-age``, ``Retry-After`` on a 429 or 503). The crawl honours that within limits: no feed can
push its next poll more than :data:`MAX_POLL_DELAY` away.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from scrapy.http import Response

from crawler.middlewares import retry_after_seconds
from storage.records import FeedState

# A feed cannot push its next poll further away than this, whatever it says.
MAX_POLL_DELAY = timedelta(hours=24)
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*(\d+)", re.I)


def conditional_headers(state: FeedState) -> dict[str, str]:
    """The request headers that let the server answer 304 when the feed has not changed."""
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def validators(response: Response) -> FeedState:
    """The response's ETag and Last-Modified, to send back on the next poll."""

    def header(name: str) -> str | None:
        value = response.headers.get(name)
        return value.decode("latin-1").strip() or None if value else None

    return FeedState(header("ETag"), header("Last-Modified"))


def next_poll_bound(
    response: Response | None, ttl_seconds: int | None, now: datetime | None = None
) -> datetime | None:
    """The earliest time the server wants to be polled again, if it said (TTL, max-age,
    Retry-After); capped so that a feed cannot silence itself for more than a day."""
    if response is None:
        return None
    seconds = [float(ttl_seconds)] if ttl_seconds else []
    cache_control = (response.headers.get("Cache-Control") or b"").decode("latin-1")
    if match := _MAX_AGE.search(cache_control):
        seconds.append(float(match.group(1)))
    if response.status in (429, 503):
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is not None:
            seconds.append(retry_after)
    if not seconds or max(seconds) <= 0:
        return None
    delay = min(timedelta(seconds=max(seconds)), MAX_POLL_DELAY)
    return (now or datetime.now(UTC)) + delay
