"""Downloader middlewares."""

from __future__ import annotations

import asyncio
import ipaddress
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Self

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.settings import BaseSettings
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.response import response_status_message


class PrivateAddressRefused(IgnoreRequest):
    """The request's host is (or resolves to) a non-public address."""


class NetworkGuardMiddleware:
    """Refuse requests to loopback, private, link-local and other non-global addresses.

    A feed is untrusted input: without this, an entry linking to http://127.0.0.1:8080/ or
    http://169.254.169.254/ would make the crawler probe the host's own network. The host
    name is resolved through Scrapy's caching resolver, the same one the download then uses.
    ``[fetch] allow_private_networks = true`` turns the check off (tests, intranet setups).
    """

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler.settings.getbool("NEWSRELAY_ALLOW_PRIVATE_NETWORKS"))

    async def process_request(self, request: Request) -> None:
        if self.allow_private:
            return
        host = urlparse_cached(request).hostname
        if not host:
            raise IgnoreRequest(f"no host in {request.url}")
        address = await _resolve(host)
        if not address.is_global:
            raise PrivateAddressRefused(
                f"refused {host}: it resolves to non-public address {address} "
                "(set [fetch] allow_private_networks = true to allow)"
            )


async def _resolve(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    from twisted.internet import reactor

    resolved = await maybe_deferred_to_future(reactor.resolve(host))  # type: ignore[arg-type]
    return ipaddress.ip_address(resolved)


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, spaced out: exponential backoff with full jitter, and a server's
    ``Retry-After`` (429, 503) honoured when it is short enough to wait for within a crawl.

    A longer Retry-After is not waited for: the response goes to the spider, which records it
    as the earliest time to poll that feed again.
    """

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.base = settings.getfloat("NEWSRELAY_RETRY_BACKOFF_BASE", 1.0)
        self.max_wait = settings.getfloat("NEWSRELAY_RETRY_MAX_WAIT", 60.0)

    async def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        delay = self._backoff(request)
        if response.status in (429, 503):
            asked = retry_after_seconds(response.headers.get("Retry-After"))
            if asked is not None:
                if asked > self.max_wait:
                    return response
                delay = max(delay, asked)
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        await asyncio.sleep(delay)
        return retry

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        if not isinstance(exception, self.exceptions_to_retry) or request.meta.get("dont_retry"):
            return None
        retry = self._retry(request, exception)
        if retry is not None:
            await asyncio.sleep(self._backoff(request))
        return retry

    def _backoff(self, request: Request) -> float:
        attempt = request.meta.get("retry_times", 0)
        return random.uniform(0, min(self.max_wait, self.base * 2**attempt))


def retry_after_seconds(value: bytes | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
